"""The browser's GGUF parser, run by `node --test` on the fixture files of the Python tests, must
give the same table, metadata and errors (message and byte offset) as host/gguf.py."""
import json
import shutil
import subprocess
from pathlib import Path

from gguf_files import every_value_type, raw_gguf
from host.demo_model import write_demo_model
from host.gguf import GGUFError, read_gguf

ROOT = Path(__file__).resolve().parent.parent
BIG = 2**53


def jsonable(value):
    """Metadata as the JS parser returns it: 64-bit integers beyond 2**53 as decimal strings."""
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > BIG - 1:
        return str(value)
    return value


def test_node_parser_matches_python(tmp_path):
    node = shutil.which("node")
    assert node, "node is missing: apt-get install nodejs"
    files = {"types.gguf": every_value_type(tmp_path / "types.gguf"), "demo.gguf": write_demo_model(tmp_path / "demo.gguf")}
    (tmp_path / "v2.gguf").write_bytes(raw_gguf(version=2, tensors=(("a", (32, 2), 0, 0), ("odd", (7,), 99, 256))))
    files["v2.gguf"] = tmp_path / "v2.gguf"
    for name, path in files.items():
        g = read_gguf(str(path))
        (tmp_path / name.replace(".gguf", ".json")).write_text(json.dumps({
            "version": g.version, "alignment": g.alignment, "tensor_data_offset": g.tensor_data_offset,
            "metadata": {k: jsonable(v) for k, v in g.metadata.items()},
            "tensors": [{"name": t.name, "type_name": t.type_name, "type_id": t.type_id, "dims": list(t.dims),
                         "offset": t.offset, "nbytes": t.nbytes} for t in g.tensors]}))
    demo = files["demo.gguf"].read_bytes()
    bad = {"magic.bad": b"GGUX" + demo[4:], "truncated.bad": demo[:5000], "version.bad": raw_gguf(version=7),
           "dims.bad": raw_gguf(tensors=(("t", (1, 1, 1, 1, 1), 0, 0),)),
           "offset.bad": raw_gguf(tensors=(("t", (32,), 0, 1 << 20),))}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        try:
            read_gguf(str(tmp_path / name))
            raise AssertionError(f"{name} parsed")
        except GGUFError as exc:
            message = str(exc).split(": ", 1)[1].rsplit(" (at byte", 1)[0]
            (tmp_path / f"{name}.json").write_text(json.dumps({"error": message.split(" b'")[0][:40], "offset": exc.offset}))
    out = subprocess.run([node, "--test", str(ROOT / "tests" / "js" / "gguf.test.mjs")], capture_output=True,
                         text=True, env={"GGUF_FIXTURES": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "# pass 8" in out.stdout and "# fail 0" in out.stdout, out.stdout
