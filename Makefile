# Every target calls the one entry, main.py. Variables:
#   TASK=sentiment  DATA=file-or-dataset  TEST=test-file  CELL=gru  ARGS="units=128 epochs=5"
#   VALID=dev-file (tagging, generation, translation)   TARGET=col FEATURES=a,b TIME=col (timeseries, your own CSV)
#   RUN=<run-id>    TEXT="text to classify"   GPU=1 (install TensorFlow's CUDA build)
#   WORKERS=host:port,host:port INDEX=0 (train-worker: the same list on every worker, INDEX its place; 0 is the chief)
SHELL := /bin/bash
PYTHON_BASE ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
TASK ?= sentiment
VARIANT := $(if $(GPU),gpu,cpu)
OVERRIDES = $(if $(DATA),dataset=$(DATA)) $(if $(TEST),test_file=$(TEST)) $(if $(CELL),cell=$(CELL)) $(if $(TARGET),target=$(TARGET)) $(if $(FEATURES),features=$(FEATURES)) $(if $(TIME),time_column=$(TIME)) $(if $(VALID),validation_file=$(VALID)) $(ARGS)

.PHONY: help install browser data train train-worker compare gradients export predict bench bench-tagging bench-timeseries bench-generation bench-translation bench-translation-seeds bench-translation-vocabulary bench-serve bench-faults bench-distributed bench-loop bench-determinism serve test test-all lint format clean

# A bare `make` only prints help; it never installs anything.
help:
	@echo "make install [GPU=1] | data | train TASK=.. [DATA=..] [CELL=..] [ARGS=\"k=v ..\"] | compare TASK=.."
	@echo "make gradients TASK=sentiment [ARGS=\"cells=simple_rnn,gru,lstm length=120 steps=150 batches=8\"]"
	@echo "make train-worker TASK=.. WORKERS=host:port,host:port INDEX=0 (one such command per worker)"
	@echo "make export TASK=.. [RUN=..] | predict TASK=.. TEXT=\"..\" | test | test-all | lint"
	@echo "make serve [HOST=..] [PORT=..] [MODELS=..] | bench | bench-tagging | bench-timeseries | bench-generation"
	@echo "make bench-translation | bench-translation-seeds | bench-translation-vocabulary"
	@echo "make bench-serve | bench-faults | bench-distributed | bench-loop"
	@echo "make bench-determinism [ARGS=\"tasks=sentiment,tagging repeats=2\"]"
	@echo
	@test -x $(PYTHON) && $(PYTHON) main.py --help 2>/dev/null || echo "(run 'make install' first for the task list)"

install: $(VENV)/.installed-$(VARIANT) data browser

# The serving page's browser test drives Debian's chromium; installed when we may (root
# with apt), else the test is skipped with a note saying so.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  ( [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null ) || \
	  echo "note: chromium and chromium-driver are not installed; the page's browser test will be skipped"

# Reinstalls only when requirements.txt changes; GPU=1 swaps in TensorFlow's CUDA build.
$(VENV)/.installed-$(VARIANT): requirements.txt
	test -x $(PYTHON) || $(PYTHON_BASE) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	rm -f $(VENV)/.installed-*
ifeq ($(VARIANT),gpu)
	-$(PYTHON) -m pip uninstall --yes --quiet tensorflow-cpu
	sed 's/^tensorflow-cpu==/tensorflow[and-cuda]==/' requirements.txt > $(VENV)/requirements-gpu.txt
	$(PYTHON) -m pip install --quiet -r $(VENV)/requirements-gpu.txt
else
	-$(PYTHON) -m pip uninstall --yes --quiet tensorflow
	$(PYTHON) -m pip install --quiet -r requirements.txt
endif
	touch $@

data: $(VENV)/.installed-$(VARIANT)
	$(PYTHON) main.py data

train:
	$(PYTHON) main.py train $(TASK) $(OVERRIDES)

