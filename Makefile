# Two commands: `make run` starts both services, `make test` runs the whole suite.
# Each creates or updates .venv itself, so a fresh clone needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
EMBEDDINGS_PORT ?= 8001
ATTENTION_PORT ?= 8002
DATA_DIR ?= data

.PHONY: run serve test lint install container-test bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev,ray]'
	@touch $(STAMP)

install: $(STAMP)

# Both services in the foreground; Ctrl-C stops both.
run: $(STAMP)
	@trap 'kill -TERM $$emb $$att 2>/dev/null; wait $$emb $$att 2>/dev/null; exit 0' INT TERM; \
	$(PY) -m service embeddings --host $(HOST) --port $(EMBEDDINGS_PORT) --data-dir $(DATA_DIR) & emb=$$!; \
	$(PY) -m service attention --host $(HOST) --port $(ATTENTION_PORT) --data-dir $(DATA_DIR) & att=$$!; \
	echo "embeddings: http://$(HOST):$(EMBEDDINGS_PORT)/docs   attention: http://$(HOST):$(ATTENTION_PORT)/docs"; \
	wait -n $$emb $$att; status=$$?; kill -TERM $$emb $$att 2>/dev/null; wait; exit $$status

# Both services on a local Ray cluster with Ray Serve (deploy/serve/serve.yaml; the `ray` extra):
# http://$(HOST):8000/embeddings/...  http://$(HOST):8000/attention/...  Ctrl-C stops them and the cluster.
SERVE_CPUS ?= 8
serve: $(STAMP)
	$(VENV)/bin/ray start --head --num-cpus $(SERVE_CPUS) --include-dashboard=false --disable-usage-stats
	@trap '$(VENV)/bin/ray stop' EXIT; $(VENV)/bin/serve run -a auto deploy/serve/serve.yaml

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/pytest -q -m "not container" tests models service/kit

container-test: $(STAMP)
	$(VENV)/bin/pytest -q -m container -p no:cacheprovider

bench: $(STAMP)
	$(PY) bench/embeddings_bench.py
	$(PY) bench/attention_bench.py
	$(PY) bench/batching_bench.py
	$(PY) bench/load_test.py
	$(PY) bench/million_bench.py
	$(PY) bench/serve_bench.py
	$(PY) bench/g2p_bench.py --parallel --threads 1 --safety 0.88 --out bench/out/g2p.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
