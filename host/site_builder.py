"""`pywgsl build`: the static site. It copies site/ (pages and ES modules), writes
kernels/manifest.json (every kernel variant: WGSL for Tint and naga, bindings, uniform layouts,
workgroup size, features, content hashes), one parity vector per kernel (inputs and
numpy-expected outputs, binary), the demo model, and programs/ (host/program.py's JSON of each model
the site can decode, and their index). Building twice gives the same bytes."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
from typeguard import typechecked

from dsl.layout import pack_array, storage_element
from dsl.types import ArrayType, StructType, Vector, numpy_dtype, stride_of

from .demo_model import DEMO_PROMPT, DEMO_PROMPT_RAW, write_demo_model

SITE_SOURCES = Path(__file__).resolve().parent.parent / "site"
DTYPE_NAMES = {"float32": "f32", "uint32": "u32", "int32": "i32", "float16": "f16", "int8": "i8"}
DTYPE_WIDTHS = {"f16": 2, "i8": 1}  # bytes; the others 4


def _struct_values(t: StructType, value) -> dict:
    names = [n for n, _ in t.fields]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return {n: _jsonable(v) for n, v in zip(names, value)}


def _jsonable(v):
    if isinstance(v, (tuple, list, np.ndarray)):
        return [_jsonable(x) for x in v]
    return v.item() if isinstance(v, np.generic) else v


def parity_vector(entry, blob: bytearray) -> dict:
    """The entry's example as the browser runs it: storage bytes, uniform values, expected outputs."""
    kernel = entry.kernel
    args, grid = entry.example(np.random.default_rng(0))
    spec: dict = {"kernel": entry.name, "tolerance": entry.tolerance, "grid": list(grid) + [1] * (3 - len(grid)),
                  "storage": {}, "uniforms": {}, "expected": {}}
    scalars = {}
    for p in kernel.params:
        if p.role == "storage":
            data, _ = pack_array(kernel.name, p.name, p.type, args[p.name])
            spec["storage"][p.name] = {"offset": len(blob), "bytes": len(data)}
            blob += data
        elif p.role == "uniform":
            spec["uniforms"][p.name] = _struct_values(p.type, args[p.name])
        elif p.role == "scalar":
            scalars[p.name] = _jsonable(args[p.name])
    if scalars:
        spec["uniforms"][kernel.scalars_binding] = scalars
    want = entry.reference(**args)
    for p in kernel.params:
        if p.name not in want:
            continue
        t: ArrayType = p.type
        elem = storage_element(t)
        base = numpy_dtype(elem).base if isinstance(elem, Vector) else numpy_dtype(elem)
        dtype = DTYPE_NAMES[np.dtype(entry.decode[p.name]).name if entry.decode and p.name in entry.decode else base.name]
        width = DTYPE_WIDTHS.get(dtype, 4)
        components = (elem.n if isinstance(elem, Vector) else 1) * base.itemsize // width
        stride = stride_of(elem) // width
        values = np.asarray(want[p.name], np.float64).reshape(-1)
        spec["expected"][p.name] = {"offset": len(blob), "count": len(values), "dtype": dtype,
                                    "components": components, "stride": stride}
        blob += values.tobytes()
    return spec


@typechecked
def build_site(out: str | Path = "dist", models: list[str] | tuple = ()) -> Path:
    """The site in `out`: pages, ES modules, the kernel manifest and parity vectors, the demo model,
    and a program for it and for each of `models` (GGUF paths or URLs; the page finds its program
    among them by the file's config)."""
    from kernels import library  # noqa: PLC0415
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(SITE_SOURCES, out)
    vectors = out / "kernels" / "vectors"
    vectors.mkdir(parents=True)
    manifest = {"kernels": []}
    for name, entry in sorted(library().items()):
        blob = bytearray()
        spec = parity_vector(entry, blob)
        spec["data"] = f"{name}.bin"
        (vectors / f"{name}.bin").write_bytes(bytes(blob))
        (vectors / f"{name}.json").write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")
        manifest["kernels"].append({"name": name, "parity": f"vectors/{name}.json",
                                    "variants": [v.manifest() for v in entry.kernel.variants]})
    (out / "kernels" / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    demo = write_demo_model(out / "models" / "demo.gguf")
    write_programs(out / "programs", [str(demo), *models])
    return out


def program_name(src: str) -> str:
    """A file name for a model's program: the GGUF's name without .gguf, made safe."""
    stem = src.rstrip("/").rsplit("/", 1)[-1].removesuffix(".gguf")
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "model"


def write_programs(folder: Path, models: list[str]) -> None:
    """programs/NAME.json for each model (a path or a URL: only its header is read), built for the
    limits every WebGPU device has, and programs/index.json, which the page reads to find the
    program of the GGUF it opens (by the config and tensor table each entry records)."""
    from .byte_source import open_source  # noqa: PLC0415
    from .gguf import read_gguf  # noqa: PLC0415
    from .gpt_oss import Weights, decode_program, default_limits  # noqa: PLC0415
    from .model_config import gpt_oss_config  # noqa: PLC0415
    folder.mkdir(parents=True)
    index = []
    for src in models:
        with open_source(src) as source:
            g = read_gguf(source)
        program = decode_program(gpt_oss_config(g.metadata, src), Weights.of(g), default_limits())
        name = program_name(src)
        while any(e["program"] == f"{name}.json" for e in index):
            name += "_"
        (folder / f"{name}.json").write_text(program.dumps())
        index.append({"program": f"{name}.json", "config": program.config, "tensors": program.tensors,
                      "context": program.io["n_ctx"]})
    default = {"prompt": DEMO_PROMPT, "raw": DEMO_PROMPT_RAW}  # what /gptoss opens with, ready to start
    (folder / "index.json").write_text(json.dumps({"default": default, "programs": index}, indent=1, sort_keys=True) + "\n")
