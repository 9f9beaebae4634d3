#!/usr/bin/env bash
# The system tools `make test` needs, checked in its first seconds:
#
#   .ci/prereqs.sh [--lint] [--fuzz]
#
# Missing Debian packages are installed with apt-get when run as root on Debian (as CI
# is; VPACK_NO_APT=1 turns that off); otherwise the script prints the exact command to
# run and fails. Rust comes from
# rustup, not apt (Debian's cargo is older than the crate's MSRV, 1.89). --lint also
# wants rustfmt and clippy; --fuzz (make fuzz-smoke) installs its own nightly toolchain.
set -euo pipefail

lint=0
for arg in "$@"; do
    case $arg in
        --lint) lint=1 ;;
        --fuzz) ;;
        *) echo "prereqs.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

pkgs=()   # Debian packages to install
need() {  # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || pkgs+=("$2")
}
need cc gcc
need c++ g++
need make make
need valgrind valgrind
need cmake cmake
need pkg-config pkg-config
need readelf binutils
need pypy3 pypy3
# The tox env `ray` runs its cluster in a loopback-only network namespace
# (tests/tools/loopback.sh): unshare and ip.
need unshare util-linux
need ip iproute2
# Debian splits venv support (ensurepip) out of both interpreters.
if command -v pypy3 >/dev/null 2>&1 && ! pypy3 -c "import ensurepip" >/dev/null 2>&1; then
    pkgs+=(pypy3-venv)
elif ! command -v pypy3 >/dev/null 2>&1; then
    pkgs+=(pypy3-venv)
fi
if ! command -v python3 >/dev/null 2>&1; then
    pkgs+=(python3 python3-venv)
elif ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
    pkgs+=(python3-venv)
fi

if ((${#pkgs[@]})); then
    if [[ $(id -u) -eq 0 && ${VPACK_NO_APT:-0} != 1 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "== prereqs: apt-get install ${pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    else
        echo "make test needs: ${pkgs[*]}" >&2
        echo "on Debian/Ubuntu: sudo apt-get install -y ${pkgs[*]}" >&2
        exit 1
    fi
fi

rust_missing=()
command -v cargo >/dev/null 2>&1 || rust_missing+=(cargo)
if ((lint)); then
    command -v rustfmt >/dev/null 2>&1 || rust_missing+=(rustfmt)
    command -v cargo-clippy >/dev/null 2>&1 || rust_missing+=(clippy)
fi
if ((${#rust_missing[@]})); then
    echo "make needs the Rust toolchain (${rust_missing[*]} missing): install it with rustup" >&2
    echo "(https://rustup.rs), then: rustup component add rustfmt clippy" >&2
    exit 1
fi
echo "== prereqs: ok (cargo $(cargo --version | cut -d' ' -f2), $(cc --version | head -n1), cmake $(cmake --version | head -n1 | cut -d' ' -f3), $(pypy3 --version 2>&1 | tail -n1))"
