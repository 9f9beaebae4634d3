#!/usr/bin/env bash
# Builds and runs the C and C++ consumer tests of libvpack:
#
#   test_vpack.c (C11), test_vpack.cpp (C++17)   every function and error path
#   test_misuse.c (C11)                          ABI misuse: NULLs, huge lengths, bad floats,
#                                                bad UTF-8 / JSON, files that are not packs
#   test_threads.c (C11, pthreads)               one index / one embedder from 8 threads
#                                                (flat and HNSW packs)
#   test_hnsw.c (C11)                            HNSW packs: build, manifest, recall, ef,
#                                                search_batch, vectors, lazy open
#   test_sets.c (C11)                            pack sets: vpack_set_write, a set opened as
#                                                one pack answers like one pack; refusals
#
# each under valgrind (memcheck), plus test_misuse, test_threads, test_hnsw and test_sets built with
# -fsanitize=address,undefined (LeakSanitizer on) and test_threads with
# -fsanitize=thread, run natively.
#
#   tests/c/run.sh
#
# Library: $VPACK_LIB_DIR if set, else ${CARGO_TARGET_DIR:-rust/target}/release (relative
# paths are taken from the repository root). When libvpack.so is missing from the default
# location it is built with `cargo build --release`. An existing library is used as is:
# rebuild it yourself after changing rust/.
#
# Fails on any compiler warning, failed check, a last line other than "N passed, 0 failed",
# a valgrind error or leak (definite, indirect or possible; in the program or in any child
# it forks), a sanitizer report, or anything written to stderr (the library must never
# print). Needs cc, c++ and valgrind. tests/c/valgrind.supp hides exactly three things, the
# process-wide embedder cache, Rust's per-thread std::thread::current() handle and the
# thread blocks of the worker pool (alive at exit); read its comments before adding to
# it. LeakSanitizer needs no suppression: it counts them as reachable (it follows interior
# pointers).
#
# A documented behaviour the library does not have yet, once reported, is a "KNOWN GAP"
# line (check.h's KNOWN_GAP): printed in every run and counted in the summary, but not a
# failure.
#
# Under valgrind test_threads runs with --quick (60 searches instead of 250, each thread
# doing half): valgrind runs one thread at a time, ~50x slower, so there it looks for
# memory errors in the concurrent paths; the full run is the sanitizer builds' job. Likewise
# test_hnsw --quick under valgrind (600 rows instead of 4,000, 12 queries instead of 100).
# ThreadSanitizer sees the C side and every malloc/free, not the accesses inside the
# (uninstrumented) Rust library.
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
cflags=(-std=c11 -Wall -Wextra -Werror -pedantic -g -O1 -I include)
san=(-fsanitize=address,undefined -fno-omit-frame-pointer)
cc=${CC:-cc}
summary=()

echo "== library: $libdir/libvpack.so ($(date -r "$libdir/libvpack.so" '+%Y-%m-%d %H:%M:%S'))"
echo "== compile"
"$cc" "${cflags[@]}" tests/c/test_vpack.c -o "$build/test_vpack_c" "${link[@]}"
"${CXX:-c++}" -std=c++17 -Wall -Wextra -Werror -pedantic -g -O1 -I include \
    tests/c/test_vpack.cpp -o "$build/test_vpack_cpp" "${link[@]}" -pthread
"$cc" "${cflags[@]}" tests/c/test_misuse.c -o "$build/test_misuse" "${link[@]}" -lm
"$cc" "${cflags[@]}" -pthread tests/c/test_threads.c -o "$build/test_threads" "${link[@]}"
"$cc" "${cflags[@]}" tests/c/test_hnsw.c -o "$build/test_hnsw" "${link[@]}" -lm
"$cc" "${cflags[@]}" tests/c/test_sets.c -o "$build/test_sets" "${link[@]}"
"$cc" "${cflags[@]}" "${san[@]}" tests/c/test_misuse.c -o "$build/test_misuse_asan" \
    "${link[@]}" -lm
"$cc" "${cflags[@]}" "${san[@]}" -pthread tests/c/test_threads.c \
    -o "$build/test_threads_asan" "${link[@]}"
