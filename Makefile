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

.PHONY: run serve test lint install container-test docs-test bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev,ray]'
	@touch $(STAMP)

# The npm packages of tests/test_generated_clients.py (openapi-typescript, openapi-fetch, typescript:
# pinned in tests/node/package-lock.json), installed by `npm ci` into tests/node/node_modules (ignored).
NODE_DIR := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "need Node.js (20; 18.17 at least) and npm for tests/test_generated_clients.py"; exit 1; }
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

# Stopping. Each child of `run` and `serve` starts in a process group of its own ($(PGRP)), so a
# Ctrl-C (the terminal's SIGINT to make's process group) reaches make and the recipe's shell only;
# the shell's trap then stops the children once, in order. `stop SIGNAL SECONDS PID...` signals
# each child's process group, waits until no process of those groups is left (at most SECONDS),
# then SIGKILLs the groups (job workers and the Ray cluster's processes are in them too).
PGRP = $(PY) -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.setpgid(0, 0); \
	os.execvp(sys.argv[1], sys.argv[1:])'
STOP = stop() { sig=$$1 secs=$$2; shift 2; for g; do kill -$$sig -- -$$g $$g 2>/dev/null; done; \
	for i in $$(seq $$((secs * 5))); do live=; for g; do ps -eo pid=,pgid=,stat= | awk -v g=$$g \
	'($$1 == g || $$2 == g) && $$3 !~ /^Z/ {f = 1} END {exit !f}' && live=1; done; \
	[ -z "$$live" ] && return 0; sleep 0.2; done; for g; do kill -KILL -- -$$g $$g 2>/dev/null; done; }

# Both services in the foreground; one Ctrl-C stops both (20 s at most, then SIGKILL).
run: $(STAMP)
	@$(STOP); emb= att=; trap 'stop TERM 20 $$emb $$att; exit 0' INT TERM HUP; \
	$(PGRP) $(PY) -m service embeddings --host $(HOST) --port $(EMBEDDINGS_PORT) --data-dir $(DATA_DIR) </dev/null & emb=$$!; \
	$(PGRP) $(PY) -m service attention --host $(HOST) --port $(ATTENTION_PORT) --data-dir $(DATA_DIR) </dev/null & att=$$!; \
	echo "embeddings  web page http://$(HOST):$(EMBEDDINGS_PORT)/ui/   API manual http://$(HOST):$(EMBEDDINGS_PORT)/docs"; \
	echo "attention   web page http://$(HOST):$(ATTENTION_PORT)/ui/   API manual http://$(HOST):$(ATTENTION_PORT)/docs"; \
	echo "(the first start trains the default models; /readyz answers 200 once they are served; Ctrl-C stops both)"; \
	wait -n $$emb $$att; status=$$?; stop TERM 20 $$emb $$att; exit $$status

# Both services on a local one-node Ray cluster with Ray Serve (deploy/serve/serve.yaml, with
# http_options 127.0.0.1:$(SERVE_PORT) and data_dir $(DATA_DIR); the `ray` extra):
# http://127.0.0.1:$(SERVE_PORT)/embeddings/...  http://127.0.0.1:$(SERVE_PORT)/attention/...
# The cluster is closed. Its servers listen on 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is
# Ray's one-machine mode: node IP 127.0.0.1, no other node can join), but for the Serve replicas'
# gRPC servers, which Ray 2.60 binds to [::]. All of them require Ray's token authentication
# (RAY_AUTH_MODE=token; the token is made once into RAY_TOKEN_FILE, mode 600). A client of this
# cluster (`ray status --address 127.0.0.1:$(RAY_PORT)`...) needs the same three variables (README).
# Its temporary directory (logs, sockets) is its own, removed at the end: /tmp/ray stays untouched
# (a `ray start` there would leave /tmp/ray/ray_current_cluster behind for every later ray.init()).
# Ctrl-C: `serve run` shuts Serve down (15 s at most), then `ray start --block` ends the cluster's
# processes (10 s at most; no drain: there is no other node), then SIGKILL for its process group and,
# by the MAKE_SERVE_CLUSTER marker in their environment, for Ray's workers (each in a process group
# of its own). Not `ray stop --force`: it would stop every Ray cluster of this user on the machine.
SERVE_CPUS ?= 8
SERVE_PORT ?= 8000
RAY_PORT ?= 6379
RAY_CLIENT_PORT ?= 10001
RAY_TOKEN_FILE ?= $(DATA_DIR)/.ray-token
SERVE_ENV = RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=$(abspath $(RAY_TOKEN_FILE)) RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
# `sweep`: give the processes marked as this cluster's 2 s to end, then SIGKILL them.
SWEEP = sweep() { for i in $$(seq 11); do pids=$$(grep -lzxF "MAKE_SERVE_CLUSTER=$$tmp" /proc/[0-9]*/environ \
	2>/dev/null | cut -d/ -f3); [ -z "$$pids" ] && return 0; [ $$i = 11 ] && kill -KILL $$pids 2>/dev/null; \
	sleep 0.2; done; }
