"""What the DSL asks of an executor, and how it finds one without importing it.

The compiler itself needs no GPU library, so dsl/ imports no executor. `Kernel.launch` (numpy in,
numpy out) and the kernel library's numpy helpers need one, with its adapter's features and limits:
the installed package declares it as an entry point of the group "pywgsl.executors"
(pyproject.toml: native = "host.native:default_executor"), loaded the first time it is asked for.
An executor module that is imported offers itself with `provide` (so the package also runs from a
source tree that is not installed), and a program can inject another with `use_executor`."""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Callable, Protocol

ENTRY_POINT_GROUP = "pywgsl.executors"


class Executor(Protocol):
    """An adapter's device that can run one kernel on numpy arguments."""

    features: frozenset[str]  # WebGPU feature names: "shader-f16", "subgroups"
    limits: dict[str, int]  # WebGPU limit names, e.g. "max-storage-buffer-binding-size"

    def launch(self, kernel: Any, grid: tuple, args: dict) -> dict:
        """Run `kernel` (its best variant for these features) once; every RW array back as numpy."""


_current: Executor | None = None
_provided: Callable[[], Executor] | None = None


def use_executor(executor: Executor | None) -> None:
    """Make `executor` the one launches go to (None: the installed default again)."""
    global _current
    _current = executor


def provide(factory: Callable[[], Executor]) -> None:
    """Offer an executor, made on first use, for when none is injected (host.native calls this)."""
    global _provided
    _provided = factory


def current_executor() -> Executor:
    """The injected executor, else the one an imported module provides, else the installed one."""
    global _current
    if _current is None and _provided is not None:
        _current = _provided()
    if _current is None:
        found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        if not found:
            raise RuntimeError(f"no pywgsl executor is installed (entry point group {ENTRY_POINT_GROUP!r}); "
                               "install the package (pip install -e .), whose host.native provides one")
        _current = found[0].load()()
    return _current
