"""`gpu`: the namespace kernels call builtins through (gpu.exp, gpu.global_id, ...). Each attribute
wraps one registry entry; called outside a kernel it applies the entry's numpy meaning."""
from __future__ import annotations

import builtins as py_builtins

from .builtins import BUILTINS, Builtin


class GpuFunction:
    def __init__(self, builtin: Builtin):
        self.builtin = builtin
        self.__name__ = builtin.name
        self.__doc__ = builtin.doc

    def __call__(self, *args):
        if self.builtin.numpy is None:
            raise RuntimeError(f"gpu.{self.builtin.name} only has a meaning inside a kernel")
        return self.builtin.numpy(*args)

    def __repr__(self) -> str:
        return f"gpu.{self.builtin.name}"


class _Gpu:
    """Builtins callable from kernels as gpu.<name>."""

    def __dir__(self):
        return sorted(self.__dict__)


gpu = _Gpu()
for _b in BUILTINS.values():
    if _b.name != "len":  # min, max and abs are both gpu.<name> and Python's own
        setattr(gpu, _b.name, GpuFunction(_b))

# Python's own min, max, abs and len mean the registry entries of the same name inside kernels.
PYTHON_BUILTINS = {id(getattr(py_builtins, b.name)): b for b in BUILTINS.values() if b.category == "python"}


def builtin_of(obj) -> Builtin | None:
    if isinstance(obj, GpuFunction):
        return obj.builtin
    return PYTHON_BUILTINS.get(id(obj))
