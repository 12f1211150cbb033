"""The GGUF reader: equal to gguf-py's GGUFReader on every test file, reading only the header
prefix, and a GGUFError with the byte offset for every kind of bad input."""
import random
import struct
import tracemalloc

import pytest
from gguf import GGUFReader

from gguf_files import every_value_type, raw_gguf
from host.byte_source import ByteSource, FileSource
from host.demo_model import write_random_model
from host.gguf import GGUFError, read_gguf, read_tensor_bytes
from host.model_config import ConfigError, gpt_oss_config


class MemorySource(ByteSource):
    """Bytes in memory, counting what is read."""

    def __init__(self, data: bytes, name="memory"):
        self.data, self.name, self.size, self.bytes_read = data, name, len(data), 0

    def read(self, offset, length):
        self._check_range(offset, length)
        self.bytes_read += length
        return self.data[offset:offset + length]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("gguf")
    return {"every_value_type": every_value_type(d / "types.gguf"), "demo": write_random_model(d / "demo.gguf")}


def reader_metadata(r: GGUFReader) -> dict:
    out = {}
    for key, f in r.fields.items():
        if key.startswith("GGUF."):
            continue
        value = f.contents()
        out[key] = value
    return out


@pytest.mark.parametrize("name", ["every_value_type", "demo"])
def test_table_and_metadata_equal_gguf_py(files, name):
    ours = read_gguf(str(files[name]))
    theirs = GGUFReader(files[name])
    assert ours.tensor_data_offset == theirs.data_offset
    assert ours.alignment == theirs.alignment
    assert [(t.name, t.type_id, list(t.dims), t.offset, t.nbytes) for t in ours.tensors] == \
        [(t.name, int(t.tensor_type), [int(x) for x in t.shape], int(t.data_offset), int(t.n_bytes))
         for t in theirs.tensors]
    want = reader_metadata(theirs)
    assert set(ours.metadata) == set(want)
    for key, value in want.items():
        got = ours.metadata[key]
        if isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-7), key
        elif isinstance(value, list) and value and isinstance(value[0], float):
            assert got == pytest.approx(value), key
        else:
            assert got == value, key


def test_every_value_type_is_read(files):
    g = read_gguf(str(files["every_value_type"]))
    m = g.metadata
    assert (m["t.u8"], m["t.i8"], m["t.u16"], m["t.i16"], m["t.u32"], m["t.i32"]) == (200, -100, 60000, -30000,
                                                                                       4000000000, -2000000000)
    assert (m["t.f32"], m["t.bool"], m["t.string"], m["t.u64"], m["t.i64"], m["t.f64"]) == (1.5, True, "héllo",
                                                                                           2**63 + 5, -2**62, 2.25)
    assert m["t.array_str"] == ["a", "", "ccc"] and m["t.array_i32"] == [1, -2, 3]
    assert {t.type_name for t in g.tensors} == {"F32", "F16", "Q8_0", "MXFP4", "BF16"}
    assert g.metadata_types["t.array_str"] == "array" and g.metadata_types["t.f64"] == "f64"


def test_tensor_bytes_equal_gguf_py(files):
    theirs = {t.name: t for t in GGUFReader(files["demo"]).tensors}
    with FileSource(files["demo"]) as src:
        g = read_gguf(src)
        for t in g.tensors:
            assert read_tensor_bytes(src, t) == theirs[t.name].data.tobytes(), t.name


def test_reads_only_the_header_prefix(files):
    data = files["demo"].read_bytes()
    src = MemorySource(data)
    g = read_gguf(src, first_read=4096)
    assert src.bytes_read < 2 * g.tensor_data_offset + 4096 < len(data) // 10


def test_version_2_and_unknown_tensor_types():
    data = raw_gguf(version=2, tensors=(("known", (32,), 0, 0), ("odd", (7, 3), 99, 128)))
    g = read_gguf(MemorySource(data))
    assert g.version == 2
    odd = g.tensor("odd")
    assert (odd.type_name, odd.nbytes) == ("type99", None)
    with pytest.raises(GGUFError, match="ggml type 99, which this reader does not know"):
        read_tensor_bytes(MemorySource(data), odd)


def test_model_config_from_demo(files):
    g = read_gguf(str(files["demo"]))
    c = gpt_oss_config(g.metadata)
    assert (c.n_layer, c.d_model, c.n_head, c.n_kv, c.head_dim, c.n_expert, c.n_expert_used) == (4, 128, 8, 2, 32, 8, 4)
    assert (c.rope_scaling_type, c.rope_scaling_factor, c.rope_original_context, c.rope_base) == ("yarn", 32.0, 4096,
                                                                                                 150000.0)
    assert c.vocab_size == g.tensor("token_embd.weight").dims[1]
    md = dict(g.metadata)
    del md["gpt-oss.attention.sliding_window"]
    with pytest.raises(ConfigError, match="missing metadata key\\(s\\): gpt-oss.attention.sliding_window"):
        gpt_oss_config(md)


# -- bad input -----------------------------------------------------------------------------------------

