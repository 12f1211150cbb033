"""The native executor: WGSL on wgpu-py (lavapipe without a GPU, Vulkan on a real one). Its nouns
are those of site/js/executor.js, so one program runs on both:

- Device: an adapter's device, injected (never a hidden global beyond `default_device`), with the
  features and limits it was created with, pipelines cached by WGSL hash, and counters of the bytes
  that cross the bus (so a test can prove a token step moves no weights).
- Buffer: create, write at an offset, read a range.
- Step: one dispatch of a kernel variant (its manifest, dsl Kernel.manifest) with bindings
  name -> (buffer, offset, size), a grid and uniform values; its bind group is made once.
- encode(steps): many different kernels in one compute pass, for one submit.

`NativeExecutor.launch` (what Kernel.launch reaches through dsl/executor.py) is built on these:
numpy arrays become buffers, the step runs, the RW arrays come back."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from typeguard import typechecked

from dsl.executor import provide
from dsl.kernel import Kernel
from dsl.layout import LaunchError, check_grid, pack_array, pack_uniform, unpack_array

# WebGPU feature names (as the DSL reports them) -> wgpu-py's names.
WGPU_FEATURES = {"shader-f16": "shader-f16", "subgroups": "subgroup"}
BUFFER_TYPES = {("storage", "read"): "read-only-storage", ("storage", "read_write"): "storage",
                ("uniform", "read"): "uniform"}
UNIFORM_ALIGNMENT = 256  # minUniformBufferOffsetAlignment's largest allowed value: valid everywhere

__all__ = ["Binding", "Buffer", "Device", "LaunchError", "NativeExecutor", "Step", "compile_on_device",
           "default_device", "default_executor", "encode", "preferred_adapter"]


def _wgpu():
    import wgpu  # noqa: PLC0415 - loading wgpu starts the native library: only when running kernels
    return wgpu


@dataclass
class Traffic:
    """What crossed the bus: host writes into buffers and reads back from them, and submits."""

    bytes_written: int = 0
    bytes_read: int = 0
    writes: int = 0
    reads: int = 0
    submits: int = 0
    dispatches: int = 0

    def snapshot(self) -> Traffic:
        return Traffic(**vars(self))

    def since(self, before: Traffic) -> dict:
        return {k: v - getattr(before, k) for k, v in vars(self).items()}


class Buffer:
    """A GPU buffer of `size` bytes (a multiple of 4), usable as storage, copy source and target."""

    def __init__(self, device: Device, size: int, label: str = "", uniform: bool = False):
        wgpu = _wgpu()
        self.device, self.size, self.label = device, size, label
        usage = wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC
        usage |= wgpu.BufferUsage.UNIFORM if uniform else wgpu.BufferUsage.STORAGE
        self.handle = device.device.create_buffer(size=max(16, -(-size // 4) * 4), usage=usage, label=label)

    def write(self, offset: int, data) -> None:
        """Write bytes (or a numpy array's bytes) at `offset`; lengths are padded to 4 bytes."""
        view = memoryview(data).cast("B") if not isinstance(data, np.ndarray) else \
            memoryview(np.ascontiguousarray(data)).cast("B")
        if offset < 0 or offset + len(view) > self.handle.size:
            raise LaunchError(f"buffer {self.label!r}: cannot write {len(view)} bytes at {offset} "
                              f"({self.size} bytes)")
        if len(view) % 4:
            view = memoryview(bytes(view) + b"\0" * (-len(view) % 4))
        self.device.device.queue.write_buffer(self.handle, offset, view)
        traffic = self.device.traffic
        traffic.bytes_written += len(view)
        traffic.writes += 1

    def read(self, offset: int = 0, size: int | None = None) -> bytes:
        """Bytes [offset, offset + size) once the GPU has finished what was submitted."""
        size = self.size - offset if size is None else size
        data = self.device.device.queue.read_buffer(self.handle, offset, -(-size // 4) * 4)
        traffic = self.device.traffic
        traffic.bytes_read += size
        traffic.reads += 1
        return bytes(data[:size])

    def destroy(self) -> None:
        self.handle.destroy()

    def __repr__(self) -> str:
        return f"<Buffer {self.label!r} {self.size} bytes>"


@dataclass(frozen=True)
class Binding:
    """A buffer, or a range of it, for one binding of a step."""

    buffer: Buffer
    offset: int = 0
    size: int | None = None  # None: to the end of the buffer

    def entry(self, index: int) -> dict:
        size = self.buffer.size - self.offset if self.size is None else self.size
        size = -(-size // 4) * 4  # a storage binding's size is a multiple of 4; the buffer is padded to it
        return {"binding": index, "resource": {"buffer": self.buffer.handle, "offset": self.offset, "size": size}}


class Device:
    """A wgpu device with the features (WebGPU names) and limits it was created with, a cache of
    compiled pipelines keyed by WGSL hash, and the bus traffic so far."""

    def __init__(self, adapter, device, features: frozenset[str]):
        self.adapter, self.device, self.features = adapter, device, features
        self.limits = dict(device.limits)
        self.pipelines: dict[str, tuple] = {}
        self.traffic = Traffic()

    def __repr__(self) -> str:
        return f"<Device {self.adapter_name} features={sorted(self.features)}>"

    @property
    def adapter_name(self) -> str:
        return f"{self.adapter.info['device']} ({self.backend})"

    @property
    def backend(self) -> str:
        return self.adapter.info["backend_type"]

    @property
    def max_binding(self) -> int:
        return self.limits["max-storage-buffer-binding-size"]

    def buffer(self, size: int, label: str = "", uniform: bool = False) -> Buffer:
        return Buffer(self, size, label, uniform)

    def buffer_with(self, data, label: str = "", uniform: bool = False) -> Buffer:
        buf = Buffer(self, len(memoryview(data).cast("B")) if not isinstance(data, np.ndarray) else data.nbytes,
                     label, uniform)
        buf.write(0, data)
        return buf

    def pipeline(self, spec: dict) -> tuple:
        """(pipeline, bind group layout) of a kernel variant's manifest, cached by its WGSL hash. The
        layout comes from the manifest's bindings, not from the shader ("auto" would drop a
        parameter the body never reads)."""
        key = spec["hash"]["naga"]
        cached = self.pipelines.get(key)
        if cached is None:
            wgpu = _wgpu()
            missing = set(spec["features"]) - self.features
            if missing:
                raise LaunchError(f"{spec['kernel']} ({spec['variant']}) needs {', '.join(sorted(missing))}, which "
                                  f"the adapter {self.adapter_name} does not offer")
            module = self.device.create_shader_module(code=spec["wgsl"]["naga"], label=spec["kernel"])
            group = self.device.create_bind_group_layout(entries=[
                {"binding": b["index"], "visibility": wgpu.ShaderStage.COMPUTE,
                 "buffer": {"type": BUFFER_TYPES[b["kind"], b["access"]]}} for b in spec["bindings"]])
            layout = self.device.create_pipeline_layout(bind_group_layouts=[group])
            pipeline = self.device.create_compute_pipeline(layout=layout, label=spec["kernel"], compute={
                "module": module, "entry_point": spec["entry_point"]})
            cached = self.pipelines[key] = (pipeline, group)
        return cached

    def submit(self, command_buffer) -> None:
        self.device.queue.submit([command_buffer])
        self.traffic.submits += 1

    def wait(self) -> None:
        """Block until the GPU has finished everything submitted so far."""
        probe = self.device.create_buffer(size=4, usage=_wgpu().BufferUsage.COPY_SRC)
        self.device.queue.read_buffer(probe)
        probe.destroy()


class Step:
    """One dispatch made ready: pipeline, bind group (made here, once) and grid. `bindings` maps
    the manifest's binding names to Bindings; uniform bindings may be given as bytes, which go into
    a small buffer of their own (a program's executor puts them in one arena instead)."""

    def __init__(self, device: Device, spec: dict, bindings: dict[str, Binding | bytes], grid, label: str = ""):
        self.spec, self.label = spec, label or spec["kernel"]
        self.grid = check_grid(spec["kernel"], grid, device.limits["max-compute-workgroups-per-dimension"])
        self.pipeline, group = device.pipeline(spec)
        entries, self.owned = [], []
        for b in spec["bindings"]:
            given = bindings.get(b["name"])
            if given is None:
                raise LaunchError(f"{self.label}: nothing is bound to '{b['name']}'")
            if isinstance(given, (bytes, bytearray)):
                buf = device.buffer_with(given, f"{self.label}.{b['name']}", uniform=True)
                self.owned.append(buf)
                given = Binding(buf)
            entries.append(given.entry(b["index"]))
        unknown = set(bindings) - {b["name"] for b in spec["bindings"]}
        if unknown:
            raise LaunchError(f"{self.label}: {spec['kernel']} has no binding {', '.join(sorted(unknown))}")
        self.bind_group = device.device.create_bind_group(layout=group, entries=entries)

    @property
    def empty(self) -> bool:
        return not all(self.grid)


def encode(device: Device, steps: list[Step], repeat: int = 1, after=None):
    """A command buffer: the steps (cycled `repeat` times) in one compute pass, then `after(encoder)`
    (copies for read-back). An empty grid dispatches nothing."""
    encoder = device.device.create_command_encoder()
    compute = encoder.begin_compute_pass()
    current = None
    count = 0
    for i in range(repeat * len(steps)):
        step = steps[i % len(steps)]
        if step.empty:
            continue
        if step.pipeline is not current:
            compute.set_pipeline(step.pipeline)
            current = step.pipeline
        compute.set_bind_group(0, step.bind_group)
        compute.dispatch_workgroups(*step.grid)
        count += 1
    compute.end()
    if after is not None:
        after(encoder)
    device.traffic.dispatches += count
    return encoder.finish()


# -- the default device ----------------------------------------------------------------------------

# OpenGL last: Mesa's GL driver offers neither shader-f16 nor subgroups, and its integer division differs
# from WGSL's (u32(0) // b gives 0xFFFFFFFF), so a machine with lavapipe (Vulkan) must use that.
BACKEND_RANK = {"Vulkan": 0, "Metal": 0, "D3D12": 1, "OpenGL": 3}
DEVICE_RANK = {"DiscreteGPU": 0, "IntegratedGPU": 1, "VirtualGPU": 2, "CPU": 3}


def preferred_adapter(adapters: list):
    """The adapter to run on: a GPU before a CPU, and never OpenGL while another backend is there."""
    def rank(adapter):
        info = adapter.info
        return BACKEND_RANK.get(info["backend_type"], 2), DEVICE_RANK.get(info["adapter_type"], 4)
    return min(adapters, key=rank, default=None)


def open_device(adapter) -> Device:
    """A device on `adapter` with shader-f16 and subgroups where it has them and its own buffer limits."""
    have = set(adapter.features)
    wanted = [w for w in WGPU_FEATURES.values() if w in have]
    limits = {k: adapter.limits[k] for k in ("max-storage-buffer-binding-size", "max-buffer-size")}
    device = adapter.request_device_sync(required_features=wanted, required_limits=limits)
    return Device(adapter, device, frozenset(k for k, w in WGPU_FEATURES.items() if w in wanted))


@lru_cache(maxsize=1)
def default_device() -> Device:
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    adapter = preferred_adapter(_wgpu().gpu.enumerate_adapters_sync())
    if adapter is None:
        raise LaunchError("no WebGPU adapter found: install Mesa's Vulkan drivers (apt-get install mesa-vulkan-drivers)")
    return open_device(adapter)


@typechecked
def compile_on_device(kernel: Kernel, dev: Device | None = None):
    """Validate the kernel's WGSL with wgpu (shader module and compute pipeline)."""
    return (dev or default_device()).pipeline(kernel.manifest())


# -- numpy in, numpy out ----------------------------------------------------------------------------

@dataclass
class Prepared:
    """A kernel launch made ready on a device: its step, and the buffers of its RW arrays."""

    device: Device
    step: Step
    outputs: list = field(default_factory=list)  # (param, buffer, shape)

    def run(self, repeat: int = 1) -> None:
        self.device.submit(encode(self.device, [self.step], repeat))

    def read(self) -> dict:
        return {p.name: unpack_array(p.type, buf.read(), shape) for p, buf, shape in self.outputs}


def encode_pass(preps: list[Prepared], repeat: int):
    """`repeat` dispatches in one compute pass, cycling through prepared launches (a benchmark's
    copies of the weights)."""
    return encode(preps[0].device, [p.step for p in preps], -(-repeat // len(preps)))


class NativeExecutor:
    """dsl/executor.py's Executor on a Device: what Kernel.launch and the kernel library's numpy
    helpers run on."""

    def __init__(self, device: Device):
        self.device = device
        self.features = device.features
        self.limits = device.limits

    def variant(self, kernel: Kernel) -> Kernel:
        kernel = kernel.variant_for(self.features) if kernel.chosen is None else kernel
        missing = kernel.features - self.features
        if missing:
            raise LaunchError(f"{kernel.name} needs {', '.join(sorted(missing))}, which the adapter "
                              f"{self.device.adapter_name} does not offer")
        return kernel

    def prepare(self, kernel: Kernel, grid, args: dict) -> Prepared:
        """Check the arguments against the kernel's parameters and upload them."""
        kernel = self.variant(kernel)
        runtime = [p for p in kernel.params if p.role != "const"]
        unknown = set(args) - {p.name for p in runtime}
        if unknown:
            raise LaunchError(f"{kernel.name} has no parameter {', '.join(sorted(unknown))}; it takes "
                              f"{', '.join(p.name for p in kernel.params)}")
        missing = [p.name for p in runtime if p.name not in args]
        if missing:
            raise LaunchError(f"{kernel.name} is missing argument(s): {', '.join(missing)}")
        check_grid(kernel.name, grid, self.limits["max-compute-workgroups-per-dimension"])
        dev, limit = self.device, self.device.max_binding
        bindings, outputs = {}, []
        for p in runtime:
            if p.role == "storage":
                data, shape = pack_array(kernel.name, p.name, p.type, args[p.name])
                if len(data) > limit:
                    raise LaunchError(f"{kernel.name}: '{p.name}' is {len(data)} bytes, above the device's "
                                      f"max-storage-buffer-binding-size of {limit}")
                buf = dev.buffer_with(data, f"{kernel.name}.{p.name}")
                bindings[p.name] = Binding(buf)
                if p.type.access == "read_write":
                    outputs.append((p, buf, shape))
            elif p.role == "uniform":
                bindings[p.name] = pack_uniform(kernel.name, p.name, p.type, args[p.name])
        if kernel.scalar_layout is not None:
            layout = kernel.scalar_layout
            bindings[kernel.scalars_binding] = pack_uniform(kernel.name, "scalars", layout,
                                                            {n: args[n] for n, _ in layout.fields})
        return Prepared(dev, Step(dev, kernel.manifest(), bindings, grid), outputs)

    def launch(self, kernel: Kernel, grid, args: dict) -> dict:
        prepared = self.prepare(kernel, grid, args)
        prepared.run()
        return prepared.read()


@lru_cache(maxsize=1)
def default_executor() -> NativeExecutor:
    """The executor of the default device: the entry point pyproject.toml declares for dsl/executor.py."""
    return NativeExecutor(default_device())


provide(default_executor)  # launches find it once this module is imported, installed or not


@typechecked
def launch(kernel: Kernel, grid, args: dict) -> dict:
    """Run `kernel` once over `grid` workgroups on the default device; every RW array as numpy."""
    return default_executor().launch(kernel, grid, args)


@typechecked
def prepare(kernel: Kernel, grid, args: dict) -> Prepared:
    return default_executor().prepare(kernel, grid, args)
