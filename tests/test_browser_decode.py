"""/gptoss decodes in both browsers: the page runs the program the native runtime runs (the JS
executor on Chromium's SwiftShader, which has no shader-f16, and on Firefox's wgpu over lavapipe,
which has it), and its tokens, logits and text are checked against the native runtime's, OpenAI's
torch reference and openai-harmony's rendering. Also: the HUD's byte count against what the server
sent, a device lost mid-generation, files the page cannot run, and a static host (nginx)."""
import base64
import json
import re
import time
from urllib.parse import quote

import numpy as np
import pytest

from browsers import BROWSERS
from host.demo_model import DEMO_PROMPT
from host.site_builder import build_site
from host.tokenizer import Tokenizer
from host.runtime import Model
from nginx_host import nginx_serving
from odd_servers import odd_server
from oracle_models import random_tokens, top2_gap, torch_logits, write_test_model
from server_process import running_server
from test_browser import SHOTS, results
from test_cli_gguf import pywgsl

pytestmark = pytest.mark.oracle

# What each browser's WebGPU offers here, so the native runtime can be held to the same kernel variants.
FEATURES = {"chromium": {"subgroups"}, "firefox": {"shader-f16"}}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("page-models")
    return {"f32": write_test_model(root / "f32", seed=41, n_expert=8, top_k=4),
            "o200k": write_test_model(root / "o200k", vocabulary="o200k", seed=4)}


@pytest.fixture(scope="module")
def site(tmp_path_factory, models):
    out = build_site(tmp_path_factory.mktemp("site") / "dist", [str(m.gguf) for m in models.values()])
    paths = {name: m.gguf.parent / f"{name}.gguf" for name, m in models.items()}
    for name, m in models.items():
        paths[name].write_bytes(m.gguf.read_bytes())
    demo = out / "models" / "demo.gguf"  # /models/NAME is the server's route: the site's copy is named too
    with running_server(str(demo), *map(str, paths.values()), "--site", str(out)) as (base, _):
        yield {"base": base, "dist": out, "demo": out / "models" / "demo.gguf",
               "url": {name: f"{base}/models/{name}.gguf" for name in models}}


@pytest.fixture(scope="module", params=sorted(BROWSERS))
def browser(request):
    driver = BROWSERS[request.param]()
    driver.name_ = request.param
    yield driver
    driver.quit()


def page(site, **query) -> str:
    return site["base"] + "/gptoss/?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())


def same_until_near_tie(got: list[int], want: list[int], logits: np.ndarray, gap: float = 0.01) -> None:
    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(want))
    assert len(got) == len(want) and (first == len(want) or top2_gap(logits)[first] < gap), (got, want)


def test_the_page_decodes_the_demo_model_as_the_native_runtime_does(site, browser):
    prompt = [5, 40, 77]
    r = results(browser, page(site, tokens="5,40,77", max_tokens=12), "decode-demo", timeout=300)
    assert "error" not in r, r.get("error")
    g = r["generation"]
    assert g["done"] and g["prompt_tokens"] == prompt and g["tok_s"] > 0
    native = Model.load(str(site["demo"]), features=FEATURES[browser.name_])
    want = list(native.generate(prompt, max_tokens=12))
    same_until_near_tie(g["tokens"], want, native.logits(prompt + want[:-1])[len(prompt) - 1:])
    hud = r["telemetry"]
    assert hud["dispatches_per_token"] == native.runner.dispatches_per_token
    assert hud["kv_fill"] == len(prompt) + len(want) - 1 and hud["n_ctx"] == native.n_ctx
    assert hud["gpu_bytes"] > native.program.bytes_by_role()["weight"]
    assert {"index", "tokenizer", "shaders", "weights", "prefill", "decode"} <= set(r["phases"])
    assert r["phases"]["shaders"]["pipelines"] == len(native.program.kernels)
    moe = next(v for k, v in r["variants"].items() if k.startswith("moe_matvec"))
    assert ("shader-f16" in moe) == ("shader-f16" in FEATURES[browser.name_])
    assert len(r["experts"]) == native.config.n_layer and all(len(set(ids)) == 4 for ids in r["experts"])
    assert len(r["attention"]["last"]) == hud["kv_fill"] and abs(sum(r["attention"]["last"]) - 1) < 0.5
    shown = browser.find_element("id", "speed").text
    assert "tokens/s" in shown and f"KV cache {hud['kv_fill']} of {native.n_ctx}" in shown


