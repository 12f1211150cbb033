"""The weight products at several workgroup sizes (their WG Const), to pick the default per GPU.
Prints JSON: GB/s per kernel and workgroup size.

    python -m benchmarks.workgroup_sizes [--quick]"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from host.native import default_device

from .kernels import cases, timed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run on a CPU adapter)")
    args = parser.parse_args(argv)
    rows = []
    for name, kern, grid, kargs, nbytes, shape in cases(np.random.default_rng(0), args.quick):
        if not any(p.name == "WG" and p.role == "const" for p in kern.params):
            continue
        for wg in (32, 64, 128, 256):
            r = timed(name, kern.specialize(WG=wg), grid, kargs, nbytes, shape, 0.05 if args.quick else 0.3)
            rows.append({**r, "workgroup_size": wg})
    print(json.dumps({"adapter": default_device().adapter_name, "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
