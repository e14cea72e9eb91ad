# Two commands matter on a fresh clone: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
# The tests run every database test on SQLite and on PostgreSQL, and the queue tests on Redis,
# against the servers every development machine and CI runs (.ci/run starts them). Set a
# variable to an empty value to skip those variants: `TICKERCAST_TEST_POSTGRES_URL= make test`.
export TICKERCAST_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export TICKERCAST_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test test-fast install migrate sample serve lint bench bench-serve bench-conditional bench-scale bench-reliability ts-types images image-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"

# Reinstall only when the dependency pins change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[train,dev]"
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/tickercast db upgrade

sample: migrate
	$(BIN)/tickercast prices load-sample

serve: install
	$(BIN)/tickercast serve --host 0.0.0.0 --port $(PORT)

run: sample serve

# The suite in two tiers (README, "Tests"). test-fast is the edit-test loop: SQLite only, and
# nothing that runs a live service, a training process, a browser or the fuzzer. test is what
# CI runs: everything on both databases, in TEST_WORKERS processes (pytest-xdist, each with
# databases of its own), then the latency-asserting tests (marked serial) with nothing beside
# them. Extra pytest arguments go in ARGS: `make test-fast ARGS="-k forecast"`.
TEST_WORKERS ?= 3
FAST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q
FAST := -m "not (live or training or browser or fuzz or process)" --databases=sqlite

test: install
	$(PYTEST) -n $(TEST_WORKERS) --dist worksteal -m "not serial" $(ARGS); \
	status=$$?; $(PYTEST) -p no:xdist -m serial $(ARGS) || status=1; exit $$status

test-fast: install
	$(PYTEST) -n $(FAST_WORKERS) $(FAST) $(ARGS)

lint: install
	$(BIN)/ruff check app models tests bench migrations deploy
	$(BIN)/ruff format --check app models tests bench migrations deploy
	$(BIN)/mypy  # app, models, tests, bench, migrations and deploy (pyproject.toml)

bench: install
	$(BIN)/python -m bench.run

# The container images, with Docker where an engine answers, else with buildah on a Debian base
# built here once (deploy/images.py). image-test brings docker-compose.yml up on a real Docker
# engine (one that answers, else a dockerd it starts and stops), on local bases and stand-ins
# for the PostgreSQL and Redis images, and drives it through the published port: the README's
# curl flow, scaling, a killed worker, restarts, stop, down -v and the local image
# (deploy/compose_test.py). Where no dockerd can start it falls back to buildah, running the
# images as compose would (deploy/image_test.py). Neither uses the virtual environment.
images:
	$(PYTHON) -m deploy.images

image-test:
	$(PYTHON) -m deploy.compose_test

# The TypeScript client's types (clients/typescript/src/schema.d.ts), generated with the pinned
# openapi-typescript from the schema the service serves; run it after changing a route (a test
# fails while the committed types differ from the live schema). Needs Node 20 and npm.
ts-types: install
	$(BIN)/tickercast openapi --output clients/typescript/openapi.json
	cd clients/typescript && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run --silent generate

# Serving speed, each figure against a reference in the same run (needs wrk: apt-get install wrk).
bench-serve: install
	$(BIN)/python -m bench.serve

# A revalidated forecast (304) against a cached one (200): requests/s and bytes (needs wrk).
bench-conditional: install
	$(BIN)/python -m bench.conditional

# A universe of tickers: listings, batch forecasts and a scheduler pass at 1,000 tickers against
# 10, retention's database size after 10 rounds against 5, bytes per version (SQLite and the
# PostgreSQL of TICKERCAST_BENCH_POSTGRES_URL; `python -m bench.scale --no-postgres` without),
# and 40 tiny training jobs through 2 local trainers and 2 RQ workers (TICKERCAST_BENCH_REDIS_URL).
bench-scale: install
	$(BIN)/python -m bench.scale

# Issue 19's largest probes at full size against real `tickercast serve` processes: 16 imports
# of a 2-million-row CSV at once, 1,000 open event streams on SQLite and PostgreSQL (README,
# Reliability). Minutes of both cores and a few GiB of memory; PostgreSQL at
# TICKERCAST_TEST_POSTGRES_URL's server. Extra arguments in ARGS: `ARGS="streams --streams 300"`.
bench-reliability: install
	$(BIN)/python -m bench.reliability_probes $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
