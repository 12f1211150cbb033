"""The native executor: runs a compiled kernel on wgpu-py's default adapter (lavapipe without a
GPU, Vulkan on a real one) with numpy arrays in and out. Devices and pipelines are cached."""
from __future__ import annotations

import numbers
import os
from functools import lru_cache

import numpy as np
from typeguard import typechecked

from dsl.kernel import Kernel
from dsl.types import ArrayType, Atomic, Scalar, StructType, Vector, numpy_dtype, stride_of

# WebGPU feature names (as the DSL reports them) -> wgpu-py's names.
WGPU_FEATURES = {"shader-f16": "shader-f16", "subgroups": "subgroup"}


class LaunchError(TypeError):
    """A launch's arguments do not fit the kernel's parameters, or the adapter cannot run it."""


class Device:
    """A wgpu device with the features (WebGPU names) and limits it was created with, and a cache
    of compiled pipelines keyed by WGSL text."""

    def __init__(self, adapter, device, features: frozenset[str]):
        self.adapter, self.device, self.features = adapter, device, features
        self.limits = dict(device.limits)
        self.pipelines: dict = {}

    def __repr__(self) -> str:
        return f"<Device {self.adapter_name} features={sorted(self.features)}>"

    @property
    def adapter_name(self) -> str:
        return f"{self.adapter.info['device']} ({self.backend})"

    @property
    def backend(self) -> str:
        return self.adapter.info["backend_type"]


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


@lru_cache(maxsize=1)
def default_device() -> Device:
    """The default adapter, with shader-f16 and subgroups where it has them and its own buffer limits."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    import wgpu  # noqa: PLC0415 - loading wgpu starts the native library; do it only when running kernels

    adapter = preferred_adapter(wgpu.gpu.enumerate_adapters_sync())
    if adapter is None:
        raise LaunchError("no WebGPU adapter found: install Mesa's Vulkan drivers (apt-get install mesa-vulkan-drivers)")
    have = set(adapter.features)
    wanted = [w for w in WGPU_FEATURES.values() if w in have]
    limits = {k: adapter.limits[k] for k in ("max-storage-buffer-binding-size", "max-buffer-size")}
    device = adapter.request_device_sync(required_features=wanted, required_limits=limits)
    features = frozenset(k for k, w in WGPU_FEATURES.items() if w in wanted)
    return Device(adapter, device, features)


BUFFER_TYPES = {("storage", "read"): "read-only-storage", ("storage", "read_write"): "storage",
                ("uniform", "read"): "uniform"}


def _pipeline(dev: Device, kernel: Kernel):
    """(pipeline, bind group layout), cached by WGSL text. The layout comes from the kernel's
    bindings, not from the shader ("auto" would drop a parameter the body never reads)."""
    text = kernel.wgsl
    cached = dev.pipelines.get(text)
    if cached is None:
        import wgpu  # noqa: PLC0415
        device = dev.device
        module = device.create_shader_module(code=text)
        group = device.create_bind_group_layout(entries=[
            {"binding": b.index, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": BUFFER_TYPES[b.kind, b.access]}}
            for b in kernel.bindings])
        layout = device.create_pipeline_layout(bind_group_layouts=[group])
        pipeline = device.create_compute_pipeline(layout=layout, compute={"module": module,
                                                                          "entry_point": kernel.entry_point})
        cached = dev.pipelines[text] = (pipeline, group)
    return cached


@typechecked
def compile_on_device(kernel: Kernel, dev: Device | None = None):
    """Validate the kernel's WGSL with wgpu (shader module and compute pipeline)."""
    return _pipeline(dev or default_device(), kernel)


def pack_array(kernel: Kernel, name: str, t: ArrayType, value) -> tuple[bytes, tuple]:
    """A numpy array as the bytes of a storage buffer of type t (checked; vec3 rows padded)."""
    if not isinstance(value, np.ndarray):
        raise LaunchError(f"{kernel.name}: argument '{name}' is {t!r}, so it takes a numpy array, "
                          f"got {type(value).__name__}")
    elem = t.elem.elem if isinstance(t.elem, Atomic) else t.elem
    expected = numpy_dtype(elem)
    base = expected.base if isinstance(elem, Vector) else expected
    if value.dtype != base:
        hint = f"; convert it with {name}.astype(np.{base.name})" if base.fields is None else \
            f"; build it with np.zeros(n, {elem.name}.__dsl_struct__.dtype)"
        raise LaunchError(f"{kernel.name}: argument '{name}' is {t!r} but got a numpy array of dtype {value.dtype}{hint}")
    if isinstance(elem, Vector):
        if value.ndim == 0 or value.shape[-1] != elem.n:
            raise LaunchError(f"{kernel.name}: argument '{name}' is {t!r}: its last axis must have {elem.n} "
                              f"components, got shape {value.shape}")
        rows = value.reshape(-1, elem.n)
        stride = stride_of(elem) // base.itemsize
        if stride != elem.n:  # vec3 elements are 16 bytes apart in a buffer
            padded = np.zeros((rows.shape[0], stride), base)
            padded[:, :elem.n] = rows
            rows = padded
        data = np.ascontiguousarray(rows).tobytes()
    else:
        data = np.ascontiguousarray(value).tobytes()
    if not data:
        raise LaunchError(f"{kernel.name}: argument '{name}' is empty; WebGPU cannot bind an empty buffer")
    return data, value.shape


