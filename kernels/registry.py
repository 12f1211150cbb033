"""The kernel library's index: each kernel beside its numpy reference and an example input, so
`pywgsl kernels --check` and the tests can run every kernel against its reference. Kernel modules
register themselves here; kernels/catalog.py lists the modules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from dsl import Kernel


@dataclass(frozen=True)
class Entry:
    name: str
    kernel: Kernel
    reference: Callable[..., dict]  # numpy: the launch arguments -> the expected RW arrays
    example: Callable[[np.random.Generator], tuple[dict, tuple]]  # -> (launch arguments, grid)
    tolerance: float
    decode: dict[str, str] | None = None  # outputs whose words hold other values: name -> numpy dtype (e.g. float16)

    def check(self, seed: int = 0, variant: Kernel | None = None) -> tuple[float, bool]:
        """Run the kernel (or one of its variants) on the default adapter and compare with the
        reference: (max abs diff, pass)."""
        args, grid = self.example(np.random.default_rng(seed))
        got = (variant or self.kernel).launch(grid, **args)
        got = {k: v.view(np.dtype(self.decode[k])) if self.decode and k in self.decode else v for k, v in got.items()}
        want = self.reference(**args)
        diff = max(float(np.max(np.abs(got[k].astype(np.float64) - np.asarray(v, np.float64)), initial=0.0))
                   for k, v in want.items())
        return diff, diff <= self.tolerance


LIBRARY: dict[str, Entry] = {}


def register(name: str, kernel: Kernel, reference, example, tolerance: float, decode=None) -> None:
    if name in LIBRARY:
        raise ValueError(f"kernel {name!r} is registered twice")
    LIBRARY[name] = Entry(name, kernel, reference, example, tolerance, decode)
