"""Every language feature the DSL promises, run on wgpu and compared with numpy."""
import numpy as np
import pytest

from dsl import (Array, Atomic, Const, RW, bool_, f16, f32, func, gpu, i32, kernel, struct, u32, vec2, vec2f, vec2i,
                 vec2u, vec3f, vec4, vec4f, vec4h, vec4i, vec4u)

RNG = np.random.default_rng(1)
N = 100  # not a multiple of the workgroup size


def groups(n, wg=64):
    return (-(-n // wg),)


# -- scalars, literals, conversions ---------------------------------------------------------------

@kernel(workgroup_size=(64,))
def scalar_mix(a: Array[i32], b: Array[u32], c: Array[f32], oi: RW[Array[i32]], ou: RW[Array[u32]],
               of: RW[Array[f32]], ob: RW[Array[u32]]):
    i = gpu.global_id().x
    if i >= len(a):
        return
    x = a[i]
    y = b[i]
    z = c[i]
    oi[i] = x * 3 - 7 + i32(y % 5)      # literals adapt to i32
    ou[i] = y + 4000000000 + u32(x)      # wraps around; u32(i32) reinterprets the bits
    of[i] = z * 2 + 0.5 + f32(x)         # an untyped int literal adapts to f32
    flag = z > 0.0 and not (x < 0)
    ob[i] = u32(flag) + u32(True)


def test_scalars_literals_and_conversions(device):
    a = RNG.integers(-1000, 1000, N).astype(np.int32)
    b = RNG.integers(0, 2**32, N, dtype=np.uint64).astype(np.uint32)
    c = RNG.standard_normal(N).astype(np.float32)
    out = scalar_mix.launch(groups(N), a=a, b=b, c=c, oi=np.zeros(N, np.int32), ou=np.zeros(N, np.uint32),
                            of=np.zeros(N, np.float32), ob=np.zeros(N, np.uint32))
    np.testing.assert_array_equal(out["oi"], a * 3 - 7 + (b % 5).astype(np.int32))
    np.testing.assert_array_equal(out["ou"], (b.astype(np.uint64) + 4000000000 + a.view(np.uint32)) % 2**32)
    np.testing.assert_allclose(out["of"], c * 2 + 0.5 + a, rtol=1e-6)
    np.testing.assert_array_equal(out["ob"], ((c > 0) & ~(a < 0)).astype(np.uint32) + 1)


@kernel(workgroup_size=(64,))
def integer_ops(a: Array[i32], b: Array[i32], u: Array[u32], v: Array[u32], out_i: RW[Array[i32]],
                out_u: RW[Array[u32]]):
    i = gpu.global_id().x
    if i < len(a):
        k = 6 * i
        out_i[k] = a[i] // b[i]
        out_i[k + 1] = a[i] % b[i]
        out_i[k + 2] = a[i] >> (u[i] % 8)
        out_i[k + 3] = (a[i] << 3) ^ ~b[i]
        out_i[k + 4] = a[i] ** 3
        out_i[k + 5] = -a[i] & 0xFFFF | 1
        out_u[k] = u[i] // v[i]
        out_u[k + 1] = u[i] % v[i]
        out_u[k + 2] = u[i] >> 4
        out_u[k + 3] = u[i] * v[i]
        out_u[k + 4] = u[i] - v[i]
        out_u[k + 5] = min(u[i], v[i]) + max(u[i], v[i])


def test_integer_operators_follow_wgsl(device):
    a = RNG.integers(-2**31, 2**31, N, dtype=np.int64).astype(np.int32)
    b = RNG.integers(-50, 50, N).astype(np.int32)
    b[:3] = [0, -1, 7]
    a[1] = -2**31  # MIN / -1 wraps to MIN, MIN % -1 is 0
    u = RNG.integers(0, 2**32, N, dtype=np.uint64).astype(np.uint32)
    v = RNG.integers(0, 100, N).astype(np.uint32)
    v[0] = 0
    out = integer_ops.launch(groups(N), a=a, b=b, u=u, v=v, out_i=np.zeros(6 * N, np.int32),
                             out_u=np.zeros(6 * N, np.uint32))
    oi, ou = out["out_i"].reshape(N, 6), out["out_u"].reshape(N, 6)
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    safe = np.where(b64 == 0, 1, b64)
    q = np.where(b64 == 0, a64, np.trunc(a64 / safe).astype(np.int64))  # truncating, x / 0 == x
    q = np.where((a64 == -2**31) & (b64 == -1), -2**31, q)
    np.testing.assert_array_equal(oi[:, 0], q.astype(np.int32))
    np.testing.assert_array_equal(oi[:, 1], np.where(b64 == 0, 0, a64 - safe * np.where(b64 == 0, 0, q)).astype(np.int32))
    np.testing.assert_array_equal(oi[:, 2], a >> (u % 8).astype(np.int32))
    np.testing.assert_array_equal(oi[:, 3], ((a64 << 3) % 2**32).astype(np.uint32).view(np.int32) ^ ~b)
    np.testing.assert_array_equal(oi[:, 4], ((a64 ** 3) % 2**32).astype(np.uint32).view(np.int32))
    np.testing.assert_array_equal(oi[:, 5], ((-a64) % 2**32).astype(np.uint32).view(np.int32) & 0xFFFF | 1)
    u64, v64 = u.astype(np.uint64), v.astype(np.uint64)
    np.testing.assert_array_equal(ou[:, 0], np.where(v64 == 0, u64, u64 // np.maximum(v64, 1)))
    np.testing.assert_array_equal(ou[:, 1], np.where(v64 == 0, 0, u64 % np.maximum(v64, 1)))
    np.testing.assert_array_equal(ou[:, 2], u >> 4)
    np.testing.assert_array_equal(ou[:, 3], (u64 * v64) % 2**32)
    np.testing.assert_array_equal(ou[:, 4], (u64 - v64) % 2**32)
    np.testing.assert_array_equal(ou[:, 5], np.minimum(u, v) + np.maximum(u, v))


@kernel(workgroup_size=(64,))
def float_ops(x: Array[f32], y: Array[f32], out: RW[Array[f32]]):
    i = gpu.global_id().x
    if i < len(x):
        k = 5 * i
        out[k] = x[i] // y[i]
        out[k + 1] = x[i] % y[i]
        out[k + 2] = x[i] ** 2 - abs(y[i])
        out[k + 3] = x[i] if x[i] > y[i] else -y[i]
        out[k + 4] = max(x[i], 0.0) / 4


def test_float_operators(device):
    x, y = RNG.uniform(-10, 10, N).astype(np.float32), RNG.uniform(0.5, 3, N).astype(np.float32)
    y[::2] *= -1
    out = float_ops.launch(groups(N), x=x, y=y, out=np.zeros(5 * N, np.float32))["out"].reshape(N, 5)
    np.testing.assert_allclose(out[:, 0], np.floor(x / y), rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], np.fmod(x, y), atol=1e-5)  # truncated remainder, as WGSL
    np.testing.assert_allclose(out[:, 2], x * x - np.abs(y), rtol=1e-6)
    np.testing.assert_allclose(out[:, 3], np.where(x > y, x, -y))
    np.testing.assert_allclose(out[:, 4], np.maximum(x, 0) / 4)


@kernel(workgroup_size=(64,))
def half_math(x: Array[f16], out: RW[Array[f16]], scale: f16):
    i = gpu.global_id().x
    if i < len(x):
        h = x[i] * scale + f16(1.0)
        out[i] = gpu.max(h, f16(0.0)) + 0.25


def test_f16_enables_the_feature_and_computes(device):
    assert half_math.features == {"shader-f16"}
    assert half_math.wgsl.startswith("enable f16;")
    x = RNG.standard_normal(N).astype(np.float16)
    got = half_math.launch(groups(N), x=x, out=np.zeros(N, np.float16), scale=2.0)["out"]
    want = np.maximum(x * np.float16(2) + np.float16(1), np.float16(0)) + np.float16(0.25)
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=2e-3, atol=2e-3)


# -- vectors ------------------------------------------------------------------------------------------

@kernel(workgroup_size=(64,))
def vector_ops(a: Array[vec4f], b: Array[vec3f], out: RW[Array[vec4f]], out3: RW[Array[vec3f]],
               ints: RW[Array[vec4i]]):
    i = gpu.global_id().x
    if i < len(a):
        v = a[i]
        w = vec4f(1.0, v.x, v.yz) * 2.0 + vec4f(0.5)
        w.w = gpu.dot(v, v)
        out[i] = w + v.wzyx - 1.0
        out3[i] = b[i].zyx * vec3f(v.xy, 3.0) + gpu.cross(b[i], vec3f(0.0, 0.0, 1.0))
        ints[i] = vec4i(v) + vec4[i32](1, 2, 3, 4)


def test_vectors_constructors_swizzles_and_arrays_of_vectors(device):
    a = RNG.uniform(-4, 4, (N, 4)).astype(np.float32)
    b = RNG.uniform(-4, 4, (N, 3)).astype(np.float32)
    out = vector_ops.launch(groups(N), a=a, b=b, out=np.zeros((N, 4), np.float32), out3=np.zeros((N, 3), np.float32),
                            ints=np.zeros((N, 4), np.int32))
    w = np.stack([np.ones(N), a[:, 0], a[:, 1], a[:, 2]], 1) * 2 + 0.5
    w[:, 3] = (a * a).sum(1)
    np.testing.assert_allclose(out["out"], w + a[:, ::-1] - 1, rtol=1e-5, atol=1e-5)
    want3 = b[:, ::-1] * np.stack([a[:, 0], a[:, 1], np.full(N, 3.0)], 1) + np.cross(b, [0, 0, 1])
    np.testing.assert_allclose(out["out3"], want3, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out["ints"], np.trunc(a).astype(np.int32) + [1, 2, 3, 4])


def test_vector_aliases():
    assert vec4f == vec4[f32] and vec2f == vec2[f32] and vec4h == vec4[f16] and vec4u == vec4[u32]
    assert vec4f.wgsl == "vec4<f32>"


# -- parameters: uniforms, structs, Const ---------------------------------------------------------------

@struct
class Affine:
    scale: f32
    shift: f32
    offset: vec2f
    count: u32


@kernel(workgroup_size=("WG",))
def affine(x: Array[f32], out: RW[Array[f32]], p: Affine, bias: f32, step: u32, sign: i32, WG: Const[u32] = 64):
    i = gpu.global_id().x
    if i < p.count:
        out[i] = (x[i] * p.scale + p.shift + p.offset.y + bias) * f32(sign) + f32(step * WG)


def test_struct_uniform_scalars_and_const(device):
    x = RNG.standard_normal(N).astype(np.float32)
    base = dict(x=x, out=np.zeros(N, np.float32), bias=0.25, step=3, sign=-1)
    got_tuple = affine.launch(groups(N), p=(2.0, 1.0, (0.0, 0.5), N), **base)["out"]
    got_dict = affine.launch(groups(N, 32), p={"scale": 2.0, "shift": 1.0, "offset": (0, 0.5), "count": N}, WG=32,
                             **base)["out"]
    want = -(x * 2 + 1 + 0.5 + 0.25)
    np.testing.assert_allclose(got_tuple, want + 3 * 64, rtol=1e-6)
    np.testing.assert_allclose(got_dict, want + 3 * 32, rtol=1e-6)
    assert [b[:4] for b in affine.bindings] == [(0, "x", "storage", "read"), (1, "out", "storage", "read_write"),
                                                (2, "p", "uniform", "read"), (3, "scalars", "uniform", "read")]
    assert affine.bindings[0].element == "f32" and affine.bindings[2].element == "Affine"


def test_specialize_changes_overrides_and_workgroup_size():
    k = affine.specialize(WG=128)
    assert k.workgroup_size == (128, 1, 1) and affine.workgroup_size == (64, 1, 1)
    assert "override WG: u32 = 128u;" in k.wgsl and "@workgroup_size(WG)" in k.wgsl


@kernel(workgroup_size=("WG",))
def block_sum(x: Array[f32], out: RW[Array[f32]], WG: Const[u32] = 64):
    tile = gpu.shared(f32, WG)
    t = gpu.local_id().x
    tile[t] = x[gpu.global_id().x]
    gpu.barrier()
    s = WG // 2
    while s > 0:
        if t < s:
            tile[t] += tile[t + s]
        gpu.barrier()
        s //= 2
    if t == 0:
        out[gpu.workgroup_id().x] = tile[0]


@pytest.mark.parametrize("wg", [32, 64, 256])
def test_const_sizes_shared_arrays(device, wg):
    x = RNG.standard_normal(4 * wg).astype(np.float32)
    got = block_sum.launch((4,), x=x, out=np.zeros(4, np.float32), WG=wg)["out"]
    np.testing.assert_allclose(got, x.reshape(4, wg).sum(1), rtol=1e-4, atol=1e-5)


# -- statements ---------------------------------------------------------------------------------------

@kernel(workgroup_size=(64,))
def control_flow(x: Array[i32], out: RW[Array[i32]]):
    i = gpu.global_id().x
    if i >= len(x):
        return
    v = x[i]
    acc = 0
    for k in range(10):  # literals counting up: k is u32
        if k == 3:
            continue
        acc += i32(k)
    for k in range(10, 0, -3):  # counting down: i32
        acc += k * 100
    for k in range(i32(2), 5):
        acc -= k
    n = 0
    while True:
        n += 1
        if n >= v:
            break
    if v < 0:
        sign = -1
    elif v == 0:
        sign = 0
    else:
        sign = 1
    out[i] = acc + n * 1000 + sign * 100000


def test_control_flow(device):
    x = np.array([-5, 0, 1, 7, 20] * 20, np.int32)
    got = control_flow.launch(groups(len(x)), x=x, out=np.zeros(len(x), np.int32))["out"]
    acc = sum(k for k in range(10) if k != 3) + sum(k * 100 for k in range(10, 0, -3)) - sum(range(2, 5))
    n = np.maximum(x, 1)
    np.testing.assert_array_equal(got, acc + n * 1000 + np.sign(x) * 100000)


@func
def sigmoid(x: f32) -> f32:
    return 1.0 / (1.0 + gpu.exp(-x))


@func
def silu(x: f32) -> f32:
    return x * sigmoid(x)


@func
def clamp_index(i: u32, n: u32) -> u32:
    if i >= n:
        return n - 1
    return i


@kernel(workgroup_size=(64,))
def funcs_kernel(x: Array[f32], out: RW[Array[f32]]):
    i = gpu.global_id().x
    j = clamp_index(i, len(x))
    out[i] = silu(x[j]) + sigmoid(x[j])


def test_funcs_call_funcs_and_are_emitted_once(device):
    x = RNG.standard_normal(N).astype(np.float32)
    got = funcs_kernel.launch((2,), x=x, out=np.zeros(128, np.float32))["out"]
    xs = x[np.minimum(np.arange(128), N - 1)]
    sig = 1 / (1 + np.exp(-xs))
    np.testing.assert_allclose(got, xs * sig + sig, rtol=1e-5, atol=1e-6)
    assert funcs_kernel.wgsl.count("fn sigmoid(") == 1
    assert sigmoid(np.float32(0.0)) == 0.5  # a func runs on the CPU too


@struct
class Particle:
    pos: vec3f
    mass: f32
    vel: vec2f
    id: u32


@func
def kinetic(p: Particle) -> f32:
    return 0.5 * p.mass * gpu.dot(p.vel, p.vel)


@kernel(workgroup_size=(64,))
def particles(ps: RW[Array[Particle]], energy: RW[Array[f32]]):
    i = gpu.global_id().x
    if i < len(ps):
        p = ps[i]
        energy[i] = kinetic(p)
        q = Particle(p.pos + vec3f(p.vel, 0.0), p.mass, p.vel, id=p.id + 1)
        ps[i] = q


def test_structs_as_array_elements_locals_and_func_arguments(device):
    dt = Particle.__dsl_struct__.dtype
    assert dt.itemsize == 32 and dt.fields["vel"][1] == 16  # WGSL layout: vec3 aligned to 16
    ps = np.zeros(N, dt)
    ps["pos"] = RNG.standard_normal((N, 3))
    ps["mass"] = RNG.uniform(1, 2, N)
    ps["vel"] = RNG.standard_normal((N, 2))
    ps["id"] = np.arange(N)
    out = particles.launch(groups(N), ps=ps, energy=np.zeros(N, np.float32))
    np.testing.assert_allclose(out["energy"], 0.5 * ps["mass"] * (ps["vel"] ** 2).sum(1), rtol=1e-5)
    want_pos = ps["pos"] + np.concatenate([ps["vel"], np.zeros((N, 1), np.float32)], 1)
    np.testing.assert_allclose(out["ps"]["pos"], want_pos, rtol=1e-6)
    np.testing.assert_array_equal(out["ps"]["id"], np.arange(N) + 1)


# -- invocation ids, atomics, subgroups, bits ------------------------------------------------------------

@kernel(workgroup_size=(8, 4))
def ids_2d(out: RW[Array[u32]]):
    g = gpu.global_id()
    n = gpu.num_workgroups()
    width = n.x * 8
    out[g.y * width + g.x] = gpu.local_index() + 1000 * gpu.workgroup_id().y + 100000 * g.x


def test_invocation_ids_over_a_2d_grid(device):
    gx, gy = 3, 2
    got = ids_2d.launch((gx, gy), out=np.zeros(gx * 8 * gy * 4, np.uint32))["out"].reshape(gy * 4, gx * 8)
    y, x = np.mgrid[0:gy * 4, 0:gx * 8]
    np.testing.assert_array_equal(got, (y % 4) * 8 + (x % 8) + 1000 * (y // 4) + 100000 * x)


@kernel(workgroup_size=(64,))
def atomics(v: Array[u32], w: Array[i32], acc: RW[Array[Atomic[u32]]], iacc: RW[Array[Atomic[i32]]],
            old: RW[Array[u32]]):
    i = gpu.global_id().x
    if i < len(v):
        gpu.atomic_add(acc, 0, v[i])
        gpu.atomic_max(acc, 1, v[i])
        gpu.atomic_min(acc, 2, v[i])
        gpu.atomic_or(acc, 3, v[i])
        gpu.atomic_and(acc, 4, v[i])
        gpu.atomic_xor(acc, 5, v[i])
        gpu.atomic_sub(iacc, 0, w[i])
        gpu.atomic_max(iacc, 1, w[i])
        old[i] = gpu.atomic_exchange(acc, 6, 7)
    gpu.storage_barrier()
    if i == 0:
        gpu.atomic_store(acc, 7, gpu.atomic_load(acc, 7) + 5)


def test_atomics(device):
    v = RNG.integers(0, 2**20, N).astype(np.uint32)
    w = RNG.integers(-1000, 1000, N).astype(np.int32)
    acc = np.array([0, 0, 2**32 - 1, 0, 2**32 - 1, 0, 7, 10], np.uint32)
    out = atomics.launch(groups(N), v=v, w=w, acc=acc, iacc=np.array([0, -2**31], np.int32), old=np.zeros(N, np.uint32))
    assert list(out["acc"]) == [v.sum() % 2**32, v.max(), v.min(), np.bitwise_or.reduce(v), np.bitwise_and.reduce(v),
                                np.bitwise_xor.reduce(v), 7, 15]
    assert list(out["iacc"]) == [-w.sum(), w.max()]
    assert (out["old"] == 7).all()


@kernel(workgroup_size=(64,))
def subgroup_ops(x: Array[f32], out: RW[Array[f32]], lanes: RW[Array[u32]]):
    i = gpu.global_id().x
    v = x[i]
    out[4 * i] = gpu.subgroup_add(v)
    out[4 * i + 1] = gpu.subgroup_max(v)
    out[4 * i + 2] = gpu.subgroup_broadcast(v, 0)
    lane = gpu.subgroup_invocation_id()
    out[4 * i + 3] = gpu.subgroup_shuffle(v, lane ^ 1)
    lanes[i] = gpu.subgroup_size()


def test_subgroup_operations(device):
    assert subgroup_ops.features == {"subgroups"}
    assert "enable subgroups;" in subgroup_ops.wgsl_for("tint") and "enable subgroups" not in subgroup_ops.wgsl
    x = RNG.standard_normal(64).astype(np.float32)
    out = subgroup_ops.launch((1,), x=x, out=np.zeros(256, np.float32), lanes=np.zeros(64, np.uint32))
    size = int(out["lanes"][0])
    assert size in (4, 8, 16, 32, 64) and (out["lanes"] == size).all()
    got, groups_ = out["out"].reshape(64, 4), x.reshape(-1, size)
    np.testing.assert_allclose(got[:, 0], np.repeat(groups_.sum(1), size), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got[:, 1], np.repeat(groups_.max(1), size))
    np.testing.assert_array_equal(got[:, 2], np.repeat(groups_[:, 0], size))
    np.testing.assert_array_equal(got[:, 3], x[np.arange(64) ^ 1])


@kernel(workgroup_size=(64,))
def bits(u: Array[u32], f: Array[f32], out: RW[Array[u32]], outf: RW[Array[vec4f]]):
    i = gpu.global_id().x
    if i < len(u):
        out[4 * i] = gpu.bitcast(u32, f[i])
        out[4 * i + 1] = gpu.extract_bits(u[i], 4, 9)
        out[4 * i + 2] = gpu.count_one_bits(u[i]) + u32(gpu.bitcast(i32, u[i]) < 0) * 100
        out[4 * i + 3] = gpu.pack2x16float(vec2f(f[i], -f[i]))
        outf[i] = gpu.unpack4x8snorm(u[i]) + gpu.unpack4x8unorm(u[i]) + vec4f(gpu.unpack2x16float(u[i]), 0.0, 0.0)


def test_bit_and_packing_builtins(device):
    u = RNG.integers(0, 2**32, N, dtype=np.uint64).astype(np.uint32)
    f = RNG.uniform(-3, 3, N).astype(np.float32)
    out = bits.launch(groups(N), u=u, f=f, out=np.zeros(4 * N, np.uint32), outf=np.zeros((N, 4), np.float32))
    o = out["out"].reshape(N, 4)
    np.testing.assert_array_equal(o[:, 0], f.view(np.uint32))
    np.testing.assert_array_equal(o[:, 1], (u >> 4) & 0x1FF)
    np.testing.assert_array_equal(o[:, 2], np.array([bin(x).count("1") for x in u]) + (u >= 2**31) * 100)
    halves = np.stack([f, -f], 1).astype(np.float16)
    np.testing.assert_array_equal(o[:, 3], halves.view(np.uint32)[:, 0])
    b = np.stack([(u >> s) & 255 for s in (0, 8, 16, 24)], 1)
    snorm = np.maximum(b.astype(np.uint8).view(np.int8) / 127.0, -1)
    with np.errstate(invalid="ignore"):  # random bits include f16 NaNs; both sides carry them
        h = np.ascontiguousarray(u[:, None]).view(np.float16).astype(np.float32)
        want = snorm + b / 255.0 + np.concatenate([h, np.zeros((N, 2))], 1)
    np.testing.assert_allclose(out["outf"], want, rtol=1e-5, atol=1e-5)


@kernel(workgroup_size=(64,))
def lengths(a: Array[f32], b: Array[vec4f], out: RW[Array[u32]]):
    if gpu.global_id().x == 0:
        out[0] = len(a)
        out[1] = len(b)
        out[2] = len(out)


def test_len_is_array_length(device):
    got = lengths.launch((1,), a=np.zeros(37, np.float32), b=np.zeros((5, 4), np.float32),
                         out=np.zeros(3, np.uint32))["out"]
    assert list(got) == [37, 5, 3]


# -- what the compiler reports --------------------------------------------------------------------------

def test_bindings_and_features_are_reported():
    assert scalar_mix.features == frozenset()
    assert atomics.bindings[2].element == "atomic<u32>"
    assert [b.access for b in atomics.bindings] == ["read", "read", "read_write", "read_write", "read_write"]


def test_reserved_wgsl_names_are_renamed(device):
    from helpers import load_source
    ns = load_source('''
@kernel(workgroup_size=(64,))
def uses_keywords(loop: Array[f32], select: RW[Array[f32]]):
    var = gpu.global_id().x
    let = loop[var] * 2.0
    select[var] = gpu.select(let, 1.0, let > 100.0)
''')
    x = np.arange(64, dtype=np.float32)
    got = ns["uses_keywords"].launch((1,), loop=x, select=np.zeros(64, np.float32))["select"]
    np.testing.assert_array_equal(got, np.where(x * 2 > 100, 1.0, x * 2))


def test_every_wgsl_function_the_registry_calls_is_a_name_variables_avoid():
    """A Python local named like a WGSL function the kernel calls would hide it in WGSL: such names
    are renamed (wgsl_text.RESERVED), so the list must hold every function the registry emits."""
    from dsl import BUILTINS
    from dsl.wgsl_text import RESERVED
    called = [b.wgsl for b in BUILTINS.values() if b.wgsl.isidentifier() and b.category != "invocation"]
    assert len(called) > 60 and [w for w in called if w not in RESERVED] == []


@kernel(workgroup_size=("WG",))
def reduce_rows(m: Array[f32], out: RW[Array[f32]], cols: u32, WG: Const[u32] = 64):
    scratch = gpu.shared(f32, WG)
    row = gpu.workgroup_id().x
    acc = f32(0.0)
    big = f32(-1.0e30)
    for c in range(gpu.local_id().x, cols, WG):
        acc += m[row * cols + c]
        big = max(big, m[row * cols + c])
    total = gpu.workgroup_sum(scratch, acc)
    top = gpu.workgroup_max(scratch, big)
    if gpu.local_id().x == 0:
        out[2 * row] = total
        out[2 * row + 1] = top


@pytest.mark.parametrize("wg", [32, 64, 256])
def test_workgroup_sum_and_max(device, wg):
    m = RNG.standard_normal((5, 777)).astype(np.float32)
    got = reduce_rows.launch((5,), m=m, out=np.zeros(10, np.float32), cols=777, WG=wg)["out"]
    np.testing.assert_allclose(got[0::2], m.sum(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got[1::2], m.max(1))


@kernel(workgroup_size=("WG",))
def reduce_four_rows(m: Array[vec4f], out: RW[Array[vec4f]], cols: u32, WG: Const[u32] = 64):
    """Vector reductions: component r of m[c] belongs to row r, so one tree sums four rows."""
    scratch = gpu.shared(vec4f, WG)
    acc = vec4f(0.0)
    big = vec4f(-1.0e30)
    for c in range(gpu.local_id().x, cols, WG):
        acc += m[c]
        big = max(big, m[c])
    total = gpu.workgroup_sum(scratch, acc)
    top = gpu.workgroup_max(scratch, big)
    if gpu.local_id().x == 0:
        out[0] = total
        out[1] = top


@pytest.mark.parametrize("wg", [32, 256])
def test_workgroup_sum_and_max_of_vectors(device, wg):
    m = RNG.standard_normal((333, 4)).astype(np.float32)
    got = reduce_four_rows.launch((1,), m=m, out=np.zeros((2, 4), np.float32), cols=333, WG=wg)["out"]
    np.testing.assert_allclose(got[0], m.sum(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got[1], m.max(0))


@kernel(workgroup_size=(64,))
def ignores_a_parameter(unused: Array[f32], out: RW[Array[f32]], also_unused: u32):
    out[gpu.global_id().x] = 2.0


def test_a_parameter_the_body_never_reads_still_binds(device):
    got = ignores_a_parameter.launch((1,), unused=np.zeros(3, np.float32), out=np.zeros(64, np.float32),
                                     also_unused=7)["out"]
    assert (got == 2.0).all()


@kernel(workgroup_size=(64,))
def four_rows(m: Array[f32], out: RW[Array[f32]], cols: u32):
    """Private arrays: four running sums per invocation, one per row it owns."""
    acc = gpu.array(f32, 4)
    i = gpu.global_id().x
    for c in range(cols):
        for r in range(4):
            acc[r] += m[(4 * i + r) * cols + c]
    if i % 2 == 0:
        scratch = gpu.array(vec2f, 3)  # declared in a branch: zero-filled each time it runs
        scratch[1].y = 5.0
        acc[0] += scratch[1].y + scratch[0].x
    for r in range(4):
        out[4 * i + r] = acc[r]


@kernel(workgroup_size=(64,))
def rows_at_once(m: Array[f32], out: RW[Array[f32]], cols: u32, R: Const[u32] = 2):
    """gpu.static_range over a Const: R copies of the body, r constant in each."""
    acc = vec4f(0.0)
    i = gpu.global_id().x
    for c in range(cols):
        for r in gpu.static_range(R):
            row = R * i + r
            acc[r] += m[row * cols + c]
    for r in gpu.static_range(R):
        out[R * i + r] = acc[r]


@pytest.mark.parametrize("rows", [1, 2, 4])
def test_static_range_over_a_const(device, rows):
    m = RNG.standard_normal((64 * rows, 7)).astype(np.float32)
    kern = rows_at_once.specialize(R=rows)  # the count shapes the text: specializing recompiles
    assert kern.wgsl.count(f"acc[{rows - 1}u]") == 3 and f"acc[{rows}u]" not in kern.wgsl  # acc[r] += ..., out = acc[r]
    got = kern.launch((1,), m=m, out=np.zeros(64 * rows, np.float32), cols=7)["out"]
    np.testing.assert_allclose(got, m.sum(1), rtol=1e-5, atol=1e-5)
    assert rows_at_once.launch((1,), m=m, out=np.zeros(64 * rows, np.float32), cols=7, R=rows)["out"].tolist() == \
        got.tolist()


def test_private_arrays(device):
    m = RNG.standard_normal((256, 13)).astype(np.float32)
    got = four_rows.launch((1,), m=m, out=np.zeros(256, np.float32), cols=13)["out"]
    want = m.sum(1)
    want[0::8] += 5.0  # row 4i for even i
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# -- what WGSL's constant evaluation would reject keeps its run-time meaning ----------------------------

@kernel(workgroup_size=(64,))
def constant_divisors(u: Array[u32], a: Array[i32], out_u: RW[Array[u32]], out_i: RW[Array[i32]]):
    i = gpu.global_id().x
    if i < len(u):
        y = u[i]
        out_u[4 * i] = y // 0
        out_u[4 * i + 1] = y % 0
        v = vec2u(y, y + 1) // vec2u(0, 3)
        out_u[4 * i + 2] = v.x + v.y
        for r in gpu.static_range(2):  # r is the constant 0, then 1
            out_u[4 * i + 3] += y // r
        out_i[2 * i] = a[i] // 0
        out_i[2 * i + 1] = a[i] % 0


def test_division_by_a_constant_zero_keeps_x_over_0_is_x(device):
    u = RNG.integers(0, 2**32, N, dtype=np.uint64).astype(np.uint32)
    a = RNG.integers(-2**31, 2**31, N, dtype=np.int64).astype(np.int32)
    out = constant_divisors.launch(groups(N), u=u, a=a, out_u=np.zeros(4 * N, np.uint32),
                                   out_i=np.zeros(2 * N, np.int32))
    ou, oi = out["out_u"].reshape(N, 4).astype(np.uint64), out["out_i"].reshape(N, 2)
    u64 = u.astype(np.uint64)
    np.testing.assert_array_equal(ou[:, 0], u64)  # x / 0 == x
    np.testing.assert_array_equal(ou[:, 1], 0)  # x % 0 == 0
    np.testing.assert_array_equal(ou[:, 2], (u64 + (u64 + 1) % 2**32 // 3) % 2**32)
    np.testing.assert_array_equal(ou[:, 3], (2 * u64) % 2**32)
    np.testing.assert_array_equal(oi[:, 0], a)
    np.testing.assert_array_equal(oi[:, 1], 0)


@kernel(workgroup_size=(64,))
def const_operands(u: Array[u32], out: RW[Array[u32]], D: Const[u32] = 0, S: Const[u32] = 33,
                   K: Const[u32] = 1):
    i = gpu.global_id().x
    if i < len(u):
        out[3 * i] = u[i] // D  # WGSL would evaluate D's expressions when the pipeline is made
        out[3 * i + 1] = u[i] << S  # and reject a zero divisor or a shift of 32 or more
        acc = gpu.array(u32, 2)
        acc[K] = u[i]
        out[3 * i + 2] = acc[1]


@pytest.mark.parametrize("d,s", [(0, 33), (7, 3)])
def test_const_parameters_keep_their_run_time_meaning(device, d, s):
    u = RNG.integers(0, 2**32, N, dtype=np.uint64).astype(np.uint32)
    got = const_operands.launch(groups(N), u=u, out=np.zeros(3 * N, np.uint32), D=d, S=s)["out"].reshape(N, 3)
    u64 = u.astype(np.uint64)
    np.testing.assert_array_equal(got[:, 0], u64 if d == 0 else u64 // d)
    np.testing.assert_array_equal(got[:, 1], (u64 << (s % 32)) % 2**32)
    np.testing.assert_array_equal(got[:, 2], u)


@kernel(workgroup_size=(64,))
def constant_vectors(u: Array[u32], x: Array[f32], out: RW[Array[u32]], outf: RW[Array[f32]]):
    i = gpu.global_id().x
    if i < len(u):
        q = vec2i(-2147483647 - 1, 7) // vec2i(-1, 0)  # MIN / -1 wraps to MIN; 7 / 0 is 7
        out[4 * i] = gpu.bitcast(u32, q.x) + u32(q.y)
        out[4 * i + 1] = (vec2u(3, 1) << vec2u(31, 4)).x  # 3 << 31 wraps
        out[4 * i + 2] = gpu.extract_bits(u[i], 30, 9)  # bits 30 and 31: the count is clamped
        out[4 * i + 3] = gpu.bitcast(u32, gpu.bitcast(f32, u32(0xff800000)))  # -inf, made at run time
        outf[2 * i] = gpu.clamp(x[i], 2.0, 1.0)  # low above high: min(max(x, 2), 1)
        outf[2 * i + 1] = gpu.bitcast(f32, u32(0xff800000))


def test_constant_vectors_and_arguments_fold_with_run_time_meanings(device):
    u = RNG.integers(0, 2**32, N, dtype=np.uint64).astype(np.uint32)
    x = RNG.uniform(-4, 4, N).astype(np.float32)
    out = constant_vectors.launch(groups(N), u=u, x=x, out=np.zeros(4 * N, np.uint32), outf=np.zeros(2 * N, np.float32))
    o, of = out["out"].reshape(N, 4), out["outf"].reshape(N, 2)
    np.testing.assert_array_equal(o[:, 0], 2**31 + 7)
    np.testing.assert_array_equal(o[:, 1], 2**31)
    np.testing.assert_array_equal(o[:, 2], u >> 30)
    np.testing.assert_array_equal(o[:, 3], 0xff800000)
    np.testing.assert_array_equal(of[:, 0], 1.0)
    assert np.isneginf(of[:, 1]).all()


def test_four_hundred_chained_additions_run(device):
    from helpers import load_source
    ns = load_source("@kernel(workgroup_size=(64,))\ndef k(x: Array[f32], out: RW[Array[f32]]):\n"
                     "    i = gpu.global_id().x\n    v = x[i]\n    out[i] = " + " + ".join(["v"] * 400) + "\n")
    x = RNG.integers(-8, 8, 64).astype(np.float32)
    np.testing.assert_array_equal(ns["k"].launch((1,), x=x, out=np.zeros(64, np.float32))["out"], 400 * x)


# -- names WGSL would see twice ------------------------------------------------------------------------

@struct
class Keywords:
    loop: u32
    loop_py: u32


@struct
class Pt:
    a: f32


@kernel(workgroup_size=(64,))
def clashing_names(loop: Array[u32], loop_py: Array[u32], ks: RW[Array[Keywords]], ps: RW[Array[Pt]]):
    i = gpu.global_id().x
    select = loop[i]
    select_py = loop_py[i]
    k = ks[i]
    k.loop = select + k.loop_py
    k.loop_py = select_py
    ks[i] = k
    Pt = f32(select)  # a local named like the struct: in WGSL it would hide the type `var p: Pt` spells
    p = ps[i]
    p.a = Pt
    ps[i] = p
    flags = gpu.shared(bool_, 64)  # a workgroup array of bool: 4 bytes each
    flags[gpu.local_id().x] = select > 3


def test_python_names_that_become_the_same_wgsl_name_are_kept_apart(device):
    a = np.arange(64, dtype=np.uint32)
    b = np.arange(64, dtype=np.uint32) * 10
    ks = np.zeros(64, Keywords.__dsl_struct__.dtype)
    ks["loop_py"] = 5
    out = clashing_names.launch((1,), loop=a, loop_py=b, ks=ks, ps=np.zeros(64, Pt.__dsl_struct__.dtype))
    np.testing.assert_array_equal(out["ks"]["loop"], a + 5)
    np.testing.assert_array_equal(out["ks"]["loop_py"], b)
    np.testing.assert_array_equal(out["ps"]["a"], a)


@kernel(workgroup_size=(64,))
def reduction_in_elif(x: Array[f32], out: RW[Array[f32]], n: u32):
    scratch = gpu.shared(f32, 64)
    t = gpu.local_id().x
    if n == 0:
        out[0] = -1.0
    elif gpu.workgroup_sum(scratch, x[t]) > 10.0:  # its tree is emitted inside the else, where it runs
        out[0] = 1.0
    else:
        out[0] = 2.0


@pytest.mark.parametrize("n,scale,want", [(0, 1.0, -1.0), (1, 1.0, 1.0), (1, 0.01, 2.0)])
def test_a_workgroup_reduction_in_an_elif_runs_there(device, n, scale, want):
    x = np.full(64, scale, np.float32)  # sums to 64 or 0.64
    got = reduction_in_elif.launch((1,), x=x, out=np.zeros(1, np.float32), n=n)["out"]
    assert got[0] == want