def _unpack_array(t: ArrayType, data: memoryview, shape: tuple) -> np.ndarray:
    elem = t.elem.elem if isinstance(t.elem, Atomic) else t.elem
    dtype = numpy_dtype(elem)
    if isinstance(elem, Vector):
        stride = stride_of(elem) // dtype.base.itemsize
        return np.frombuffer(data, dtype.base).reshape(-1, stride)[:, :elem.n].reshape(shape).copy()
    return np.frombuffer(data, dtype).reshape(shape).copy()


def _check_number(kernel: Kernel, name: str, t: Scalar, v) -> None:
    if isinstance(v, (np.generic, np.ndarray)) and np.ndim(v) == 0:
        v = v.item()
    ok = isinstance(v, numbers.Real) and not isinstance(v, bool)
    if t.is_int:
        ok = ok and float(v).is_integer()
        lo, hi = (0, 2 ** 32 - 1) if t.name == "u32" else (-(2 ** 31), 2 ** 31 - 1)
        if ok and not lo <= int(v) <= hi:
            raise LaunchError(f"{kernel.name}: '{name}' is {t}, and {v} is out of its range")
    if not ok:
        raise LaunchError(f"{kernel.name}: '{name}' is {t}, got {v!r}")


def _struct_fields(kernel: Kernel, name: str, t: StructType, value) -> dict:
    """A struct value given as a tuple, dict or dataclass instance, as {field: value}."""
    names = [n for n, _ in t.fields]
    if hasattr(value, "__dataclass_fields__"):
        value = {n: getattr(value, n) for n in names}
    if isinstance(value, (tuple, list)):
        if len(value) != len(names):
            raise LaunchError(f"{kernel.name}: '{name}' is struct {t.name} with fields {', '.join(names)}; "
                              f"got {len(value)} values")
        value = dict(zip(names, value))
    if not isinstance(value, dict) or set(value) != set(names):
        raise LaunchError(f"{kernel.name}: '{name}' is struct {t.name}: pass a tuple or a dict of "
                          f"{', '.join(names)}")
    return value


def _fill(kernel: Kernel, record: np.ndarray, name: str, t, value) -> None:
    """Store one scalar, vector or struct value into record[name], checking its type."""
    if isinstance(t, StructType):
        values = _struct_fields(kernel, name, t, value)
        for fname, ft in t.fields:
            _fill(kernel, record[name], fname, ft, values[fname])
        return
    if isinstance(t, Vector):
        comps = np.asarray(value)
        if comps.shape != (t.n,):
            raise LaunchError(f"{kernel.name}: '{name}' is {t}, got {value!r}")
        for c in comps:
            _check_number(kernel, name, t.elem, c)
    else:
        _check_number(kernel, name, t, value)
    record[name] = value


def _uniform(kernel: Kernel, name: str, t: StructType, value) -> bytes:
    record = np.zeros((), numpy_dtype(t))
    values = _struct_fields(kernel, name, t, value)
    for fname, ft in t.fields:
        _fill(kernel, record, fname, ft, values[fname])
    data = record.tobytes()
    return data + b"\0" * (-len(data) % 16)


def _grid(kernel: Kernel, grid, limit: int) -> tuple[int, int, int]:
    g = (grid,) if isinstance(grid, numbers.Integral) else tuple(grid)
    if not 1 <= len(g) <= 3 or not all(isinstance(x, numbers.Integral) and x >= 0 for x in g):
        raise LaunchError(f"{kernel.name}: grid must be 1 to 3 non-negative workgroup counts, got {grid!r}")
    if any(x > limit for x in g):
        raise LaunchError(f"{kernel.name}: grid {g} exceeds {limit} workgroups per dimension")
    return tuple(int(x) for x in g) + (1,) * (3 - len(g))  # type: ignore[return-value]


