# The two set-up commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export PARLEY_DATABASE_URL ?= sqlite:///./parley.db

.PHONY: install run test lint lock test-sqlite test-postgres bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/parley migrate
	$(BIN)/parley demo
	PARLEY_LOG_JSON=$${PARLEY_LOG_JSON:-false} $(BIN)/parley serve --host 127.0.0.1 --port 8000

# requirements.lock: what the Docker image installs (every package pinned with hashes,
# for any platform), including the build backend. Rewrite it after changing dependencies.
lock: install
	printf 'setuptools>=68\nwheel\n' | $(BIN)/uv pip compile pyproject.toml - --universal \
		--generate-hashes --python-version 3.11 --no-header -o requirements.lock

lint: install
	$(BIN)/ruff check app tests bench migrations
	$(BIN)/ruff format --check app tests bench migrations
	$(BIN)/mypy --strict app
	$(BIN)/lint-imports

test-sqlite: install
	env -u PARLEY_TEST_DATABASE_URL $(BIN)/pytest -q

# Runs when PostgreSQL answers; on CI (CI=true) it must answer.
test-postgres: install
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_TEST_URL)'.replace('+psycopg',''), connect_timeout=3).close()" 2>/dev/null; then \
		PARLEY_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL is not reachable at $(PG_TEST_URL)" >&2; exit 1; \
	else \
		echo "PostgreSQL not reachable at $(PG_TEST_URL): skipping the PostgreSQL run"; \
	fi

test: lint test-sqlite test-postgres

bench: install
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/send_bench.py
	$(BIN)/python bench/webhook_bench.py
	$(BIN)/python bench/reply_bench.py
	$(BIN)/python bench/inbound_bench.py
	$(BIN)/python bench/growth_bench.py
	$(BIN)/python bench/classifier_bench.py

clean:
	rm -rf $(VENV) *.egg-info .mypy_cache .ruff_cache .pytest_cache
