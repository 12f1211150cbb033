"""A program: a model as data, which a generic executor runs (host/program_runner.py natively,
site/js/program.js in the browser), so the model is written once, in Python, and serialized to JSON.

- kernels: key -> the kernel's variants, each its manifest (dsl Kernel.manifest: WGSL for naga and
  Tint, bindings, uniform layouts, features); an executor runs the variant with the most features
  its device has (all variants of a kernel bind the same names).
- buffers: name -> bytes (zero-filled) and optional initial contents (small tables).
- tensors: the GGUF tensors the program reads, with the type and dims it was built for; an executor
  checks the file's table against them before reading a byte.
- load: what makes the weights resident, in order: uploads (a byte range of a tensor into a buffer
  at an offset; the executor streams it through a bounded window) and steps (GPU kernels that
  prepare weights: repack, concatenate).
- step: the token step, one compute pass: every dispatch with its bindings (buffer, offset, size),
  grid and uniform values. Nothing in it calls back into the host.
- select: how the step ends, by mode ("greedy": argmax; "sample": temperature, top-k, top-p): the
  dispatches that write the next token into the decode state, after the step's.
- probes: optional dispatches a host may put into the step after the one labelled "after", whose
  outputs it reads for display (the attention weights of one head), never on the token's path.
- io: the buffers the host touches per token (the decode state, the logits).

No binding name, uniform field or workgroup size is known to an executor but through this data."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

FORMAT = "pywgsl.program/1"


class ProgramError(ValueError):
    """A program that does not hold together (an unknown buffer, a binding past a buffer's end...)."""


@dataclass
class Bind:
    """A buffer, or bytes [offset, offset + size) of it, for one binding."""

    buffer: str
    offset: int = 0
    size: int | None = None  # None: to the buffer's end

    def to_json(self):
        return self.buffer if self.offset == 0 and self.size is None else \
            {"buffer": self.buffer, "offset": self.offset, "size": self.size}

    @staticmethod
    def from_json(value) -> Bind:
        return Bind(value) if isinstance(value, str) else Bind(value["buffer"], value["offset"], value["size"])


@dataclass
class Step:
    """One dispatch: a kernel of the program's table, its bindings, grid and uniform values
    (binding name -> {field: value}; the scalars binding holds the scalar parameters)."""

    kernel: str
    grid: tuple[int, int, int]
    bind: dict[str, Bind]
    uniforms: dict[str, dict[str, Any]] = field(default_factory=dict)
    label: str = ""

    def to_json(self) -> dict:
        return {"op": "run", "kernel": self.kernel, "grid": list(self.grid), "label": self.label,
                "bind": {k: v.to_json() for k, v in self.bind.items()}, "uniforms": self.uniforms}

    @staticmethod
    def from_json(d: dict) -> Step:
        return Step(d["kernel"], tuple(d["grid"]), {k: Bind.from_json(v) for k, v in d["bind"].items()},
                    d.get("uniforms", {}), d.get("label", ""))


@dataclass
class Upload:
    """Bytes [start, start + bytes) of a tensor's data into a buffer at `offset`."""

    buffer: str
    offset: int
    tensor: str
    start: int
    bytes: int

    def to_json(self) -> dict:
        return {"op": "upload", "buffer": self.buffer, "offset": self.offset, "tensor": self.tensor,
                "start": self.start, "bytes": self.bytes}

    @staticmethod
    def from_json(d: dict) -> Upload:
        return Upload(d["buffer"], d["offset"], d["tensor"], d["start"], d["bytes"])


@dataclass
class Buffer:
    bytes: int
    data: bytes | None = None  # initial contents (the rest zero)
    role: str = "activation"  # "weight", "staging", "cache", "activation", "io": for memory reports

    def to_json(self) -> dict:
        d: dict = {"bytes": self.bytes, "role": self.role}
        if self.data is not None:
            d["data"] = base64.b64encode(self.data).decode()
        return d

    @staticmethod
    def from_json(d: dict) -> Buffer:
        return Buffer(d["bytes"], base64.b64decode(d["data"]) if "data" in d else None, d.get("role", "activation"))


@dataclass
class Program:
    config: dict
    kernels: dict[str, list[dict]]
    buffers: dict[str, Buffer]
    tensors: dict[str, dict]  # name -> {"type": "Q8_0", "dims": [...]}
    load: list[Upload | Step]
    step: list[Step]
    select: dict[str, list[Step]]
    io: dict[str, Any]
    probes: dict[str, dict] = field(default_factory=dict)  # name -> {"after": label, "steps": [...], ...}

    # -- JSON -------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"format": FORMAT, "config": self.config, "kernels": self.kernels,
                "buffers": {k: v.to_json() for k, v in self.buffers.items()}, "tensors": self.tensors,
                "load": [op.to_json() for op in self.load], "step": [s.to_json() for s in self.step],
                "select": {mode: [s.to_json() for s in steps] for mode, steps in self.select.items()}, "io": self.io,
                "probes": {name: {**probe, "steps": [s.to_json() for s in probe["steps"]]}
                           for name, probe in self.probes.items()}}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True)

    @staticmethod
    def from_json(d: dict) -> Program:
        if d.get("format") != FORMAT:
            raise ProgramError(f"not a {FORMAT} program (format {d.get('format')!r})")
        load = [Upload.from_json(op) if op["op"] == "upload" else Step.from_json(op) for op in d["load"]]
        return Program(d["config"], d["kernels"], {k: Buffer.from_json(v) for k, v in d["buffers"].items()},
                       d["tensors"], load, [Step.from_json(s) for s in d["step"]],
                       {mode: [Step.from_json(s) for s in steps] for mode, steps in d["select"].items()}, d["io"],
                       {name: {**probe, "steps": [Step.from_json(s) for s in probe["steps"]]}
                        for name, probe in d.get("probes", {}).items()})

    @staticmethod
    def loads(text: str) -> Program:
        return Program.from_json(json.loads(text))

    # -- what it needs ------------------------------------------------------------------------------
    @property
    def largest_binding(self) -> int:
        sizes = [self.buffers[b.buffer].bytes - b.offset if b.size is None else b.size
                 for s in self.steps() for b in s.bind.values()]
        return max(sizes, default=0)

    def bytes_by_role(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in self.buffers.values():
            out[b.role] = out.get(b.role, 0) + b.bytes
        return out

    def steps(self):
        yield from (op for op in self.load if isinstance(op, Step))
        yield from self.step
        for steps in self.select.values():
            yield from steps
        for probe in self.probes.values():
            yield from probe["steps"]

    def validate(self) -> None:
        """Every name resolves and every binding lies inside its buffer; raises ProgramError."""
        for s in self.steps():
            variants = self.kernels.get(s.kernel)
            if not variants:
                raise ProgramError(f"step {s.label or s.kernel}: no kernel {s.kernel!r} in the program")
            spec = variants[0]
            names = {b["name"] for b in spec["bindings"]}
            storage = {b["name"] for b in spec["bindings"] if b["kind"] == "storage"}
            if set(s.bind) != storage:
                raise ProgramError(f"step {s.label}: binds {sorted(s.bind)}, {s.kernel} has storage bindings "
                                   f"{sorted(storage)}")
            if set(s.uniforms) != names - storage:
                raise ProgramError(f"step {s.label}: uniform values for {sorted(s.uniforms)}, {s.kernel} has "
                                   f"uniforms {sorted(names - storage)}")
            for name, b in s.bind.items():
                buf = self.buffers.get(b.buffer)
                if buf is None:
                    raise ProgramError(f"step {s.label}: '{name}' binds unknown buffer {b.buffer!r}")
                end = buf.bytes if b.size is None else b.offset + b.size
                if b.offset % 256 or end > buf.bytes or end <= b.offset:
                    raise ProgramError(f"step {s.label}: '{name}' binds bytes {b.offset}..{end} of {b.buffer!r} "
                                       f"({buf.bytes} bytes; offsets are multiples of 256)")
            for name, values in s.uniforms.items():
                fields = {f["name"] for f in spec["uniforms"][name]["fields"]}
                if set(values) != fields:
                    raise ProgramError(f"step {s.label}: uniform '{name}' gets {sorted(values)}, its fields are "
                                       f"{sorted(fields)}")
        for op in self.load:
            if isinstance(op, Upload):
                buf = self.buffers.get(op.buffer)
                if buf is None or op.offset + op.bytes > buf.bytes or op.offset % 4:
                    raise ProgramError(f"upload of {op.tensor} into {op.buffer!r} at {op.offset} ({op.bytes} bytes) "
                                       "does not fit the buffer")
                if op.tensor not in self.tensors:
                    raise ProgramError(f"upload of unknown tensor {op.tensor!r}")