"$cc" "${cflags[@]}" "${san[@]}" tests/c/test_hnsw.c -o "$build/test_hnsw_asan" \
    "${link[@]}" -lm
"$cc" "${cflags[@]}" "${san[@]}" tests/c/test_sets.c -o "$build/test_sets_asan" "${link[@]}"
# ThreadSanitizer is optional (not every toolchain ships libtsan); the same source has
# already compiled cleanly above, so a failure here is the toolchain's.
have_tsan=1
if ! "$cc" "${cflags[@]}" -fsanitize=thread -pthread tests/c/test_threads.c \
    -o "$build/test_threads_tsan" "${link[@]}" 2>"$build/tsan-compile.err"; then
    have_tsan=0
    echo "-- ThreadSanitizer build unavailable here (see $build/tsan-compile.err); skipped"
fi

# The program's last line is "N passed, 0 failed" and it wrote nothing to stderr.
check_output() {
    local name=$1 out=$2 err=$3
    if [[ -s $err ]]; then
        echo "run.sh: $name wrote to stderr (the library must never print):" >&2
        head -c 4000 "$err" >&2
        return 1
    fi
    if ! tail -n 1 "$out" | grep -Eq '^[0-9]+ passed, 0 failed$'; then
        echo "run.sh: $name did not end with 'N passed, 0 failed'" >&2
        return 1
    fi
}

# "; N known gaps" when the program printed KNOWN GAP lines, else nothing.
known_gaps() {
    local n
    n=$(grep -c '^KNOWN GAP' "$1" || true)
    if [[ $n -gt 0 ]]; then printf '; %s known gaps' "$n"; fi
}

