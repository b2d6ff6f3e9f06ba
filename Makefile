# Two entry points: `make run` executes the notebook suite, `make test` runs the test suite.
# Both create .venv once (pinned by constraints.txt) and reuse it while the pins are unchanged.
# `make report` renders the committed reference runs as runs/reference/report.html.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: setup run test report lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[notebooks,dev]"
	# utils/ is not distributed: put the repository root on the environment's path for notebooks.
	$(PY) -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "transformers_best_practices_repo.pth").write_text("$(CURDIR)\n")'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m utils.run $(ARGS)

test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest $(ARGS)

report: $(STAMP)
	$(PY) -m utils.run --report results/ $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m bplint .

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
