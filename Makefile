# Two commands set everything up: `make up` runs the platform, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test test-unit test-integration test-e2e test-fuzz lint demo clean bench bench-quick

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

up: $(STAMP)  ## Start nats-server and the four services (SQLite under ./.aftersales)
	$(BIN)/aftersales up

demo: $(STAMP)  ## Walk the seed complaints through a running platform
	$(BIN)/aftersales demo

test: $(STAMP)  ## All tests: unit, integration (SQLite and PostgreSQL), end to end, fuzz
	$(BIN)/pytest -q -p no:cacheprovider tests

test-unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

test-integration: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/integration

test-e2e: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/e2e

test-fuzz: $(STAMP)  ## schemathesis --checks all against every service (AFTERSALES_FUZZ_EXAMPLES=n)
	$(BIN)/pytest -q -p no:cacheprovider tests/fuzz

lint: $(STAMP)  ## ruff on everything, mypy --strict on shared/, services/ and bench/
	$(BIN)/ruff check shared services tests bench
	$(BIN)/mypy --strict shared services bench

bench: $(STAMP)  ## Every scenario with its same-run baseline, on SQLite then PostgreSQL (long)
	$(BIN)/aftersales bench --scenario all --store sqlite
	$(BIN)/aftersales bench --scenario all --store postgres

bench-quick: $(STAMP)  ## A short smoke run of every scenario on SQLite (~3 min)
	$(BIN)/aftersales bench --scenario all --store sqlite --quick

clean:
	rm -rf .aftersales
