"""The `pywgsl` command line. Every command's errors about its input print one line and exit 2."""
from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
from pathlib import Path

from .arguments import non_negative, port, positive
from .byte_source import SourceError, open_source
from .gguf import GGUFError, read_gguf
from .model_config import ConfigError
from .model_commands import add_model_commands
from .text_commands import add_text_commands

USER_ERRORS = (GGUFError, SourceError, ConfigError, ValueError)  # ServerError is a ValueError


def cmd_adapter(args) -> int:
    from .native import LaunchError, default_device  # noqa: PLC0415
    try:
        dev = default_device()
    except (LaunchError, Exception) as exc:  # no driver at all surfaces as wgpu's own error
        print(f"no WebGPU adapter: {exc}", file=sys.stderr)
        return 1
    print(f"adapter: {dev.adapter_name}")
    print(f"backend: {dev.backend}")
    print(f"features: {', '.join(sorted(dev.features)) or 'none'}")
    print(f"max-storage-buffer-binding-size: {dev.limits['max-storage-buffer-binding-size']}")
    return 0


def cmd_kernels(args) -> int:
    from kernels import library  # noqa: PLC0415
    entries = library()
    if args.show:
        return show_kernel(entries, args.show)
    if not args.check:
        rows = [(_label(e, v), "x".join(map(str, v.workgroup_size)), ",".join(sorted(v.features)) or "-",
                 str(len(v.bindings))) for e in entries.values() for v in e.kernel.variants]
        _table(("kernel", "workgroup", "features", "bindings"), rows)
        return 0
    from .native import default_device  # noqa: PLC0415
    dev = default_device()
    rows, failed = [], 0
    for e in entries.values():
        for v in e.kernel.variants:  # every variant the adapter can run
            missing = v.features - dev.features
            if missing:
                rows.append((_label(e, v), dev.adapter_name, "-", f"SKIP (needs {', '.join(sorted(missing))})"))
                continue
            diff, ok = e.check(variant=v)
            failed += not ok
            rows.append((_label(e, v), dev.adapter_name, f"{diff:.3g}", "PASS" if ok else "FAIL"))
    _table(("kernel", "adapter", "max abs diff", "pass"), rows)
    passed = sum(r[3] == "PASS" for r in rows)
    print(f"{passed} of {len(rows)} kernels match their numpy reference")
    return 1 if failed else 0


def show_kernel(entries, name: str) -> int:
    """A kernel's Python beside the WGSL it became (the variant without optional features)."""
    entry = entries.get(name)
    if entry is None:
        raise ValueError(f"no kernel {name!r} in the library (pywgsl kernels lists them)")
    kernel = entry.kernel.variants[0]
    print(f"# {name}: Python (kernels/{_module_file(entry)})")
    print(kernel.python_source)
    print(f"// {name}: the WGSL it compiles to (variant {kernel.variant_name}, workgroup size "
          f"{'x'.join(map(str, kernel.workgroup_size))})")
    print(kernel.wgsl)
    return 0


def _module_file(entry) -> str:
    import inspect  # noqa: PLC0415
    return inspect.getsourcefile(entry.reference).rsplit("/", 1)[-1]


def _label(entry, variant) -> str:
    return entry.name if len(entry.kernel.variants) == 1 else f"{entry.name} ({variant.variant_name})"


def _metadata_summary(value):
    if isinstance(value, list) and len(value) > 16:
        return {"array_length": len(value), "first": _json_number(value[:8])}
    return _json_number(value)


