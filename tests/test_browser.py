"""The same WGSL in real browsers: Selenium drives Chromium (WebGPU on SwiftShader) and Firefox
ESR (WebGPU on lavapipe), headless, against the real `pywgsl serve` on loopback. Screenshots go to
test-output/screenshots/ for a person to look at."""
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from browsers import BROWSERS
from host.gates import gate_x, q8_0_slice
from host.byte_source import FileSource
from host.gguf import read_gguf
from host.site_builder import build_site
from kernels import library, matvec
from kernels.formats import Q8_0
from odd_servers import odd_server
from server_process import running_server

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-output" / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = build_site(tmp_path_factory.mktemp("site") / "dist")
    with running_server("--site", str(out)) as (base, _):
        yield {"base": base, "dist": out, "model": out / "models" / "demo.gguf"}


@pytest.fixture(scope="module", params=sorted(BROWSERS))
def browser(request):
    driver = BROWSERS[request.param]()  # a missing browser or driver raises: the run fails, never skips
    driver.name_ = request.param
    yield driver
    driver.quit()


def results(driver, url, shot, timeout=180):
    driver.get(url)
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = driver.execute_script("return window.pywgslResults || null")
        if r and r.get("done"):
            SHOTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SHOTS / f"{driver.name_}-{shot}.png"))
            return r
        time.sleep(0.25)
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{driver.name_}-{shot}-timeout.png"))
    raise AssertionError(f"{url} did not finish within {timeout} s")


# Words of the page's text that the layout broke across two lines (text in <code>, hashes and URLs,
# may break anywhere): a word is a run of characters without a plain space, so "1.6\u00a0ms" is one.
BROKEN_WORDS = """
const broken = [];
for (const box of document.querySelectorAll(arguments[0])) {
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest("code")) continue;
    for (const match of node.data.matchAll(/[^ \\n\\t]+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      if (new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top))).size > 1) broken.push(match[0]);
    }
  }
}
return broken;"""


def progress_is_full(driver) -> bool:
    return driver.execute_script("const p = document.getElementById('progress'); return p.position === 1")


def test_kernel_lab_passes_every_kernel(site, browser):
    r = results(browser, site["base"] + "/", "lab")
    assert "error" not in r, r.get("error")
    ran = [x for x in r["results"] if x["pass"] is not None]
    assert ran and all(x["pass"] for x in ran), [x for x in ran if not x["pass"]]
    assert r["passed"] == r["total"] == len(ran)
    assert {x["kernel"] for x in ran} == set(library()), "every kernel has a variant this browser runs"
    listed = {(x["kernel"], x["variant"]) for x in r["results"]}
    assert listed == {(n, v.variant_name) for n, e in library().items() for v in e.kernel.variants}
    table = browser.find_element("id", "results").text
    assert table.count("PASS") == len(ran) and "FAIL" not in table


