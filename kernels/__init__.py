"""The kernel library, written in the DSL; every kernel sits beside its numpy reference."""
from .registry import Entry


def library() -> dict[str, Entry]:
    """Every kernel of the library. The modules compile their kernels when imported, so the whole
    library is imported on first use here, not by `import kernels`."""
    from .catalog import LIBRARY  # noqa: PLC0415
    return LIBRARY


__all__ = ["Entry", "library"]