class Prepared:
    """A kernel with its buffers, bind group and pipeline made: dispatch it (many times, in one
    compute pass) and read its RW arrays back."""

    def __init__(self, dev: Device, kernel: Kernel, pipeline, bind_group, counts, outputs):
        self.dev, self.kernel, self.pipeline, self.bind_group = dev, kernel, pipeline, bind_group
        self.counts, self.outputs = counts, outputs

    def submit(self, commands) -> None:
        self.dev.device.queue.submit([commands])

    def run(self, repeat: int = 1) -> None:
        """Submit `repeat` dispatches in one compute pass."""
        self.submit(encode_pass([self], repeat))

    def wait(self) -> None:
        """Block until the GPU has finished what was submitted (a small read-back waits for it)."""
        import wgpu  # noqa: PLC0415
        if self.outputs:
            self.dev.device.queue.read_buffer(self.outputs[0][1], 0, 4)
        else:
            probe = self.dev.device.create_buffer(size=4, usage=wgpu.BufferUsage.COPY_SRC)
            self.dev.device.queue.read_buffer(probe)

    def read(self) -> dict:
        queue = self.dev.device.queue
        return {p.name: _unpack_array(p.type, queue.read_buffer(buf), shape) for p, buf, shape in self.outputs}


def encode_pass(preps: list[Prepared], repeat: int):
    """A command buffer of `repeat` dispatches in one compute pass, cycling through prepared
    launches of one kernel (a benchmark's copies of the weights); an empty grid dispatches nothing."""
    encoder = preps[0].dev.device.create_command_encoder()
    compute = encoder.begin_compute_pass()
    compute.set_pipeline(preps[0].pipeline)
    for i in range(repeat):
        p = preps[i % len(preps)]
        if all(p.counts):
            compute.set_bind_group(0, p.bind_group)
            compute.dispatch_workgroups(*p.counts)
    compute.end()
    return encoder.finish()


@typechecked
def launch(kernel: Kernel, grid, args: dict) -> dict:
    """Run `kernel` once over `grid` workgroups; returns every RW array parameter as numpy."""
    prepared = prepare(kernel, grid, args)
    prepared.run()
    return prepared.read()


@typechecked
def prepare(kernel: Kernel, grid, args: dict) -> Prepared:
    """Check the arguments against the kernel's parameters and upload them."""
    dev = default_device()
    if kernel.chosen is None:
        kernel = kernel.variant_for(dev.features)
    missing_features = kernel.features - dev.features
    if missing_features:
        raise LaunchError(f"{kernel.name} needs {', '.join(sorted(missing_features))}, which the adapter "
                          f"{dev.adapter_name} does not offer")
    runtime = [p for p in kernel.params if p.role != "const"]
    unknown = set(args) - {p.name for p in runtime}
    if unknown:
        raise LaunchError(f"{kernel.name} has no parameter {', '.join(sorted(unknown))}; it takes "
                          f"{', '.join(p.name for p in kernel.params)}")
    missing = [p.name for p in runtime if p.name not in args]
    if missing:
        raise LaunchError(f"{kernel.name} is missing argument(s): {', '.join(missing)}")
    import wgpu  # noqa: PLC0415

    device, limit = dev.device, dev.limits["max-storage-buffer-binding-size"]
    counts = _grid(kernel, grid, dev.limits["max-compute-workgroups-per-dimension"])
    entries, outputs = [], []
    for p in runtime:
        if p.role == "scalar":
            continue
        if p.role == "storage":
            data, shape = pack_array(kernel, p.name, p.type, args[p.name])
            if len(data) > limit:
                raise LaunchError(f"{kernel.name}: '{p.name}' is {len(data)} bytes, above the device's "
                                  f"max-storage-buffer-binding-size of {limit}")
            usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC
        else:
            data, shape = _uniform(kernel, p.name, p.type, args[p.name]), None
            usage = wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST
        buf = device.create_buffer_with_data(data=data, usage=usage)
        entries.append({"binding": p.binding, "resource": {"buffer": buf, "offset": 0, "size": buf.size}})
        if p.role == "storage" and p.type.access == "read_write":
            outputs.append((p, buf, shape))
    if kernel.scalar_layout is not None:
        layout = kernel.scalar_layout
        data = _uniform(kernel, "scalars", layout, {n: args[n] for n, _ in layout.fields})
        buf = device.create_buffer_with_data(data=data, usage=wgpu.BufferUsage.UNIFORM)
        index = next(b.index for b in kernel.bindings if b.element == layout.wgsl)
        entries.append({"binding": index, "resource": {"buffer": buf, "offset": 0, "size": buf.size}})
    pipeline, group = _pipeline(dev, kernel)
    bind_group = device.create_bind_group(layout=group, entries=entries)
    return Prepared(dev, kernel, pipeline, bind_group, counts, outputs)
