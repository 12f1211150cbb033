"""The `pywgsl` command line."""
from __future__ import annotations

import argparse
import sys


def cmd_adapter(args) -> int:
    from .native import LaunchError, default_device  # noqa: PLC0415
    try:
        dev = default_device()
    except (LaunchError, Exception) as exc:  # no driver at all surfaces as wgpu's own error
        print(f"no WebGPU adapter: {exc}", file=sys.stderr)
        return 1
    print(f"adapter: {dev.adapter_name}")
    print(f"features: {', '.join(sorted(dev.features)) or 'none'}")
    print(f"max-storage-buffer-binding-size: {dev.limits['max-storage-buffer-binding-size']}")
    return 0


def cmd_kernels(args) -> int:
    from kernels import library  # noqa: PLC0415
    entries = library()
    if not args.check:
        rows = [(e.name, "x".join(map(str, e.kernel.workgroup_size)), ",".join(sorted(e.kernel.features)) or "-",
                 str(len(e.kernel.bindings))) for e in entries.values()]
        _table(("kernel", "workgroup", "features", "bindings"), rows)
        return 0
    from .native import default_device  # noqa: PLC0415
    dev = default_device()
    rows, failed = [], 0
    for e in entries.values():
        missing = e.kernel.features - dev.features
        if missing:
            rows.append((e.name, dev.adapter_name, "-", f"SKIP (needs {', '.join(sorted(missing))})"))
            continue
        diff, ok = e.check()
        failed += not ok
        rows.append((e.name, dev.adapter_name, f"{diff:.3g}", "PASS" if ok else "FAIL"))
    _table(("kernel", "adapter", "max abs diff", "pass"), rows)
    passed = sum(r[3] == "PASS" for r in rows)
    print(f"{passed} of {len(rows)} kernels match their numpy reference")
    return 1 if failed else 0


def _table(header, rows) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pywgsl", description="GPU kernels written in Python, compiled to WGSL.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("kernels", help="list the kernel library; --check runs each against its numpy reference",
                       description="List the kernel library; with --check, run every kernel on the default "
                                   "adapter against its numpy reference and print a table.")
    p.add_argument("--check", action="store_true", help="run every kernel and compare with numpy (exit 1 on a mismatch)")
    p.set_defaults(run=cmd_kernels)
    p = sub.add_parser("adapter", help="show the default WebGPU adapter, its features and binding limit",
                       description="Show the default WebGPU adapter wgpu-py finds; exit 1 if there is none.")
    p.set_defaults(run=cmd_adapter)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
