#!/usr/bin/env bash
# Builds and runs the C and C++ consumer tests of libvpack under valgrind.
#
#   tests/c/run.sh
#
# Library: $VPACK_LIB_DIR if set, else ${CARGO_TARGET_DIR:-rust/target}/release (relative
# paths are taken from the repository root). When libvpack.so is missing from the default
# location it is built with `cargo build --release`. An existing library is used as is:
# rebuild it yourself after changing rust/.
#
# Fails on any compiler warning, failed check, valgrind error or leak (definite, indirect
# or possible). Needs cc, c++ and valgrind. tests/c/valgrind.supp hides exactly one thing,
# the process-wide embedder cache; read its comment before adding to it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [[ -n "${VPACK_LIB_DIR:-}" ]]; then
    libdir=$VPACK_LIB_DIR
    if [[ ! -f "$libdir/libvpack.so" ]]; then
        echo "run.sh: VPACK_LIB_DIR=$libdir has no libvpack.so" >&2
        exit 1
    fi
else
    libdir=${CARGO_TARGET_DIR:-rust/target}/release
    if [[ ! -f "$libdir/libvpack.so" ]]; then
        echo "run.sh: $libdir/libvpack.so not found; building it" >&2
        cargo build --release --manifest-path rust/Cargo.toml
    fi
    if [[ ! -f "$libdir/libvpack.so" ]]; then
        echo "run.sh: cargo build did not produce $libdir/libvpack.so" >&2
        exit 1
    fi
fi
libdir=$(cd "$libdir" && pwd)

valgrind=${VALGRIND:-valgrind}
if ! command -v "$valgrind" >/dev/null 2>&1; then
    echo "run.sh: valgrind not found (install it, e.g. 'apt-get install valgrind');" \
        "the C tests always run under valgrind to catch leaks and memory errors" >&2
    exit 1
fi

build=tests/c/build
mkdir -p "$build"
link=(-L"$libdir" -lvpack -Wl,-rpath,"$libdir")

echo "== library: $libdir/libvpack.so"
echo "== compile test_vpack.c (C11)"
"${CC:-cc}" -std=c11 -Wall -Wextra -Werror -pedantic -g -O1 -I include \
    tests/c/test_vpack.c -o "$build/test_vpack_c" "${link[@]}"
echo "== compile test_vpack.cpp (C++17)"
"${CXX:-c++}" -std=c++17 -Wall -Wextra -Werror -pedantic -g -O1 -I include \
    tests/c/test_vpack.cpp -o "$build/test_vpack_cpp" "${link[@]}" -pthread

run() {
    local name=$1 exe=$2 log=$build/$1.log
    echo "== run $name under valgrind"
    local rc=0
    # Program output goes to stdout, valgrind's report to $log (shown on failure).
    "$valgrind" --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect,possible \
        --show-leak-kinds=definite,indirect,possible \
        --suppressions=tests/c/valgrind.supp \
        --log-file="$log" "$exe" | tee "$build/$name.out" || rc=$?
    # With pipefail, rc is valgrind's status (the program's own, or 99 on a valgrind
    # error or leak) unless tee itself failed.
    if [[ $rc -ne 0 ]]; then
        echo "run.sh: $name exited with status $rc" >&2
        if [[ $rc -eq 99 ]]; then cat "$log" >&2; fi
        return 1
    fi
    if ! tail -n 1 "$build/$name.out" | grep -Eq '^[0-9]+ passed, 0 failed$'; then
        echo "run.sh: $name did not end with 'N passed, 0 failed'" >&2
        return 1
    fi
    echo "-- valgrind ($name):"
    grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|suppressed:|in use at exit|All heap blocks were freed' "$log" |
        sed -e 's/^==[0-9]*== */   /'
}

run c "$build/test_vpack_c"
run cpp "$build/test_vpack_cpp"
echo "== all C/C++ consumer tests passed"
