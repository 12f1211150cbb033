"""The weight products at several workgroup sizes (their WG Const) and, for Q8_0, rows per
workgroup (ROWS), to pick the defaults per GPU. Prints JSON: GB/s per kernel and setting.

    python -m benchmarks.workgroup_sizes [--quick]"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from host.native import default_device
from kernels.launching import grid_for

from .kernels import cases, timed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run on a CPU adapter)")
    args = parser.parse_args(argv)
    rows = []
    for name, kern, grid, kargs, nbytes, shape in cases(np.random.default_rng(0), args.quick):
        if not any(p.name == "WG" and p.role == "const" for p in kern.params):
            continue
        has_rows = any(p.name == "ROWS" for p in kern.params)
        for wg in (32, 64, 128):
            for per in ((1, 2, 4) if has_rows else (None,)):
                settings = {"WG": wg} if per is None else {"WG": wg, "ROWS": per}
                rows_total = kargs["shape"][0] if per else None
                g = grid_for(-(-rows_total // per)) if per else grid
                r = timed(name, kern.specialize(**settings), g, kargs, nbytes, shape, 0.05 if args.quick else 0.3)
                rows.append({**r, **settings})
    print(json.dumps({"adapter": default_device().adapter_name, "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