def test_teacher_forced_logits_in_the_page(site, browser, models):
    """F32 experts: within 1e-3 of torch, as natively. MXFP4 (the demo model): each browser against
    the native runtime held to its kernel variants (f16 arithmetic in Firefox, f32 in Chromium)."""
    model = models["f32"]
    tokens = random_tokens(model, 16, seed=8)
    r = results(browser, page(site, gguf=site["url"]["f32"], tokens=",".join(map(str, tokens)), logits=1),
                "logits-f32", timeout=300)
    assert "error" not in r, r.get("error")
    got = np.frombuffer(base64.b64decode(r["logits"]["base64"]), np.float32).reshape(len(tokens), -1)
    assert np.abs(got - torch_logits(model, tokens)).max() < 1e-3
    demo_tokens = [3, 9, 27, 81, 243, 100, 7]
    r = results(browser, page(site, tokens=",".join(map(str, demo_tokens)), logits=1), "logits-demo", timeout=300)
    got = np.frombuffer(base64.b64decode(r["logits"]["base64"]), np.float32).reshape(len(demo_tokens), -1)
    native = Model.load(str(site["demo"]), features=FEATURES[browser.name_]).logits(demo_tokens)
    assert np.abs(got - native).max() < 2e-2


def test_the_text_shown_is_what_pywgsl_generate_prints(site, browser, models):
    r = results(browser, page(site, gguf=site["url"]["f32"], prompt="ROMEO:", raw=1, max_tokens=16), "text",
                timeout=300)
    assert "error" not in r, r.get("error")
    cli = json.loads(pywgsl("generate", models["f32"].gguf, "--prompt", "ROMEO:", "--raw", "--max-tokens", "16",
                            "--json").stdout)
    assert r["generation"]["tokens"] == cli["tokens"] and r["generation"]["prompt_tokens"] == cli["prompt_tokens"]
    assert r["generation"]["text"] == cli["text"]
    assert browser.execute_script("return document.getElementById('reply').textContent") == cli["text"]


def test_the_page_opens_on_the_demo_model_with_its_prompt_ready(site, browser):
    """No query but max_tokens: the page loads the trained demo model, fills in "ROMEO:" and waits; Start
    writes the native runtime's greedy continuation of it."""
    r = results(browser, page(site, max_tokens=24), "demo-ready", timeout=300)
    assert "error" not in r, r.get("error")
    assert not r.get("generation") and r["config"]["gguf"].endswith("/models/demo.gguf")
    assert browser.execute_script("return document.getElementById('prompt').value") == DEMO_PROMPT
    browser.execute_script("document.getElementById('start').click()")
    deadline = time.time() + 300
    while not (g := browser.execute_script("const r = window.pywgslResults; return r.done && r.generation"))\
            and time.time() < deadline:
        time.sleep(0.25)
    assert g and g["done"], "Start did not finish within 300 s"
    tok = Tokenizer.from_gguf(str(site["demo"]))
    prompt = tok.encode(DEMO_PROMPT)
    assert g["prompt_tokens"] == prompt
    native = Model.load(str(site["demo"]), features=FEATURES[browser.name_])
    want = list(native.generate(prompt, max_tokens=24))
    same_until_near_tie(g["tokens"], want, native.logits(prompt + want[:-1])[len(prompt) - 1:])
    if g["tokens"] == want:
        assert g["text"] == tok.decode(want)
        assert browser.execute_script("return document.getElementById('reply').textContent") == g["text"]


