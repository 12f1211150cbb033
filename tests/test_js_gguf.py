"""The browser's GGUF parser, run by `node --test` on the fixture files of the Python tests, must
give the same table, metadata and errors (message and byte offset) as host/gguf.py; and both must
read a gpt-oss-sized vocabulary (~650k strings) exactly."""
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from gguf_files import (PROTOTYPE_NAMES, VOCABULARY_MERGES, VOCABULARY_TOKENS, every_value_type, prototype_keys,
                        raw_gguf, vocabulary, vocabulary_strings)
from host.demo_model import write_random_model
from host.gguf import GGUFError, read_gguf

ROOT = Path(__file__).resolve().parent.parent
BIG = 2**53
SMALL_READ = 4096  # the Python reader is also run with a small first read: the prefix grows inside arrays


def jsonable(value):
    """Metadata as the JS parser returns it: 64-bit integers beyond 2**53 as decimal strings."""
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > BIG - 1:
        return str(value)
    return value


def python_table(path: Path, first_read: int = 1 << 16) -> dict:
    g = read_gguf(str(path), first_read)
    return {"version": g.version, "alignment": g.alignment, "tensor_data_offset": g.tensor_data_offset,
            "metadata": {k: jsonable(v) for k, v in g.metadata.items()},
            "tensors": [{"name": t.name, "type_name": t.type_name, "type_id": t.type_id, "dims": list(t.dims),
                         "offset": t.offset, "nbytes": t.nbytes} for t in g.tensors]}


def python_error(path: Path, first_read: int = 1 << 16) -> dict:
    with pytest.raises(GGUFError) as caught:
        read_gguf(str(path), first_read)
    exc = caught.value
    return {"message": str(exc).removeprefix(f"{exc.source}: "), "offset": exc.offset}


def _bytes(raw: bytes) -> bytes:
    return struct.pack("<Q", len(raw)) + raw


def _string_array(*items: bytes) -> bytes:
    return struct.pack("<IQ", 8, len(items)) + b"".join(items)


def _u32(key: str, value: int) -> tuple:
    return key, 4, struct.pack("<I", value)


ALIGN = "general.alignment"
BAD_FILES = {  # name -> bytes: the seed's corners, then the ones where the two readers disagreed
    "version.bad": raw_gguf(version=7),
    "dims.bad": raw_gguf(tensors=(("t", (1, 1, 1, 1, 1), 0, 0),)),
    "offset.bad": raw_gguf(tensors=(("t", (32,), 0, 1 << 20),)),
    "alignment-u64.bad": raw_gguf(kv=((ALIGN, 10, struct.pack("<Q", 32)),)),
    "alignment-i32.bad": raw_gguf(kv=((ALIGN, 5, struct.pack("<i", 32)),)),
    "alignment-f32.bad": raw_gguf(kv=((ALIGN, 6, struct.pack("<f", 32.0)),)),
    "alignment-array.bad": raw_gguf(kv=((ALIGN, 9, struct.pack("<IQ", 10, 1) + struct.pack("<Q", 2**60)),)),
    "alignment-48.bad": raw_gguf(kv=(_u32(ALIGN, 48),)),
    "alignment-0.bad": raw_gguf(kv=(_u32(ALIGN, 0),)),
    "duplicate-constructor.bad": raw_gguf(kv=(_u32("a", 1), _u32("constructor", 1), _u32("constructor", 2))),
    "duplicate-proto.bad": raw_gguf(kv=(_u32("__proto__", 1), _u32("__proto__", 2))),
    "duplicate-quoted-name.bad": raw_gguf(tensors=(("it's", (32,), 0, 0), ("it's", (32,), 0, 128))),
    "long-name.bad": raw_gguf(tensors=(("n" * 70, (32,), 0, 0),)),
    "utf8-in-array.bad": raw_gguf(kv=(("t.s", 9, _string_array(_bytes(b"ok"), _bytes("é".encode()),
                                                                 _bytes(b"\xc3("))),)),
    "string-length-in-array.bad": raw_gguf(kv=(("t.s", 9, _string_array(_bytes(b"ok"), struct.pack("<Q", 1 << 40))),)),
}


@pytest.fixture(scope="module")
def vocabulary_file(tmp_path_factory):
    return vocabulary(tmp_path_factory.mktemp("vocabulary") / "vocabulary.gguf")


def test_python_reader_reads_a_gpt_oss_sized_vocabulary(vocabulary_file):
    tokens, merges = vocabulary_strings()
    assert (len(tokens), len(merges)) == (VOCABULARY_TOKENS, VOCABULARY_MERGES)
    for first_read in (1 << 16, SMALL_READ):
        g = read_gguf(str(vocabulary_file), first_read)
        assert g.metadata["tokenizer.ggml.tokens"] == tokens
        assert g.metadata["tokenizer.ggml.merges"] == merges
        assert g.metadata["tokenizer.ggml.token_type"] == [i % 6 for i in range(VOCABULARY_TOKENS)]
        # the prefix grows by doubling: it ends below twice the header, short of the file's end
        assert g.header_bytes_read <= max(first_read, 2 * g.tensor_data_offset) and g.header_bytes_read < g.size


def test_node_parser_matches_python(tmp_path, vocabulary_file):
    node = shutil.which("node")
    assert node, "node is missing: apt-get install nodejs"
    files = {"types.gguf": every_value_type(tmp_path / "types.gguf"), "demo.gguf": write_random_model(tmp_path / "demo.gguf"),
             "prototype.gguf": prototype_keys(tmp_path / "prototype.gguf"), "vocabulary.gguf": vocabulary_file}
    for name, data in {"v2.gguf": raw_gguf(version=2, tensors=(("a", (32, 2), 0, 0), ("odd", (7,), 99, 256))),
                       "alignment-64.gguf": raw_gguf(kv=(_u32(ALIGN, 64),), alignment=64,
                                                     tensors=(("a", (32,), 0, 0), ("b", (32,), 0, 128)))}.items():
        files[name] = tmp_path / name
        files[name].write_bytes(data)
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    for name, path in files.items():
        table = python_table(path)
        assert python_table(path, SMALL_READ) == table
        (fixtures / name).symlink_to(path)
        (fixtures / name.replace(".gguf", ".json")).write_text(json.dumps(table))
    assert set(PROTOTYPE_NAMES) <= set(read_gguf(str(files["prototype.gguf"])).metadata)
    assert read_gguf(str(files["alignment-64.gguf"])).alignment == 64

    demo = files["demo.gguf"].read_bytes()
    bad = {"magic.bad": b"GGUX" + demo[4:], "truncated.bad": demo[:5000], **BAD_FILES}
    for name, data in bad.items():
        (fixtures / name).write_bytes(data)
        error = python_error(fixtures / name)
        assert python_error(fixtures / name, SMALL_READ) == error
        (fixtures / f"{name}.json").write_text(json.dumps(error))

    out = subprocess.run([node, "--test", str(ROOT / "tests" / "js" / "gguf.test.mjs")], capture_output=True,
                         text=True, env={"GGUF_FIXTURES": str(fixtures), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(rf"^# pass {len(files) + len(bad)}$", out.stdout, re.M) and "# fail 0" in out.stdout, out.stdout
    print(*re.findall(r"^\s*# (vocabulary\.gguf: parsed in .*)$", out.stdout, re.M))  # pytest -s shows the time
