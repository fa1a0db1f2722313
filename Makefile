# The two commands: `make run` and `make test`. Both set up .venv themselves.
# the first interpreter that actually runs (a pyenv shim can exist for a version it cannot run)
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do $$p -c '' 2>/dev/null && command -v $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
WORKERS ?= 2
TEST_WORKERS ?= 4  # pytest-xdist processes: most tests wait on servers (load average under 2 with four on 2 cores)

.PHONY: run test install init-db bench bench-quick bench-postgres bench-demo bench-impact bench-replicas bench-activation bench-review bench-load clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v < (3, 13) else "partner-authz needs Python 3.11 or 3.12 (oso 0.27.3 has no wheels for %d.%d)" % v)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet -e ./clients/python  # the client package, for its tests
	touch $(STAMP)

install: $(STAMP)

init-db: $(STAMP)
	$(BIN)/authz init-db
	$(BIN)/authz load --if-empty data/demo.yaml

run: init-db
	$(BIN)/authz keys dev
	$(BIN)/authz policy activate --if-changed policies
	$(BIN)/authz serve --host 127.0.0.1 --port $(PORT) --workers $(WORKERS)

test: $(STAMP)
	@if [ -n "$$TEST_POSTGRES_URL" ]; then echo "tests run on SQLite and on PostgreSQL ($$TEST_POSTGRES_URL)"; \
	else echo "tests run on SQLite only: PostgreSQL SKIPPED (set TEST_POSTGRES_URL, e.g. from .ci/start-postgres)"; fi
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not shares" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -q -p no:xdist -m shares $(PYTEST_ARGS) || [ $$? -eq 5 ]  # the files sharing one resource, one by one (5: none selected)

# BENCH_ARGS: more options of bench/run.py, e.g. --port 8600 --recording-env NAME=VALUE
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick $(BENCH_ARGS)

# the same figures on PostgreSQL: BENCH_POSTGRES_URL, else TEST_POSTGRES_URL, else DATABASE_URL (its public schema is WIPED)
bench-postgres: $(STAMP)
	@url="$${BENCH_POSTGRES_URL:-$${TEST_POSTGRES_URL:-$$DATABASE_URL}}"; \
	case "$$url" in postgres*) ;; *) echo "bench-postgres: set BENCH_POSTGRES_URL (or TEST_POSTGRES_URL) to a PostgreSQL URL"; exit 2;; esac; \
	$(BIN)/python -m bench.run --postgres "$$url" $(BENCH_ARGS)

bench-demo: $(STAMP)
	$(BIN)/python -m bench.demo

bench-impact: $(STAMP)
	$(BIN)/python -m bench.impact

clean:
	rm -rf $(VENV) data/authz.db data/authz.db-*

# its own PostgreSQL primary and standby on 5462/5463 (BENCH_PAIR_PORTS), instances on 9000/9001 (bench/replicas.py)
bench-replicas: $(STAMP)
	$(BIN)/python -m bench.replicas $(BENCH_ARGS)

# authz load of a 48,000-row world against parsing it alone (bench/load_world.py); --postgres URL in BENCH_ARGS
bench-load: $(STAMP)
	$(BIN)/python -m bench.load_world $(BENCH_ARGS)

# authz serve (2 workers) under client threads across 10 activations (bench/activation.py); --postgres URL in BENCH_ARGS
bench-activation: $(STAMP)
	$(BIN)/python -m bench.activation $(BENCH_ARGS)

# every /review page's server time, cold and warm, on the 10,000-customer world (bench/review_pages.py)
bench-review: $(STAMP)
	$(BIN)/python -m bench.review_pages $(BENCH_ARGS)
