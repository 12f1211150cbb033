"""Runs a program (host/program.py) on a native Device: a generic interpreter that knows no kernel
and no model, the twin of site/js/program.js.

Loading makes every buffer, checks the file's tensor table against the program's, streams each
upload from the byte source through a bounded window of host memory (never a whole tensor), and
runs the preparing steps. The token step is then made once: one bind group a step, every uniform
packed into one arena buffer (256-byte slots). A token is one submit: the host writes the decode
state's words it chooses, the step runs in one compute pass, and a copy brings back the token word
(and the logits, only when asked)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dsl.layout import LaunchError, pack_layout

from .byte_source import ByteSource
from .gguf import GGUFError, GGUFFile
from .native import UNIFORM_ALIGNMENT, Binding, Buffer, Device, Step, encode
from .program import Program, Step as StepSpec, Upload

WINDOW_BYTES = 16 << 20  # host memory a load holds at once (one read from the source)


class RunnerError(ValueError):
    """The program cannot run here: a tensor the file lacks or stores otherwise, a device limit."""


@dataclass
class LoadReport:
    bytes_read: int = 0  # from the source
    uploads: int = 0
    prepare_steps: int = 0
    seconds: float = 0.0
    phases: dict = field(default_factory=dict)


def choose_variant(variants: list[dict], features: frozenset[str]) -> dict:
    """The variant with the most features among those the device offers."""
    usable = [v for v in variants if set(v["features"]) <= features]
    if not usable:
        raise RunnerError(f"kernel {variants[0]['kernel']}: every variant needs features this device lacks "
                          f"({', '.join(sorted(set(variants[0]['features']) - features))})")
    return max(usable, key=lambda v: len(v["features"]))


class ProgramRunner:
    def __init__(self, program: Program, device: Device, features: frozenset[str] | None = None):
        self.program, self.device = program, device
        self.features = device.features if features is None else frozenset(features) & device.features
        self.variants = {key: choose_variant(vs, self.features) for key, vs in program.kernels.items()}
        limit = device.max_binding
        if program.largest_binding > limit:
            raise RunnerError(f"the program binds {program.largest_binding} bytes at once; this device allows "
                              f"{limit} (max-storage-buffer-binding-size): build the program for this device")
        largest = max(b.bytes for b in program.buffers.values())
        if largest > device.limits["max-buffer-size"]:
            raise RunnerError(f"the program needs a buffer of {largest} bytes; this device allows "
                              f"{device.limits['max-buffer-size']} (max-buffer-size)")
        self.buffers: dict[str, Buffer] = {}
        for name, spec in program.buffers.items():
            buf = device.buffer(spec.bytes, name)
            if spec.data is not None:
                buf.write(0, spec.data)
            self.buffers[name] = buf
        self.arena: Buffer | None = None
        self.token_steps: list[Step] = []
        self.select_steps: dict[str, list[Step]] = {}
        self.mode = "greedy"
        self.io = program.io
        self.readback = None
        self.loaded = False

    # -- steps ------------------------------------------------------------------------------------------
    def _make_steps(self, specs: list[StepSpec]) -> list[Step]:
        """Native steps with their bind groups; their uniforms in one arena buffer made here."""
        slots, blob = [], bytearray()
        for s in specs:
            spec = self.variants[s.kernel]
            slot = {}
            for name, values in s.uniforms.items():
                data = pack_layout(spec["uniforms"][name], values)
                slot[name] = (len(blob), len(data))
                blob += data + b"\0" * (-len(data) % UNIFORM_ALIGNMENT)
            slots.append(slot)
        arena = self.device.buffer(max(len(blob), 16), "uniform arena", uniform=True)
        if blob:
            arena.write(0, bytes(blob))
        steps = []
        for s, slot in zip(specs, slots):
            bindings: dict[str, Binding] = {name: Binding(self.buffers[b.buffer], b.offset, b.size)
                                            for name, b in s.bind.items()}
            bindings.update({name: Binding(arena, off, size) for name, (off, size) in slot.items()})
            steps.append(Step(self.device, self.variants[s.kernel], bindings, s.grid, s.label))
        return steps, arena

    # -- loading ----------------------------------------------------------------------------------------
    def check_tensors(self, gguf: GGUFFile) -> None:
        table = {t.name: t for t in gguf.tensors}
        for name, want in self.program.tensors.items():
            t = table.get(name)
            if t is None:
                raise RunnerError(f"{gguf.source}: the file has no tensor {name!r}, which the program reads")
            if t.type_name != want["type"] or list(t.dims) != want["dims"]:
                raise RunnerError(f"{gguf.source}: tensor {name!r} is {t.type_name} {list(t.dims)}; the program was "
                                  f"built for {want['type']} {want['dims']}")

    def load(self, source: ByteSource, gguf: GGUFFile, window: int = WINDOW_BYTES,
             progress: Callable[[int, int], None] | None = None) -> LoadReport:
        """Stream the weights in and prepare them; then make the token step."""
        self.check_tensors(gguf)
        table = {t.name: t for t in gguf.tensors}
        t0 = time.perf_counter()
        report = LoadReport()
        total = sum(op.bytes for op in self.program.load if isinstance(op, Upload))
        load_steps, _ = self._make_steps([op for op in self.program.load if isinstance(op, StepSpec)])
        steps = iter(load_steps)
        pending: list[Step] = []
        for op in self.program.load:
            if isinstance(op, StepSpec):
                pending.append(next(steps))
                continue
            if pending:  # the steps read what the uploads before them wrote: run them in order
                self.device.submit(encode(self.device, pending))
                report.prepare_steps += len(pending)
                pending = []
            info = table[op.tensor]
            if op.start + op.bytes > (info.nbytes or 0):
                raise RunnerError(f"upload of bytes {op.start}..{op.start + op.bytes} of {op.tensor!r}: the tensor "
                                  f"has {info.nbytes}")
            buf = self.buffers[op.buffer]
            for at in range(0, op.bytes, window):
                n = min(window, op.bytes - at)
                try:
                    data = source.read(info.offset + op.start + at, n)
                except Exception as exc:  # noqa: BLE001 - a source error names the source and offset
                    raise GGUFError(f"reading {op.tensor!r}: {exc}", info.offset + op.start + at, gguf.source) from None
                buf.write(op.offset + at, data)
                del data
                report.bytes_read += n
                if progress:
                    progress(report.bytes_read, total)
            report.uploads += 1
        if pending:
            self.device.submit(encode(self.device, pending))
            report.prepare_steps += len(pending)
        self.device.wait()
        report.phases["weights"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        specs = self.program.step + [s for mode in self.program.select.values() for s in mode]
        steps, self.arena = self._make_steps(specs)
        self.token_steps = steps[:len(self.program.step)]
        at = len(self.program.step)
        for mode, mode_steps in self.program.select.items():
            self.select_steps[mode] = steps[at:at + len(mode_steps)]
            at += len(mode_steps)
        self.device.wait()
        report.phases["token step"] = time.perf_counter() - t1
        for name, spec in self.program.buffers.items():  # staging is not needed any more
            if spec.role == "staging":
                self.buffers.pop(name).destroy()
        report.seconds = time.perf_counter() - t0
        self.loaded = True
        return report

    # -- tokens -----------------------------------------------------------------------------------------
    def write_state(self, token: int | None = None, position: int | None = None) -> None:
        """The decode state's token and/or position words (8 bytes at most cross the bus)."""
        state = self.buffers[self.io["state"]]
        tw, pw = self.io["token_word"], self.io["position_word"]
        if token is not None and position is not None and pw == tw + 1:
            state.write(4 * tw, np.array([token, position], np.uint32))
        else:
            if token is not None:
                state.write(4 * tw, np.array([token], np.uint32))
            if position is not None:
                state.write(4 * pw, np.array([position], np.uint32))

    def set_sampling(self, temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0, seed: int = 0) -> None:
        """How the next tokens are chosen: greedy (temperature 0) or drawn (kernels/sampling.py), the
        parameters written once (16 bytes), not per token."""
        if temperature == 0:
            self.mode = "greedy"
            return
        self.mode = "sample"
        values = {"temperature": temperature, "top_p": top_p, "top_k": top_k, "seed": seed}
        self.buffers[self.io["sampling"]].write(0, pack_layout(self.io["sampling_layout"], values))

    def step(self, token: int | None = None, position: int | None = None, logits: bool = False):
        """One token step: returns the next token id (argmax or a draw), and the logits when asked."""
        if not self.loaded:
            raise RunnerError("load() the program before running its token step")
        self.write_state(token, position)
        wgpu = _wgpu()
        state = self.buffers[self.io["state"]]
        logits_buf = self.buffers[self.io["logits"]]
        want = 4 + (logits_buf.size if logits else 0)
        if self.readback is None or self.readback.size < want:
            if self.readback is not None:
                self.readback.destroy()
            self.readback = self.device.device.create_buffer(
                size=4 + logits_buf.size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
        readback = self.readback

        def copies(encoder):
            encoder.copy_buffer_to_buffer(state.handle, 4 * self.io["token_word"], readback, 0, 4)
            if logits:
                encoder.copy_buffer_to_buffer(logits_buf.handle, 0, readback, 4, logits_buf.size)

        self.device.submit(encode(self.device, self.token_steps + self.select_steps[self.mode], after=copies))
        readback.map_sync(wgpu.MapMode.READ, 0, want)
        data = np.frombuffer(readback.read_mapped(0, want), np.uint8).copy()
        readback.unmap()
        self.device.traffic.bytes_read += want
        self.device.traffic.reads += 1
        token_id = int(data[:4].view(np.uint32)[0])
        if logits:
            return token_id, data[4:].view(np.float32)[: self.io["vocab_size"]].copy()
        return token_id

    @property
    def dispatches_per_token(self) -> int:
        return sum(not s.empty for s in self.token_steps + self.select_steps[self.mode])

    def gpu_bytes(self) -> int:
        return sum(b.size for b in self.buffers.values()) + (self.arena.size if self.arena else 0)

    def close(self) -> None:
        for buf in self.buffers.values():
            buf.destroy()
        self.buffers.clear()


def _wgpu():
    import wgpu  # noqa: PLC0415
    return wgpu


__all__ = ["LoadReport", "ProgramRunner", "RunnerError", "LaunchError"]