KV_U32 = 4
HEADER = 24  # magic, version, tensor count, kv count
K_VALUE = HEADER + 8 + 1 + 4  # where the value of a kv entry keyed "k" starts
TENSOR0 = HEADER + (8 + len("general.alignment") + 4 + 4)  # the first tensor info, after the default kv
TENSOR1 = TENSOR0 + (8 + 1 + 4 + 8 + 4 + 8)  # the second, after a one-letter, one-dimension first


@pytest.mark.parametrize("data,message,offset", [
    (b"GGUX" + bytes(60), "not a GGUF file: the magic is b'GGUX'", 0),
    (raw_gguf(version=1), "unsupported GGUF version 1", 4),
    (raw_gguf(version=4), "unsupported GGUF version 4", 4),
    (raw_gguf()[:10], "file truncated", 8),
    (b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0) + bytes(64), "claims 1099511627776 tensors", 8),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**60) + bytes(64), "claims 1152921504606846976 metadata entries", 16),
    (raw_gguf(kv=(("k", 8, struct.pack("<Q", 2**50)),)), "claims 1125899906842624 bytes", K_VALUE),
    (raw_gguf(kv=(("k", 9, struct.pack("<IQ", 4, 2**40)),)), "claims 1099511627776 elements", K_VALUE),
    (raw_gguf(kv=(("k", 9, struct.pack("<IQ", 9, 1)),)), "array of arrays", K_VALUE),
    (raw_gguf(kv=(("k", 13, b""),)), "unknown value type 13", K_VALUE - 4),
    (raw_gguf(tensors=(("t", (1, 1, 1, 1, 1), 0, 0),)), "has 5 dimensions", TENSOR0 + 8 + 1),
    (raw_gguf(tensors=(("t", (32,), 0, 1 << 20),)), "past the end of the file", TENSOR0),
    (raw_gguf(tensors=(("t", (32,), 0, 8),)), "not a multiple of the alignment 32", TENSOR0),
    (raw_gguf(tensors=(("t", (33,), 8, 0),)), "not a multiple of its block of 32", TENSOR0),
    (raw_gguf(tensors=(("a", (32,), 0, 0), ("b", (32,), 0, 64))), "overlaps the tensor before it", TENSOR1),
    (raw_gguf(tensors=(("a", (32,), 0, 0), ("a", (32,), 0, 128))), "duplicate tensor name 'a'", TENSOR1),
    (raw_gguf(kv=(("general.alignment", KV_U32, struct.pack("<I", 24)),)), "alignment must be a power of two", None),
    (raw_gguf(tensors=(("x" * 70, (32,), 0, 0),)), "GGUF allows fewer than 64", TENSOR0),
])
def test_bad_input_raises_one_gguf_error_with_offset(data, message, offset):
    with pytest.raises(GGUFError) as info:
        read_gguf(MemorySource(data, "bad.gguf"))
    assert message in str(info.value)
    assert str(info.value).startswith("bad.gguf: ")
    if offset is not None:
        assert info.value.offset == offset, str(info.value)


def test_truncation_at_every_byte_of_the_header(files):
    data = files["every_value_type"].read_bytes()
    header_end = read_gguf(MemorySource(data)).tensor_data_offset
    for cut in range(header_end + 1):
        with pytest.raises(GGUFError):
            read_gguf(MemorySource(data[:cut]))


def test_fuzz_mutated_files_give_gguf_error_or_success(files):
    """2000 mutations of valid files: flipped bytes, overwritten counts and lengths, truncations,
    insertions. Every outcome is a clean GGUFError or a parse; memory stays within bounds of the file."""
    rng = random.Random(1234)
    seeds = [files["every_value_type"].read_bytes(), raw_gguf(version=2, tensors=(("a", (32, 2), 0, 0),))]
    outcomes = {"ok": 0, "error": 0}
    tracemalloc.start()
    try:
        for case in range(2000):
            data = bytearray(rng.choice(seeds))
            header = min(len(data), 2048)
            kind = case % 4
            if kind == 0:
                for _ in range(rng.randint(1, 8)):
                    data[rng.randrange(header)] = rng.randrange(256)
            elif kind == 1:  # a plausible field overwritten with a huge or odd number
                pos = rng.randrange(max(1, header - 8))
                data[pos:pos + 8] = struct.pack("<Q", rng.choice([2**64 - 1, 2**63, 2**32, 2**31 - 1, 65, 5, 0]))
            elif kind == 2:
                del data[rng.randrange(len(data)):]
            else:
                pos = rng.randrange(header)
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            tracemalloc.reset_peak()
            try:
                g = read_gguf(MemorySource(bytes(data)))
                assert all(t.offset + (t.nbytes or 0) <= len(data) for t in g.tensors)
                outcomes["ok"] += 1
            except GGUFError:
                outcomes["error"] += 1
            peak = tracemalloc.get_traced_memory()[1]
            assert peak < 64 * len(data) + (1 << 20), f"case {case}: {peak} bytes traced for a {len(data)}-byte file"
    finally:
        tracemalloc.stop()
    assert outcomes["error"] > 500 and outcomes["ok"] > 50, outcomes