def _json_number(value):
    """A metadata value with its non-finite floats, which JSON cannot write, as the strings "NaN",
    "Infinity" and "-Infinity"."""
    if isinstance(value, list):
        return [_json_number(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return value


def cmd_gguf_dump(args) -> int:
    g = read_gguf(args.src)
    tensors = g.tensors[: args.limit] if args.limit is not None else g.tensors
    if args.json:
        print(json.dumps({
            "source": g.source, "size": g.size, "version": g.version, "tensor_data_offset": g.tensor_data_offset,
            "tensor_count": len(g.tensors), "kv_count": len(g.metadata), "alignment": g.alignment,
            "metadata": {k: _metadata_summary(v) for k, v in g.metadata.items()},
            "tensors": [{"name": t.name, "type": t.type_name, "type_id": t.type_id, "dims": list(t.dims),
                         "offset": t.offset, "nbytes": t.nbytes} for t in tensors]}, indent=1, allow_nan=False))
        return 0
    print(f"version: {g.version}")
    print(f"tensor_data_offset: {g.tensor_data_offset}")
    print(f"tensor_count: {len(g.tensors)}")
    print(f"kv_count: {len(g.metadata)}")
    _table(("name", "type", "dims", "offset", "nbytes"),
           [(t.name, t.type_name, "x".join(map(str, t.dims)), str(t.offset), str(t.nbytes)) for t in tensors])
    return 0


def cmd_gguf_range(args) -> int:
    from .gates import range_digests  # noqa: PLC0415
    with open_source(args.src) as src:
        info = read_gguf(src).tensor(args.tensor)
        digests = range_digests(src, info, args.offset, args.len, args.repeat)
    for i, d in enumerate(digests):
        print(f"read {i}: sha256 {d}")
    consistent = len(set(digests)) == 1
    print(f"consistent: {'true' if consistent else 'false'}")
    return 0 if consistent else 1


def cmd_gate(args) -> int:
    from .gates import q8_0_gate  # noqa: PLC0415
    with open_source(args.src) as src:
        result = q8_0_gate(src, read_gguf(src), args.tensor, args.n, args.k, args.tolerance)
    print(f"adapter: {result.adapter}")
    print(f"tensor: {result.tensor}  slice: n={result.n} x k={result.k}  bytes read: {result.bytes_read}")
    print(f"max_abs_diff: {result.max_abs_diff:.6g}")
    print(f"mean_abs_diff: {result.mean_abs_diff:.6g}")
    print("PASS" if result.passed else f"FAIL (tolerance {result.tolerance})")
    return 0 if result.passed else 1


def cmd_demo_model(args) -> int:
    import hashlib  # noqa: PLC0415

    from .demo_model import write_demo_model, write_random_model  # noqa: PLC0415
    if args.seed is not None and not args.random:
        raise ValueError("--seed draws the random model's weights: it needs --random")
    try:
        path = write_random_model(args.out, seed=args.seed or 0) if args.random else write_demo_model(args.out)
    except OSError as exc:  # --out a folder, a path that cannot be made, a full disk
        raise ValueError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    data = path.read_bytes()
    print(f"wrote {path} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()})")
    return 0


def cmd_build(args) -> int:
    from .site_builder import build_site  # noqa: PLC0415
    out = build_site(args.out, args.model or [])
    files = [p for p in out.rglob("*") if p.is_file()]
    print(f"built {out}/ ({len(files)} files, {sum(p.stat().st_size for p in files)} bytes): index.html, "
          "gptoss/index.html, js/, kernels/manifest.json, kernels/vectors/, models/demo.gguf, programs/")
    return 0


def cmd_serve(args) -> int:
    from .demo_model import demo_model_path  # noqa: PLC0415
    from .server import model_table, serve  # noqa: PLC0415
    models = model_table(args.models or [str(demo_model_path())])
    from .server import ServerError  # noqa: PLC0415
    if args.site:
        site = Path(args.site)
        if not site.is_dir():
            raise ServerError(f"{site}: not a directory")
    else:
        site = Path("dist")
        if not (site / "index.html").is_file():
            from .site_builder import build_site  # noqa: PLC0415
            print(f"building the site into {site}/ first", flush=True)
            build_site(site)
    try:
        serve(models, site, args.host, args.port)
    except OSError as exc:  # the bind: a port in use, one below 1024 without the right, a host not of this machine
        where = f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}"
        reason = exc.strerror if isinstance(exc, socket.gaierror) or not exc.errno else os.strerror(exc.errno)
        raise ServerError(f"cannot listen on {where}: {reason[:1].lower()}{reason[1:]}") from None
    return 0


def _table(header, rows) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors: `error: pywgsl serve: argument --port: ...`, exit 2
    (argparse's own prints the usage first; `--help` still shows it)."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="pywgsl", description="GPU kernels written in Python, compiled to WGSL.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("kernels", help="list the kernel library; --check runs each against its numpy reference",
                       description="List the kernel library; with --check, run every kernel on the default "
                                   "adapter against its numpy reference and print a table.")
    p.add_argument("--check", action="store_true", help="run every kernel and compare with numpy (exit 1 on a mismatch)")
    p.add_argument("--show", metavar="NAME", help="print kernel NAME's Python source and the WGSL it compiles to")
    p.set_defaults(run=cmd_kernels)

    p = sub.add_parser("adapter", help="show the default WebGPU adapter, its features and binding limit",
                       description="Show the WebGPU adapter wgpu-py runs on (a Vulkan, Metal or D3D12 one before OpenGL, a "
                                   "GPU before a CPU) and its backend; exit 1 if there is none.")
    p.set_defaults(run=cmd_adapter)

    p = sub.add_parser("gguf", help="inspect a GGUF file or URL (dump, range)",
                       description="Inspect a GGUF file or http(s) URL, reading only the ranges needed.")
    gsub = p.add_subparsers(dest="gguf_command", required=True, metavar="SUBCOMMAND")
    d = gsub.add_parser("dump", help="print version, counts and the tensor table (gate A)",
                        description="Print the version, tensor_data_offset, tensor_count, kv_count and the "
                                    "tensor table of SRC (a path or a URL).")
    d.add_argument("src", metavar="SRC")
    d.add_argument("--limit", type=non_negative, metavar="N", help="show at most N tensors (N >= 0)")
    d.add_argument("--json", action="store_true",
                   help='print JSON (metadata included) instead of a table; JSON has no NaN or infinity, so '
                        'such float metadata is written as the strings "NaN", "Infinity" and "-Infinity"')
    d.set_defaults(run=cmd_gguf_dump)
    r = gsub.add_parser("range", help="read a tensor's byte range R times and compare sha256 (gate B)",
                        description="Range-read --len bytes of a tensor, at --offset inside it, --repeat times; "
                                    "print each read's sha256 and whether all agree (exit 1 if not).")
    r.add_argument("src", metavar="SRC")
    r.add_argument("--tensor", required=True, metavar="NAME")
    r.add_argument("--offset", type=int, default=0, metavar="O", help="byte offset inside the tensor (default 0)")
    r.add_argument("--len", type=positive, required=True, metavar="N", help="bytes to read")
    r.add_argument("--repeat", type=positive, default=2, metavar="R", help="how many reads (default 2)")
    r.set_defaults(run=cmd_gguf_range)

    p = sub.add_parser("gate", help="Q8_0 matvec of a range-read tensor slice on the GPU vs numpy (gates C, D)",
                       description="Range-read the Q8_0 slice for an N x K block of a tensor, run the DSL's "
                                   "Q8_0 dequant + matvec on the GPU and the numpy reference; exit 1 on FAIL.")
    p.add_argument("src", metavar="SRC")
    p.add_argument("--tensor", required=True, metavar="NAME")
    p.add_argument("--k", type=positive, required=True, help="values per row (a multiple of 32)")
    p.add_argument("--n", type=positive, required=True, help="rows")
    p.add_argument("--tolerance", type=float, default=1e-3, help="largest allowed |GPU - numpy| (default 1e-3)")
    p.set_defaults(run=cmd_gate)

    p = sub.add_parser("demo-model", help="write the embedded default: a small gpt-oss GGUF trained on Shakespeare",
                       description="Write the demo model: a small gpt-oss GGUF with every metadata key and tensor "
                                   "of the real one (Q8_0, MXFP4, F32). By default the shipped model trained on "
                                   "Shakespeare (host/models/demo.json says how); --random writes random weights "
                                   "drawn from a seed instead (the tests' model).")
    p.add_argument("--out", default="demo.gguf", metavar="PATH", help="where to write it (default demo.gguf)")
    p.add_argument("--random", action="store_true", help="random weights instead of the trained model")
    p.add_argument("--seed", type=non_negative, help="with --random: the seed of the weights (default 0)")
    p.set_defaults(run=cmd_demo_model)

    p = sub.add_parser("build", help="write the static site: pages, JS, kernel manifest, parity vectors, demo model",
                       description="Write the self-contained static site (default dist/), deployable to any "
                                   "static host that honours Range. Deterministic.")
    p.add_argument("--out", default="dist", metavar="DIR", help="output folder (default dist; replaced)")
    p.add_argument("--model", action="append", metavar="SRC",
                   help="also a program for this gpt-oss GGUF (path or URL; only its header is read), so /gptoss "
                        "can decode it; repeatable")
    p.set_defaults(run=cmd_build)

    p = sub.add_parser("serve", help="serve the site and GGUF models over HTTP with Range and CORS",
                       description="Serve model files under /models/NAME (the demo model when none is named) "
                                   "and the static site (dist/, built first when missing), with HTTP Range and CORS.")
    p.add_argument("models", nargs="*", metavar="MODEL.gguf")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port, default=8080, help="TCP port, 1 to 65535 (default 8080)")
    p.add_argument("--site", metavar="DIR", help="static site folder to serve at / (default: dist, built if missing)")
    p.set_defaults(run=cmd_serve)

    add_text_commands(sub)
    add_model_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