def test_gptoss_gates_on_the_demo_model(site, browser):
    k, n = 128, 64
    r = results(browser, site["base"] + f"/gptoss/?tensor=output.weight&k={k}&n={n}&tolerance=0.001", "gptoss")
    assert "error" not in r, r.get("error")
    gates = r["gates"]
    assert [gates[g]["status"] for g in "ABCD"] == ["PASS"] * 4
    table = read_gguf(str(site["model"]))
    assert gates["A"]["tensor_count"] == len(table.tensors)
    assert gates["A"]["q8_0_tensors"] == sum(t.type_name == "Q8_0" for t in table.tensors)
    assert gates["B"]["equal"] and gates["B"]["sha256"][0] == gates["B"]["sha256"][1]
    assert gates["D"]["max_abs_diff"] <= 0.001
    with FileSource(site["model"]) as src:  # the native executor on the same slice and x
        native = matvec.run(q8_0_slice(src, table.tensor("output.weight"), n, k), gate_x(k), n, k, Q8_0)
    np.testing.assert_allclose(np.array(gates["C"]["y"], np.float32), native, rtol=1e-5, atol=1e-6)
    t = r["telemetry"]
    assert t["bytes_loaded"] > 2 * n * (k // 32) * 34 and t["kernels_dispatched"] == 2  # repack, product
    assert int(browser.execute_script("return document.getElementById('progress').value")) == t["bytes_loaded"]
    assert progress_is_full(browser)
    assert browser.execute_script(BROKEN_WORDS, ".gate") == [], "a gate's text broke inside a word"


def gate_statuses(driver) -> list[tuple[str, str, str]]:
    """Each gate's status text, class and colour on the page."""
    return [tuple(driver.execute_script(
        "const s = document.querySelector(arguments[0]); return [s.textContent, s.className, getComputedStyle(s).color]",
        f"#gate-{g} .status")) for g in "ABCD"]


RUNNING_COLOUR = """const probe = document.body.appendChild(document.createElement("span"));
probe.className = "running"; const colour = getComputedStyle(probe).color; probe.remove(); return colour;"""


@pytest.mark.parametrize("query,message", [pytest.param(*case, id=case[0]) for case in [
    ("n=abc", "query parameter n must be a positive whole number, got 'abc'"),
    ("k=abc", "query parameter k must be a positive multiple of 32, got 'abc'"),
    ("n=1.5", "query parameter n must be a positive whole number, got '1.5'"),
    ("tolerance=abc", "query parameter tolerance must be a finite number, 0 or more (like 0.01 or 1e-3), got 'abc'"),
    ("k=-32", "query parameter k must be a positive multiple of 32, got '-32'"),
    ("n=0", "query parameter n must be a positive whole number, got '0'"),
    ("gguf=" + quote("http://[x", safe=""), "query parameter gguf must be a URL (absolute, or relative to this page), "
                                             "got 'http://[x'"),
    ("nn=5", "unknown query parameter 'nn' (this page reads gguf, tensor, k, n, tolerance)"),
]])
def test_gptoss_names_a_bad_query_parameter(site, browser, query, message):
    r = results(browser, site["base"] + f"/gptoss/?tensor=output.weight&{query}", "gptoss-query", timeout=60)
    assert r["error"] == message and browser.find_element("id", "error").text == message
    assert r["config"] is None and r["telemetry"] == {}  # nothing was read
    assert [g["status"] for g in r["gates"].values()] == ["not run"] * 4
    running, statuses = browser.execute_script(RUNNING_COLOUR), gate_statuses(browser)
    assert [(text, cls) for text, cls, _ in statuses] == [("not run", "status not-run")] * 4
    assert all(colour != running for *_, colour in statuses), (running, statuses)
    assert not progress_is_full(browser)


@pytest.mark.parametrize("query,message", [pytest.param(*case, id=case[0]) for case in [
    ("tensor=output.weight&k=992", "query parameter k must be at most {row}, the row length of 'output.weight', "
                                   "got 992"),
    ("tensor=nope", "the file has no tensor 'nope'"),
]])
def test_gptoss_gate_a_failure_leaves_the_progress_bar_short(site, browser, query, message):
    r = results(browser, site["base"] + f"/gptoss/?{query}", "gptoss-gate-a", timeout=60)
    assert r["error"] == message.format(row=read_gguf(str(site["model"])).tensor("output.weight").dims[0])
    assert [r["gates"][g]["status"] for g in "ABCD"] == ["FAIL", "not run", "not run", "not run"]
    assert r["telemetry"]["bytes_loaded"] > 0  # the header was read
    assert not progress_is_full(browser)


@pytest.mark.parametrize("mode,message", [
    ("no-range", "the server ignores Range requests"),
    ("no-cors", "must send CORS headers"),
    ("no-expose", "do not expose Content-Range"),
])
def test_unsuitable_servers_get_a_friendly_error(site, browser, mode, message):
    with odd_server(site["model"], mode) as url:
        for page in ("", "tensor=output.weight&"):  # decoding, and the gates
            r = results(browser, site["base"] + f"/gptoss/?{page}gguf=" + quote(url, safe=""), f"gptoss-{mode}",
                        timeout=60)
            assert message in r["error"]
            assert message in browser.find_element("id", "error").text
            assert r["mode"] == ("gates" if page else "decode")
            if page:
                assert r["gates"]["A"]["status"] == "FAIL"
            assert not progress_is_full(browser)


@pytest.mark.parametrize("path,message", [
    ("/models/missing.gguf", "not found (HTTP 404)"),
    ("/index.html", "not a GGUF file"),
])
def test_missing_url_and_non_gguf_file(site, browser, path, message):
    r = results(browser, site["base"] + "/gptoss/?gguf=" + quote(site["base"] + path, safe=""), "gptoss-bad",
                timeout=60)
    assert message in r["error"] and message in browser.find_element("id", "error").text


def test_a_browser_without_webgpu_gets_a_message_not_a_blank_page(site):
    from browsers import firefox
    driver = firefox(webgpu=False)
    driver.name_ = "firefox-no-webgpu"
    try:
        for path, shot in (("/", "lab"), ("/gptoss/", "gptoss")):
            r = results(driver, site["base"] + path, shot, timeout=60)
            assert "has no WebGPU" in r["error"] and "has no WebGPU" in driver.find_element("id", "error").text
    finally:
        driver.quit()