def test_a_real_vocabulary_model_speaks_harmony_in_the_page(site, browser, models):
    import openai_harmony as oh
    from o200k_vocab import harmony_encoding
    model = models["o200k"]
    r = results(browser, page(site, gguf=site["url"]["o200k"], prompt="What is 2 + 2?", reasoning="low",
                              max_tokens=4, raw=0), "o200k", timeout=600)
    assert "error" not in r, r.get("error")
    convo = oh.Conversation.from_messages([
        oh.Message.from_role_and_content(oh.Role.SYSTEM, oh.SystemContent.new().with_reasoning_effort(
            oh.ReasoningEffort.LOW)),
        oh.Message.from_role_and_content(oh.Role.USER, "What is 2 + 2?")])
    prompt = harmony_encoding().render_conversation_for_completion(convo, oh.Role.ASSISTANT)
    g = r["generation"]
    assert g["prompt_tokens"] == prompt
    native = Model.load(str(model.gguf), features=FEATURES[browser.name_])
    assert g["tokens"] == list(native.generate(prompt, max_tokens=4))
    logits = torch_logits(model, prompt + g["tokens"][:-1])[len(prompt) - 1:]
    same_until_near_tie(g["tokens"], logits.argmax(1).tolist(), logits, gap=0.05)


def test_the_hud_counts_the_bytes_the_server_sent(site, browser, models):
    sent = []
    with odd_server(site["demo"], "count", sent) as url:
        r = results(browser, page(site, gguf=url), "bytes", timeout=300)
    assert "error" not in r, r.get("error")
    assert r["telemetry"]["bytes_loaded"] == sum(sent) and sum(sent) >= site["demo"].stat().st_size * 0.9
    assert browser.find_element("id", "bytes").text.startswith(f"{sum(sent)} bytes loaded")
    assert browser.find_element("id", "prompt").get_attribute("value") == r["defaults"]["prompt"]  # ready to start


def test_a_lost_device_is_said_and_the_model_can_be_reloaded(site, browser):
    browser.get(page(site, tokens="1,2", max_tokens=400))
    deadline = time.time() + 300
    while time.time() < deadline:
        g = browser.execute_script("return (window.pywgslResults || {}).generation")
        if g and len(g["tokens"]) >= 3:
            break
        time.sleep(0.2)
    browser.execute_script("window.pywgslDevice.destroy()")
    while time.time() < deadline:
        r = browser.execute_script("return window.pywgslResults")
        if r["done"]:
            break
        time.sleep(0.2)
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{browser.name_}-device-lost.png"))
    assert "The GPU device was lost" in r["error"] and "Reload the model" in r["error"]
    assert browser.find_element("id", "reload").is_displayed()
    assert len(r["generation"]["tokens"]) < 400


@pytest.mark.parametrize("case", ["not-gpt-oss", "no-program"])
def test_files_the_page_cannot_run_get_a_sentence(site, browser, tmp_path, case):
    if case == "not-gpt-oss":
        from gguf_files import raw_gguf
        path = tmp_path / "other.gguf"
        path.write_bytes(raw_gguf())
        message = "not 'gpt-oss': this page runs gpt-oss models"
    else:
        path = write_test_model(tmp_path / "m", n_layer=3, seed=2).gguf
        message = "this site has no program for"
    with odd_server(path, "count") as url:
        r = results(browser, page(site, gguf=url), f"cannot-{case}", timeout=120)
    assert message in r["error"] and message in browser.find_element("id", "error").text
    if case == "no-program":  # the first key that differs from the site's programs, and the way out
        assert re.search(r"gpt-oss\.[a-z_.]+ is \d+ in this file, \d+ in \w+\.json", r["error"]), r["error"]
        assert f"pywgsl build --model {url}" in r["error"]


def test_a_static_host_serves_the_same_page(site, browser):
    """`pywgsl build` output on nginx (Range and CORS by its own configuration): the same tokens."""
    with nginx_serving(site["dist"]) as base:
        r = results(browser, base + "/gptoss/?tokens=5,40,77&max_tokens=6", "nginx", timeout=300)
    assert "error" not in r, r.get("error")
    again = results(browser, page(site, tokens="5,40,77", max_tokens=6), "nginx-reference", timeout=300)
    assert r["generation"]["tokens"] == again["generation"]["tokens"]
