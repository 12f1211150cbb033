# Two commands do all set-up on a fresh Debian machine (as root):
#   make demo   creates .venv, installs pywgsl, makes sure a WebGPU adapter exists, runs the main job
#   make test   the same set-up plus what the tests need, then the whole suite
VENV := .venv
PY := $(VENV)/bin/python
export XDG_RUNTIME_DIR ?= /tmp/pywgsl-xdg

.PHONY: demo test adapter browsers readme

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# lavapipe (Mesa's CPU Vulkan driver) gives wgpu-py an adapter on machines without a GPU.
adapter: $(VENV)/.installed
	@mkdir -p $(XDG_RUNTIME_DIR)
	@$(VENV)/bin/pywgsl adapter >/dev/null 2>&1 || { \
	  echo "no WebGPU adapter: installing mesa-vulkan-drivers"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers >/dev/null; }
	@$(VENV)/bin/pywgsl adapter

DEMO_MODEL := build/demo.gguf

demo: adapter
	$(VENV)/bin/pywgsl kernels --check
	$(VENV)/bin/pywgsl demo-model --out $(DEMO_MODEL)
	$(VENV)/bin/pywgsl gguf dump $(DEMO_MODEL) --limit 8
	$(VENV)/bin/pywgsl gguf range $(DEMO_MODEL) --tensor output.weight --len 4096 --repeat 3
	$(VENV)/bin/pywgsl gate $(DEMO_MODEL) --tensor output.weight --k 128 --n 64

# The browser tests drive Debian's Chromium and Firefox ESR; node runs the JS parser's tests.
BROWSER_PACKAGES := chromium chromium-driver firefox-esr nodejs

browsers:
	@missing=""; for p in $(BROWSER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The oracle tests compare with OpenAI's torch reference: torch (CPU) and gpt-oss without its deps.
ORACLES := $(VENV)/.oracles
$(ORACLES): $(VENV)/.installed
	$(PY) -m pip install -q torch==2.13.0 safetensors
	mkdir -p build/wheels
	$(PY) -m pip download -q gpt-oss==0.0.9 --no-deps --python-version 3.12 --only-binary :all: -d build/wheels
	$(PY) -m pip install -q --no-deps --ignore-requires-python build/wheels/gpt_oss-0.0.9-py3-none-any.whl
	touch $@

test: adapter browsers $(ORACLES)
	$(VENV)/bin/python -m pytest -q

readme: $(VENV)/.installed
	$(PY) -m dsl.reference --write README.md