# One worker of a training run on several machines (docs/distributed.md).
comma := ,
space := $(subst ,, )
WORKER_LIST = [$(subst $(space),$(comma),$(patsubst %,"%",$(subst $(comma),$(space),$(WORKERS))))]
train-worker:
	@test -n "$(WORKERS)" && test -n "$(INDEX)" || { echo "usage: make train-worker TASK=.. WORKERS=host:port,host:port INDEX=0 [ARGS=..]"; exit 2; }
	TF_CONFIG='{"cluster": {"worker": $(WORKER_LIST)}, "task": {"type": "worker", "index": $(INDEX)}}' \
	  $(PYTHON) main.py train $(TASK) $(OVERRIDES)

compare:
	$(PYTHON) main.py compare $(TASK) $(OVERRIDES)

# ||dL/dh_t|| by time step for SimpleRNN, GRU and LSTM, at init and after training with and
# without clipping (tasks/sentiment/README.md, "Gradient flow through time (`make gradients`)"); a few minutes on 2 CPU cores.
gradients:
	$(PYTHON) main.py gradients $(TASK) $(OVERRIDES)

export:
	$(PYTHON) main.py export $(TASK) $(if $(RUN),--run $(RUN))

# TEXT reaches the recipe through the environment, so quotes in it are safe.
predict:
	$(PYTHON) main.py predict $(TASK) $(if $(RUN),--run $(RUN)) $(if $(TEXT),--text "$$TEXT")

# HOST, PORT, MODELS=path,... (more model folders), ARGS="--no-batching --max-batch-size 64"
serve:
	$(PYTHON) main.py serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) $(if $(MODELS),--models "$(MODELS)") $(ARGS)

# Benchmarks print ratios measured side by side in one run (minutes to half an hour each).
bench:  # bucketed, right-padded batches vs pre-padding, on MR
	$(PYTHON) -m bench.sentiment_padding $(ARGS)

bench-tagging:  # softmax/CRF x characters vs the per-word baseline on wnut16, and wsj_pos
	$(PYTHON) -m bench.tagging_variants $(ARGS)

bench-timeseries:  # forecaster vs naive, seasonal naive, linear and ARIMA on three series
	$(PYTHON) -m bench.timeseries_baselines $(ARGS)

bench-generation:  # in-graph stepwise generation vs re-reading a fixed window (keras-io) or the growing prefix
	$(PYTHON) -m bench.generation_speed $(ARGS)

bench-faults:  # 50 SIGKILLs of a toy training run, aimed at start-up, epochs, save and export in turn: does the same command always finish it?
	$(PYTHON) -m bench.faults $(ARGS)

bench-distributed:  # two workers on 127.0.0.1 vs one process: examples/s, validation accuracy, per-step cost
	$(PYTHON) -m bench.distributed $(ARGS)

bench-loop:  # reference check: Keras's model.fit vs the trainer's epoch loop, same results and speed?
	$(PYTHON) -m bench.training_loop $(ARGS)

bench-determinism:  # seconds per epoch with TensorFlow op determinism on and off, each task's default; same result twice?
	$(PYTHON) -m bench.determinism $(ARGS)

bench-serve:  # throughput and latency at 1, 8, 64 clients, with and without batching, on 127.0.0.1
	$(PYTHON) -m bench.serve_load $(ARGS)

bench-translation:  # no attention vs additive vs multiplicative vs cross, greedy and beam; decoding speed
	$(PYTHON) -m bench.translation_attention $(ARGS)

bench-translation-seeds:  # the default over 5 training seeds x 2 data splits: per-run table, mean ± std (resumable; train=0 reports)
	$(PYTHON) -m bench.translation_seeds $(ARGS)

bench-translation-vocabulary:  # validation [UNK] share, parameters, logits size and training-step time at each max_vocabulary (no full training)
	$(PYTHON) -m bench.translation_vocabulary $(ARGS)

# Two test processes (pytest-xdist) by default, one per core of the 2-core machines the
# suite is sized for; TEST_JOBS=0 runs them all in this process, TEST_JOBS=auto one per core.
TEST_JOBS ?= 2
PYTEST = $(PYTHON) -m pytest -q -n $(TEST_JOBS) --dist loadgroup

test:
	$(PYTEST) -m "not slow" tests

test-all:
	$(PYTEST) tests

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

format:
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

clean:
	rm -rf runs exports .pytest_cache

