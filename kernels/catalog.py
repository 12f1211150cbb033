"""The kernel library's table of contents: importing it imports (so registers) every kernel module."""
from . import (activations, attention, dense_experts, elementwise, embed, matvec, moe, mxfp4,  # noqa: F401
               norm, packed, q8_0, reductions, rope, sampling)
from .registry import LIBRARY

__all__ = ["LIBRARY"]