# run_valgrind NAME EXE [ARGS...]: memcheck with one log per process (children forked by
# test_misuse get their own), program output to stdout and $build/NAME.out, stderr to
# $build/NAME.err.
run_valgrind() {
    local name=$1 exe=$2
    shift 2
    local logs=$build/$name.vg out=$build/$name.out err=$build/$name.err rc=0 start=$SECONDS
    rm -rf "$logs"
    mkdir -p "$logs"
    echo "== run $name under valgrind"
    "$valgrind" --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect,possible \
        --show-leak-kinds=definite,indirect,possible \
        --suppressions=tests/c/valgrind.supp \
        --log-file="$logs/%p.log" "$exe" "$@" >"$out" 2>"$err" &
    local pid=$!
    wait "$pid" || rc=$?
    cat "$out"
    local main_log=$logs/$pid.log
    summary+=("$(printf '%-18s %-10s %s' "$name" valgrind "$(tail -n 1 "$out")")")
    if [[ $rc -ne 0 ]]; then
        echo "run.sh: $name exited with status $rc under valgrind" >&2
        if [[ $rc -eq 99 && -f $main_log ]]; then cat "$main_log" >&2; fi
        [[ -s $err ]] && head -c 4000 "$err" >&2
        return 1
    fi
    check_output "$name" "$out" "$err" || return 1
    local bad
    bad=$(grep -L 'ERROR SUMMARY: 0 errors' "$logs"/*.log || true)
    if [[ -n $bad ]]; then
        echo "run.sh: valgrind reported errors for $name:" >&2
        for f in $bad; do cat "$f" >&2; done
        return 1
    fi
    local nlogs
    nlogs=$(find "$logs" -name '*.log' | wc -l)
    echo "-- valgrind ($name, $((SECONDS - start)) s):"
    grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|suppressed:|in use at exit|All heap blocks were freed' "$main_log" |
        sed -e 's/^==[0-9]*== */   /'
    if [[ $nlogs -gt 1 ]]; then
        echo "   $((nlogs - 1)) forked children: ERROR SUMMARY 0 errors in each"
    fi
    summary[-1]="$(printf '%-18s %-10s %-22s %s; %s%s' "$name" valgrind "$(tail -n 1 "$out")" \
        "$(grep -o 'ERROR SUMMARY: [0-9]* errors' "$main_log")" \
        "$(grep -o 'definitely lost: [0-9,]* bytes' "$main_log" || echo 'no leaks possible')" \
        "$(known_gaps "$out")")"
}

# run_native NAME KIND EXE [ARGS...] with the sanitizer options below. Sanitizer reports
# go to $build/NAME.san.<pid> (one per process, forked children included), so stderr stays
# the library's own and must be empty; any report fails the run, except ASan's note that
# it returned NULL for an allocation it cannot serve (allocator_may_return_null: the
# library's handling of a failed allocation is what is tested), which is counted.
run_native() {
    local name=$1 kind=$2 exe=$3
    shift 3
    local out=$build/$name.out err=$build/$name.err san_log=$build/$name.san rc=0
    local start=$SECONDS
    rm -f "$san_log".*
    echo "== run $name ($kind)"
    ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:allocator_may_return_null=1:log_path=$san_log \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$san_log \
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:log_path=$san_log \
        "$exe" "$@" >"$out" 2>"$err" || rc=$?
    cat "$out"
    summary+=("$(printf '%-18s %-10s %s' "$name" "$kind" "$(tail -n 1 "$out")")")
    local reports=0 alloc_notes=0
    if compgen -G "$san_log.*" >/dev/null; then
        alloc_notes=$(cat "$san_log".* | grep -c 'WARNING: AddressSanitizer failed to allocate' || true)
        reports=$(cat "$san_log".* | grep -v 'WARNING: AddressSanitizer failed to allocate' |
            grep -c . || true)
    fi
    if [[ $kind == tsan ]] && cat "$err" "$san_log".* 2>/dev/null |
        grep -q 'ThreadSanitizer: unexpected memory mapping'; then
        echo "-- $name: ThreadSanitizer cannot run on this kernel's address layout; skipped"
        summary[-1]="$(printf '%-18s %-10s skipped (TSan unsupported here)' "$name" "$kind")"
        return 0
    fi
    if [[ $rc -ne 0 || $reports -ne 0 ]]; then
        echo "run.sh: $name exited with status $rc; $reports lines of sanitizer reports" >&2
        [[ -s $err ]] && head -c 4000 "$err" >&2
        if [[ $reports -ne 0 ]]; then cat "$san_log".* | head -c 12000 >&2; fi
        return 1
    fi
    check_output "$name" "$out" "$err" || return 1
    local notes=""
    if [[ $alloc_notes -ne 0 ]]; then
        notes=" ($alloc_notes allocations too large for ASan returned NULL)"
    fi
    echo "-- $name ($kind, $((SECONDS - start)) s): no sanitizer report, stderr empty$notes"
    summary[-1]="$(printf '%-18s %-10s %-22s %s%s' "$name" "$kind" "$(tail -n 1 "$out")" \
        "no sanitizer reports, stderr empty$notes" "$(known_gaps "$out")")"
}

# Every program runs (one valgrind job at a time) even when an earlier one failed, so one
# run shows every failure; the script fails at the end.
failed=()
run_valgrind test_vpack_c "$build/test_vpack_c" || failed+=(test_vpack_c)
run_valgrind test_vpack_cpp "$build/test_vpack_cpp" || failed+=(test_vpack_cpp)
run_valgrind test_misuse "$build/test_misuse" || failed+=(test_misuse)
run_native test_misuse_asan asan+ubsan "$build/test_misuse_asan" || failed+=(test_misuse_asan)
run_valgrind test_threads "$build/test_threads" --quick || failed+=(test_threads)
run_native test_threads_asan asan+ubsan "$build/test_threads_asan" || failed+=(test_threads_asan)
run_valgrind test_hnsw "$build/test_hnsw" --quick || failed+=(test_hnsw)
run_native test_hnsw_asan asan+ubsan "$build/test_hnsw_asan" || failed+=(test_hnsw_asan)
run_valgrind test_sets "$build/test_sets" || failed+=(test_sets)
run_native test_sets_asan asan+ubsan "$build/test_sets_asan" || failed+=(test_sets_asan)
if [[ $have_tsan -eq 1 ]]; then
    run_native test_threads_tsan tsan "$build/test_threads_tsan" || failed+=(test_threads_tsan)
else
    summary+=("$(printf '%-18s %-10s skipped (no TSan toolchain)' test_threads_tsan tsan)")
fi

echo "== summary ($SECONDS s)"
if [[ ${#summary[@]} -gt 0 ]]; then printf '   %s\n' "${summary[@]}"; fi
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "run.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "== all C/C++ consumer tests passed"
