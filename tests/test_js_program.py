"""The page's JavaScript executor (site/js/program.js) runs the very program the native runtime
runs, under node on Dawn with Chromium's SwiftShader (tests/js/run_program.mjs): its logits against
OpenAI's torch reference and the native runtime's, its greedy tokens, and what crosses the bus."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from host.demo_model import write_random_model
from host.gguf import read_gguf
from host.gpt_oss import Weights, decode_program, default_limits
from host.model_config import gpt_oss_config
from host.program import Program
from host.runtime import Model
from js_program import run_js_program
from oracle_models import random_tokens, top2_gap, torch_logits, write_test_model

pytestmark = pytest.mark.oracle


def program_of(path, n_ctx):
    g = read_gguf(str(path))
    return decode_program(gpt_oss_config(g.metadata), Weights.of(g), default_limits(), n_ctx=n_ctx)


def test_js_logits_match_torch_and_native(device, tmp_path):
    model = write_test_model(tmp_path / "m", seed=31, n_expert=8, top_k=4)
    tokens = random_tokens(model, 20, seed=4)
    js = run_js_program(program_of(model.gguf, 64), model.gguf, tmp_path, tokens, logits=True)
    assert js["adapter"] and "subgroups" in js["features"]
    want = torch_logits(model, tokens)
    assert np.abs(js["logits"] - want).max() < 1e-3
    native = Model.load(str(model.gguf), n_ctx=64).logits(tokens)
    assert np.abs(js["logits"] - native).max() < 1e-3
    assert js["tokens"] == native.argmax(1).tolist()


def test_js_greedy_decoding_on_the_demo_model(device, tmp_path):
    """The demo model's MXFP4 experts: SwiftShader has no shader-f16, so the JS executor runs the f32
    variant; the native one is restricted to it too, and both give the same tokens."""
    path = write_random_model(tmp_path / "demo.gguf")
    prompt = [5, 40, 77]
    js = run_js_program(program_of(path, 64), path, tmp_path, prompt, generate=10)
    assert "shader-f16" not in js["features"]
    m = Model.load(str(path), n_ctx=64, features={"subgroups"})
    native = list(m.generate(prompt, max_tokens=10))
    logits = m.logits(prompt + native[:-1])[len(prompt) - 1:]
    got = js["tokens"][len(prompt) - 1:]
    first = next((i for i, (a, b) in enumerate(zip(got, native)) if a != b), len(native))
    assert first == len(native) or top2_gap(logits)[first] < 0.01, (got, native)
    assert js["traffic"]["bytesWritten"] == 9 * 4 and js["traffic"]["bytesRead"] == 9 * 4  # 9 decode steps
    assert js["traffic"]["submits"] == 9 and js["dispatches_per_token"] == m.runner.dispatches_per_token


def test_js_preflight_refuses_a_device_before_reading_a_byte(tmp_path):
    """site/js/program.js checks the device against the program's largest binding, largest buffer and
    kernel features (the page says so before loading): the figures are the Python program's own."""
    program = program_of(write_random_model(tmp_path / "demo.gguf"), 64)
    binding, buffer = program.largest_binding, max(b.bytes for b in program.buffers.values())
    text = json.loads(program.dumps())
    key = next(k for k, vs in text["kernels"].items() if any("shader-f16" in v["features"] for v in vs))
    text["kernels"][key] = [v for v in text["kernels"][key] if "shader-f16" in v["features"]]  # f16 only
    Program.from_json(text).validate()
    (tmp_path / "program.json").write_text(json.dumps(text))
    fits = {"maxStorageBufferBindingSize": binding, "maxBufferSize": buffer}
    cases = [{"limits": fits, "features": ["shader-f16"]},
             {"limits": {**fits, "maxStorageBufferBindingSize": binding - 4}, "features": ["shader-f16"]},
             {"limits": {**fits, "maxBufferSize": buffer - 4}, "features": ["shader-f16", "subgroups"]},
             {"limits": fits, "features": ["subgroups"]}]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    run = subprocess.run([shutil.which("node"), "tests/js/preflight.mjs", str(tmp_path / "program.json"),
                          str(tmp_path / "cases.json")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["problems"] == [
        [],
        [f"a binding of {binding} bytes; this device allows {binding - 4} (maxStorageBufferBindingSize)"],
        [f"a buffer of {buffer} bytes; this device allows {buffer - 4} (maxBufferSize)"],
        [f"kernel {key} needs shader-f16"]]
    assert out["thrown"] == {"message": "this model needs " + out["problems"][1][0], "kind": "limits"}


def test_js_memory_holds_a_window_while_loading_never_the_file(device, tmp_path):
    """Live JS memory (heap and ArrayBuffers after a collection, sampled at every chunk) while the
    executor streams 20 times its window of weights: it may grow by about one window, not by the file."""
    path = write_random_model(tmp_path / "demo.gguf")
    program, window = program_of(path, 64), 64 << 10
    weights = program.bytes_by_role()["weight"]
    assert weights > 20 * window
    js = run_js_program(program, path, tmp_path, [1], generate=1, window=window)
    memory = js["load_memory"]
    assert memory["samples"] >= weights // window
    assert memory["peak"] - memory["before"] < window + (256 << 10), memory
