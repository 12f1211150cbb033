"""The weight products at several workgroup sizes and rows a workgroup (their WG and ROWS Consts),
to pick the defaults per GPU. Prints JSON: GB/s per kernel, workgroup size and rows.

    python -m benchmarks.workgroup_sizes [--quick] [--match TEXT]"""
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
    parser.add_argument("--match", default="", help="only the cases whose name contains this")
    args = parser.parse_args(argv)
    results = []
    for case in cases(np.random.default_rng(0), args.quick):
        consts = {p.name for p in case.kernel.params if p.role == "const"}
        if "WG" not in consts or args.match not in case.name:
            continue
        for wg in (32, 64, 128, 256):
            for rows in ((1, 2, 4) if "ROWS" in consts else (None,)):
                if rows == 1 and case.kernel.constants.get("SWIGLU") == 1:
                    continue  # SwiGLU pairs rows (gate r, up r)
                values = {"WG": wg} if rows is None else {"WG": wg, "ROWS": rows}
                r = timed(case, case.kernel.specialize(**values))
                results.append({**r, "workgroup_size": wg, "rows": rows})
    print(json.dumps({"adapter": default_device().adapter_name, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
