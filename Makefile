# Quickstart targets; each sets up .venv on first use (needs only Python 3.11+ and make).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export RECSYS_DATA_DIR ?= $(CURDIR)/data

.PHONY: demo test lint dev clean

$(BIN)/recsys-assets: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,deploy]'
	@$(BIN)/python -c "import lightgbm" 2>/dev/null || { echo "error: lightgbm (the re-ranker's trees) needs\
	 the OpenMP runtime libgomp.so.1; install it (Debian/Ubuntu: apt-get install libgomp1) and run make again" >&2; exit 1; }
	touch $@

demo: $(BIN)/recsys-assets
	$(BIN)/recsys-assets retrain

test: $(BIN)/recsys-assets
	$(BIN)/ruff check .
	$(BIN)/pytest; status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status

lint: $(BIN)/recsys-assets
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

dev: $(BIN)/recsys-assets
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp recsys_assets/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev

clean:
	rm -rf $(VENV) .dagster_home data
