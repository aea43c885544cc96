# Two commands set everything up on a fresh machine: `make run` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.knas-installed
CORES   ?= all
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install run test lint dryrun report clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-test.txt
	touch $(STAMP)

## run the default study (config.yaml) offline on CPU
run: install
	snakemake --cores $(CORES)

## the whole test suite
test: install
	$(PY) -m pytest -q

lint: install
	snakemake --lint

dryrun: install
	snakemake -n

report: install
	snakemake --report results/report.html

clean:
	rm -rf results .snakemake
