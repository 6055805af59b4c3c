# Two commands: `make demo` and `make test`. Both create .venv and install first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,dask]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pdmctl demo --config config/plants.example.yaml --database sqlite:///var/demo.sqlite3 --fresh

# Two processes: most tests wait on servers, sockets and timers rather than the CPU. Tests whose
# subprocesses share var/ are grouped onto one process (xdist_group "shared-var").
# Style, types and import layers first: a failure there is cheaper to read than one in the suite.
check: $(STAMP)
	$(BIN)/ruff check pdm tests bench app_streamlit.py
	$(BIN)/ruff format --check pdm tests bench app_streamlit.py
	# mypy-baseline.txt lists the type errors pdm/ had when mypy joined the checks: only a new one fails.
	$(BIN)/mypy | $(BIN)/mypy-baseline filter
	$(BIN)/lint-imports

test: check
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
