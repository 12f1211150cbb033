"""The kernel library, written in the DSL; every kernel sits beside its numpy reference."""
from .registry import Entry, library

__all__ = ["Entry", "library"]
