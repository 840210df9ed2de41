# Two entry points: `make demo` (the main job) and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_SPLITS := conala:train conala:test django:train django:dev django:test codeinsight:train codeinsight:test

.PHONY: install test demo bench roundtrip-stdlib clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

test: install
	$(BIN)/pytest

# The main job so far: the grammar round trip over every shared data set (the model issue adds
# train + evaluate + translate).
demo: install
	$(BIN)/tranx roundtrip $(DATA_SPLITS)

bench: install
	$(BIN)/python bench/roundtrip.py

roundtrip-stdlib: install
	$(BIN)/tranx roundtrip --failures roundtrip-stdlib-failures.txt \
		"$$($(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['stdlib'])")"

clean:
	rm -rf $(VENV) *.egg-info roundtrip-failures.txt roundtrip-stdlib-failures.txt
