# Two entry points: `make demo` (the main job) and `make test`. Both install into .venv first.
# THREADS=N passes --threads N to train/eval/translate (default: all cores).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
THREADS ?=
THREADS_FLAG := $(if $(THREADS),--threads $(THREADS))
DATA_SPLITS := conala:train conala:test django:train django:dev django:test codeinsight:train codeinsight:test \
	nl-rx-turk:train nl-rx-turk:dev nl-rx-turk:test nl-rx-synth:train nl-rx-synth:dev nl-rx-synth:test \
	kb13:train kb13:test

.PHONY: install test demo smoke django django-finetuned rl bench roundtrip-stdlib clean

# The sandbox's system packages (bubblewrap, libseccomp's bindings): installed when we are root with apt-get;
# otherwise say what is missing (the sandbox then falls back to a weaker runner, loudly).
SYSTEM_PACKAGES := bubblewrap python3-seccomp

$(BIN)/.installed: pyproject.toml
	@if command -v bwrap >/dev/null && ls /usr/lib/python3/dist-packages/seccomp*.so >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES) >/dev/null || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES) >/dev/null; }; \
	else echo "WARNING: the sandbox needs the system packages $(SYSTEM_PACKAGES) (not root: install them yourself)"; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

test: install
	$(BIN)/pytest

# Five CoNaLa-style intents for the demo (backquotes escaped for the shell's double quotes).
DEMO_INTENTS := "sort dict \`d\` by value" "concatenate list \`a\` and list \`b\`" \
	"read file 'data.txt' into a list of lines" "convert string '2024-01-01' to a datetime object" \
	"check if key 'k' is in dictionary \`d\`"

# $(call train_once,CONFIG [OVERRIDES],RUN): train into RUN unless RUN is finished (summary.json is
# written when training ends); a killed run is resumed from its last/ checkpoint.
define train_once
	@if [ -f $(2)/summary.json ] && [ -d $(2)/best ]; then \
		echo "$(2): already trained (remove it to train again)"; \
	elif [ -d $(2)/last ]; then \
		echo "$(2): resuming the unfinished run"; $(BIN)/tranx train --resume $(2) $(THREADS_FLAG); \
	else \
		$(BIN)/tranx train $(1) --out $(2) $(THREADS_FLAG); \
	fi
endef

# $(call model_demo,CONFIG,RUN[,ORDERING]): train CONFIG into RUN once, then evaluate on CoNaLa test (the last
# line is the score JSON, BLEU included) and translate the demo intents, both with the ORDERING flags.
define model_demo
	$(call train_once,$(1),$(2))
	$(BIN)/tranx eval $(2) --dataset conala --split test --out $(2)/test.predictions.jsonl $(3) $(THREADS_FLAG)
	$(BIN)/tranx translate $(2) $(DEMO_INTENTS) $(3) $(THREADS_FLAG)
endef

# $(call reconstructor_once,DATASET,RUN): train DATASET's reconstructor into RUN unless it is finished; a killed
# run is resumed from its last/ state.
define reconstructor_once
	@if [ -f $(2)/summary.json ]; then echo "$(2): already trained (remove it to train again)"; \
	elif [ -d $(2)/last ]; then $(BIN)/tranx reconstructor --dataset $(1) --out $(2) --resume $(THREADS_FLAG); \
	else $(BIN)/tranx reconstructor --dataset $(1) --out $(2) $(THREADS_FLAG); fi
endef

# The reconstructor p(intent | code) that reorders the demo model's beam (README, Quality levers: the weight 2
# was chosen on CoNaLa dev). Trained once (about 4 CPU minutes).
RECONSTRUCTOR := runs/conala-recon
RECONSTRUCT := --reconstructor $(RECONSTRUCTOR) --reconstruction-weight 2

# The main job: the grammar round trip over every shared data set (fast), then the default CoNaLa
# model: train (cached in runs/conala) with its reconstructor, evaluate on CoNaLa test (BLEU), translate five intents,
# and one more with a sample value for its variable (the beam run in the sandbox: candidates that run come first).
demo: install
	$(BIN)/tranx roundtrip $(DATA_SPLITS)
	$(call reconstructor_once,conala,$(RECONSTRUCTOR))
	$(call model_demo,configs/conala.json,runs/conala,$(RECONSTRUCT))
	$(BIN)/tranx translate runs/conala "round \`x\` to 2 decimal places" --sample "x = 3.14159" \
		--n-best 2 $(RECONSTRUCT) $(THREADS_FLAG)

# The same path with the tiny config (a random tiny encoder, 300 examples): a quick check.
smoke: install
	$(call model_demo,configs/tiny.json,runs/tiny)

# $(call django_model,CONFIG,RUN,TEST,RERANKED): train CONFIG into RUN and Django's reconstructor once each, decode
# test once with the 15 best kept (bench/results/TEST.json), then reorder them with the reconstructor at the weight
# chosen on dev (0.5 for both Django models; bench/results/RERANKED.json).
define django_model
	$(call train_once,$(1),$(2))
	$(call reconstructor_once,django,runs/django-recon)
	$(BIN)/tranx eval $(2) --dataset django --split test --n-best 15 \
		--out bench/results/$(3).predictions.jsonl --result bench/results/$(3).json $(THREADS_FLAG)
	$(BIN)/tranx rerank bench/results/$(3).predictions.jsonl --reconstructor runs/django-recon --weight 0.5 \
		--dataset django --split test --n-best 5 --out bench/results/$(4).predictions.jsonl \
		--result bench/results/$(4).json $(THREADS_FLAG)
endef

# The default Django model (about 1.5 CPU hours on one thread): configs/django.json (frozen MiniLM, weight
# averaging chosen on dev), seed 1, and its reconstructor (about 0.5 CPU hours).
django: install
	$(call django_model,configs/django.json,runs/django-ema,django-ema-test,django-reconstruction-test)

# The best Django model (10.9 minutes an epoch on two threads: about 5.4 hours for its 30 epochs; README "Quality
# levers"): configs/django-finetuned.json fine-tunes MiniLM with the decoder (no weight averaging, as measured).
django-finetuned: install
	$(call django_model,configs/django-finetuned.json,runs/django-ft,django-ft-test,django-ft-reconstruction-test)

# RL on CodeInsight (README "RL fine-tuning"): the supervised CodeInsight run, its critical actions on 300 training
# problems (the probe set), then the four arms over three seeds, two at a time (resumable), each arm's seed chosen
# on dev decoded on test once, and the table bench/results/rl-codeinsight.{json,md,png}.
CRITICAL := runs/critical-codeinsight-train300.json
rl: install
	$(call train_once,configs/codeinsight.json,runs/codeinsight)
	@[ -f $(CRITICAL) ] || $(BIN)/tranx critical runs/codeinsight --split train --limit 300 --threads 1 --out $(CRITICAL)
	$(BIN)/python bench/rl_arms.py runs/codeinsight --name codeinsight --seeds 1 2 3 --jobs 2 --test \
		rl.probe=$(CRITICAL)

bench: install
	$(BIN)/python bench/roundtrip.py

roundtrip-stdlib: install
	$(BIN)/tranx roundtrip --failures roundtrip-stdlib-failures.txt \
		"$$($(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['stdlib'])")"

clean:
	rm -rf $(VENV) *.egg-info roundtrip-failures.txt roundtrip-stdlib-failures.txt