serve: $(STAMP)
	@$(STOP); $(SWEEP); cluster= app= tmp=; \
	down() { stop INT 15 $$app; stop TERM 10 $$cluster; [ -n "$$tmp" ] && sweep && rm -rf "$$tmp"; }; \
	trap 'down; exit 0' INT TERM HUP; \
	token=$(abspath $(RAY_TOKEN_FILE)); \
	if [ ! -s "$$token" ]; then mkdir -p "$$(dirname "$$token")" && (umask 077; \
		$(PY) -c 'import secrets; print(secrets.token_hex(32))' > "$$token") || exit 1; fi; \
	tmp=$$(mktemp -d -t embattn-ray.XXXXXX) || exit 1; \
	export $(SERVE_ENV); \
	$(PY) -c 'import sys, yaml; c = yaml.safe_load(open(sys.argv[1])); \
		c["http_options"].update(host="127.0.0.1", port=int(sys.argv[2])); \
		[a["args"]["settings"].update(data_dir=sys.argv[3]) for a in c["applications"]]; \
		yaml.safe_dump(c, sys.stdout, sort_keys=False)' deploy/serve/serve.yaml $(SERVE_PORT) $(abspath $(DATA_DIR)) \
		> "$$tmp/serve.yaml" || { down; exit 1; }; \
	MAKE_SERVE_CLUSTER=$$tmp RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0 $(PGRP) $(VENV)/bin/ray start --head --block --port $(RAY_PORT) \
		--ray-client-server-port $(RAY_CLIENT_PORT) --num-cpus $(SERVE_CPUS) --temp-dir "$$tmp" \
		--include-dashboard=false --dashboard-host 127.0.0.1 --dashboard-agent-listen-port 0 \
		--disable-usage-stats </dev/null & cluster=$$!; \
	for i in $$(seq 600); do (: </dev/tcp/127.0.0.1/$(RAY_PORT)) 2>/dev/null && break; \
		kill -0 $$cluster 2>/dev/null || break; sleep 0.1; done; \
	MAKE_SERVE_CLUSTER=$$tmp $(PGRP) $(VENV)/bin/serve run -a 127.0.0.1:$(RAY_PORT) "$$tmp/serve.yaml" </dev/null & app=$$!; \
	echo "embeddings: http://127.0.0.1:$(SERVE_PORT)/embeddings/docs   attention: http://127.0.0.1:$(SERVE_PORT)/attention/docs"; \
	wait -n $$app $$cluster; status=$$?; down; exit $$status

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint $(NODE_STAMP)
	$(VENV)/bin/pytest -q --durations=15 -m "not container and not docs" tests models service/kit

# Every shell block of README.md and docs/, in order, twice, against real services (a few minutes).
docs-test: $(STAMP)
	$(VENV)/bin/pytest -q -m docs -p no:cacheprovider tests/test_docs_examples.py

container-test: $(STAMP)
	$(VENV)/bin/pytest -q -m container -p no:cacheprovider

# Every benchmark at full size (bench/run_all.py holds the list; an hour or more): each runs to its end
# even when another fails, then the failed ones are named (exit 1). `bench/run_all.py --short` runs
# each script's --short form instead (minutes); the suite runs them too (tests/test_bench_short.py).
bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
