# taufm_nb — the two commands of the README are `make reproduce` and `make test`; both install into .venv first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= $(shell command -v python3.11 || command -v python3)
STAMP := $(VENV)/.taufm-installed
SCALE ?= mini
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: install test browser slurm reproduce docs lab export clean-nbs prepare readme

install: $(STAMP)

# Re-installs only when a pin or the package metadata changes. torch==2.13.0 is pinned twice (requirements +
# constraints) so nothing can pull a CUDA build; pip's global constraints on these machines agree with ours.
$(STAMP): requirements.txt constraints.txt setup.py settings.ini
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing pinned dependencies into $(VENV) (first time: a few minutes)"
	@$(PY) -m pip install $(PIP_QUIET) -r requirements.txt -c constraints.txt >$(VENV)/pip.log 2>&1 \
	  || { grep -v 'is ignored: it is neither' $(VENV)/pip.log; echo 'pip install failed (log: $(VENV)/pip.log)'; exit 1; }
	@$(PY) -m pip install $(PIP_QUIET) --no-deps --no-build-isolation -e . >>$(VENV)/pip.log 2>&1 \
	  || { tail -20 $(VENV)/pip.log; exit 1; }
	@$(PY) -m ipykernel install --sys-prefix --name taufm --display-name "Python (taufm_nb)" >/dev/null
	@$(PY) -c "import torch, taufm_nb; assert torch.__version__.startswith('2.13.0'), torch.__version__; print('taufm_nb', taufm_nb.__version__, '| torch', torch.__version__)"
	@touch $(STAMP)

# Everything CI checks: notebook hygiene, every notebook as a test, pytest; ends with `N passed, N failed`.
test: install browser slurm
	@$(PY) tools/run_tests.py

# Headless Chromium for the docs test: installed with apt-get where we are root, else that test is reported skipped.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (docs browser test)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/tmp/taufm-apt.log 2>&1 \
	      || echo "could not install chromium (see /tmp/taufm-apt.log): the docs browser test will be skipped"; \
	  else echo "chromium missing and not root: the docs browser test will be skipped"; fi; }

# SLURM for the grid test on a real scheduler (tests/test_slurm.py starts a one-node cluster, then stops it): the Debian
# packages installed with apt-get where we are root (time-limited), else that test is reported skipped.
slurm:
	@command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    bash tools/slurm_local.sh install || echo "could not install SLURM: the SLURM grid test will be skipped"; \
	  else echo "SLURM missing and not root: the SLURM grid test will be skipped"; fi; }

# The main job at the embedded default scale (`mini`): the committed figures/ and README.md. Any other scale
# (`make reproduce SCALE=ci` for a quick look) draws into runs/reproduce-SCALE/figures and leaves figures/ and README alone.
reproduce: install
	@$(VENV)/bin/taufm reproduce --scale $(SCALE)
	@if [ "$(SCALE)" = mini ]; then $(PY) tools/build_docs.py --readme-only; \
	else echo "README.md left alone: it shows the committed mini results (SCALE=$(SCALE): see the figures folder printed above)"; fi

# The docs site in _docs/: real Quarto when installed, else an offline pure-Python build.
docs: install
	@$(PY) tools/build_docs.py

lab: install
	@$(VENV)/bin/jupyter lab --notebook-dir=nbs $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

export: install
	@$(VENV)/bin/nbdev_export

clean-nbs: install
	@$(VENV)/bin/nbdev_clean

readme: install
	@$(PY) tools/build_docs.py --readme-only

# What to run before committing: clean, export, README from index.ipynb.
prepare: clean-nbs export readme
