/*
 * Check machinery shared by tests/c/test_misuse.c, test_threads.c and test_hnsw.c (C11).
 *
 * Checks are counted in the calling (main) thread only; the last line a program prints
 * is "N passed, M failed". Each group ("[name] ok (n checks)") also checks that nothing
 * was written to stderr while it ran, when stderr is a regular file (tests/c/run.sh
 * redirects it to one): the library must never print.
 */
#ifndef VPACK_TEST_CHECK_H
#define VPACK_TEST_CHECK_H

#include "vpack.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int g_passed;
static int g_failed;
static int g_group_passed;
static int g_group_failed;
static const char *g_group = "";
static long long g_stderr_size = -1;

/* Size of fd 2 when it is a regular file, else -1. */
static long long stderr_size(void) {
    struct stat st;
    fflush(stderr);
    if (fstat(2, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    return (long long)st.st_size;
}

static void group_begin(const char *name) {
    g_group = name;
    g_group_passed = 0;
    g_group_failed = 0;
    g_stderr_size = stderr_size();
}

static int check_impl(int ok, const char *expr, const char *file, int line) {
    if (ok) {
        g_passed++;
        g_group_passed++;
    } else {
        g_failed++;
        g_group_failed++;
        printf("FAIL %s:%d: [%s] %s\n", file, line, g_group, expr);
        fflush(stdout);
    }
    return ok;
}

#define CHECK(cond) check_impl((cond) ? 1 : 0, #cond, __FILE__, __LINE__)

/*
 * A behaviour include/vpack.h documents that the library does not have yet, already
 * reported to the library's maintainers. When `cond` holds, it is a passed check like any
 * other. When it does not, one "KNOWN GAP" line is printed with `note` (what the library
 * did) and counted apart, not as a failure, so the suite keeps passing while the gap stays
 * visible in every run. Turn it into CHECK once the library is fixed.
 */
static int g_known_gaps;

static inline int known_gap_impl(int ok, const char *expr, const char *note, const char *file,
                                 int line) {
    if (ok) return check_impl(1, expr, file, line);
    g_known_gaps++;
    printf("KNOWN GAP %s:%d: [%s] %s: %s\n", file, line, g_group, expr, note);
    fflush(stdout);
    return 0;
}

#define KNOWN_GAP(cond, note) known_gap_impl((cond) ? 1 : 0, #cond, (note), __FILE__, __LINE__)

static void group_end(void) {
    long long now = stderr_size();
    if (g_stderr_size >= 0 && now >= 0) {
        if (!check_impl(now == g_stderr_size, "nothing written to stderr during the group",
                        __FILE__, __LINE__)) {
            printf("  %lld bytes were written to stderr (see the captured stderr)\n",
                   now - g_stderr_size);
        }
    }
    if (g_group_failed == 0) {
        printf("[%s] ok (%d checks)\n", g_group, g_group_passed);
    } else {
        printf("[%s] FAILED (%d of %d checks failed)\n", g_group, g_group_failed,
               g_group_passed + g_group_failed);
    }
    fflush(stdout);
}

static const char *status_name(vpack_status s) {
    static const char *const names[] = {
        "VPACK_OK",           "VPACK_E_NULL_ARG",
        "VPACK_E_INVALID_ARG", "VPACK_E_INVALID_JSON",
        "VPACK_E_INVALID_UTF8", "VPACK_E_DIMENSION_MISMATCH",
        "VPACK_E_IO",         "VPACK_E_CORRUPT",
        "VPACK_E_UNSUPPORTED_VERSION", "VPACK_E_MODEL",
        "VPACK_E_LIMIT",      "VPACK_E_PANIC",
        "VPACK_E_NOT_FOUND",  "VPACK_E_RUNTIME",
    };
    if (s >= 0 && s < (vpack_status)(sizeof names / sizeof names[0])) return names[s];
    return "(unknown status)";
}

/* No second acceptable status. */
#define NO_ALT (-1)

/*
 * The common judgement of one call's outcome: `got` is `want` (or `alt` when alt is not
 * NO_ALT), never VPACK_E_PANIC; the thread's last error `code` equals `got`; the message
 * `msg` (of reported size `need`, including the NUL) is "" after a success and
 * "CODE|text" with CODE == got after an error. One check; every reason is printed.
 */
static int judge_status(vpack_status got, vpack_status want, vpack_status alt,
                        vpack_status code, const char *msg, size_t need, const char *expr,
                        const char *file, int line) {
    char reason[768];
    size_t rlen = 0;
    reason[0] = '\0';
#define REASON(...)                                                                      \
    do {                                                                                 \
        if (rlen < sizeof reason) {                                                      \
            int w_ = snprintf(reason + rlen, sizeof reason - rlen, __VA_ARGS__);         \
            if (w_ > 0) rlen += (size_t)w_;                                              \
        }                                                                                \
    } while (0)
    if (got != want && (alt == NO_ALT || got != alt)) {
        if (alt == NO_ALT) {
            REASON(" status %d (%s), want %d (%s);", got, status_name(got), want,
                   status_name(want));
        } else {
            REASON(" status %d (%s), want %d (%s) or %d (%s);", got, status_name(got), want,
                   status_name(want), alt, status_name(alt));
        }
    }
    if (code != got) REASON(" last_error_code %d != status %d;", code, got);
    if (msg == NULL) {
        REASON(" no message;");
    } else if (got == VPACK_OK) {
        if (need != 1 || msg[0] != '\0') REASON(" message after success is \"%s\";", msg);
    } else {
        char prefix[24];
        int plen = snprintf(prefix, sizeof prefix, "%d|", got);
        if (strncmp(msg, prefix, (size_t)plen) != 0) {
            REASON(" message does not start with \"%s\";", prefix);
        } else if (msg[plen] == '\0') {
            REASON(" message has no text after \"%s\";", prefix);
        }
        if (need != strlen(msg) + 1) {
            REASON(" message size %zu != strlen + 1 (%zu);", need, strlen(msg) + 1);
        }
    }
    int ok = rlen == 0;
    if (ok) {
        g_passed++;
        g_group_passed++;
    } else {
        g_failed++;
        g_group_failed++;
        printf("FAIL %s:%d: [%s] %s:%s message=\"%s\"\n", file, line, g_group, expr, reason,
               msg ? msg : "(null)");
        fflush(stdout);
    }
#undef REASON
    return ok;
}

/* Reads this thread's last error (code and full message) and judges `got` with it. */
static int check_status_impl(vpack_status got, vpack_status want, vpack_status alt,
                             const char *expr, const char *file, int line) {
    vpack_status code = vpack_last_error_code();
    size_t need = vpack_last_error_message(NULL, 0);
    char *msg = malloc(need > 0 ? need : 1);
    if (msg != NULL) {
        msg[0] = '\0';
        size_t again = vpack_last_error_message(msg, need > 0 ? need : 1);
        if (again != need) need = 0; /* reported as a size mismatch below */
    }
    int ok = judge_status(got, want, alt, code, msg, need, expr, file, line);
    free(msg);
    return ok;
}

#define CHECK_STATUS(call, want) check_status_impl((call), (want), NO_ALT, #call, __FILE__, __LINE__)
#define CHECK_STATUS2(call, want, alt)                                                    \
    check_status_impl((call), (want), (alt), #call, __FILE__, __LINE__)
#define CHECK_OK(call) CHECK_STATUS((call), VPACK_OK)

/* KNOWN_GAP for a status: judged like CHECK_STATUS when the call returns `want`; any other
 * status is a known gap, printed with what came back. */
static inline int known_gap_status_impl(vpack_status got, vpack_status want, const char *expr,
                                 const char *file, int line) {
    if (got == want) return check_status_impl(got, want, NO_ALT, expr, file, line);
    char note[160];
    snprintf(note, sizeof note, "status %d (%s), vpack.h says %d (%s)", got, status_name(got),
             want, status_name(want));
    return known_gap_impl(0, expr, note, file, line);
}

#define KNOWN_GAP_STATUS(call, want)                                                      \
    known_gap_status_impl((call), (want), #call, __FILE__, __LINE__)

/* Deterministic pseudo-random numbers (splitmix64), so every run uses the same data. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rand_unit(uint64_t *state) {
    return (float)((double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

static int finish_report(void) {
    if (g_known_gaps > 0) {
        printf("(%d known gaps between the library and vpack.h: see the KNOWN GAP lines)\n",
               g_known_gaps);
    }
    printf("%d passed, %d failed\n", g_passed, g_failed);
    fflush(stdout);
    return g_failed == 0 ? 0 : 1;
}

#endif /* VPACK_TEST_CHECK_H */
