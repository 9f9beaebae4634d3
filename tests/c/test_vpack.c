/*
 * C consumer test for libvpack, using only the public header include/vpack.h.
 *
 * Build (see tests/c/run.sh):
 *   cc -std=c11 -Wall -Wextra -Werror -pedantic -I include tests/c/test_vpack.c \
 *      -L<libdir> -lvpack -Wl,-rpath,<libdir>
 *
 * Prints one line per check group and ends with "N passed, M failed"; exits 1 when any
 * check failed (each failure is printed with file:line). Every handle and buffer is
 * released, so the program is expected to run clean under valgrind --leak-check=full.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, opendir, unlink, rmdir, mkdir, access, setenv,
                                   unsetenv */
#define _XOPEN_SOURCE 700 /* realpath */

#include "vpack.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------ */
/* Check machinery                                                                      */
/* ------------------------------------------------------------------------------------ */

static int g_passed;
static int g_failed;
static int g_group_passed;
static int g_group_failed;
static const char *g_group;

static void group_begin(const char *name) {
    g_group = name;
    g_group_passed = 0;
    g_group_failed = 0;
}

static void group_end(void) {
    if (g_group_failed == 0) {
        printf("[%s] ok (%d checks)\n", g_group, g_group_passed);
    } else {
        printf("[%s] FAILED (%d of %d checks failed)\n", g_group, g_group_failed,
               g_group_passed + g_group_failed);
    }
    fflush(stdout);
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

static const char *status_name(vpack_status s) {
    static const char *names[] = {
        "VPACK_OK",
        "VPACK_E_NULL_ARG",
        "VPACK_E_INVALID_ARG",
        "VPACK_E_INVALID_JSON",
        "VPACK_E_INVALID_UTF8",
        "VPACK_E_DIMENSION_MISMATCH",
        "VPACK_E_IO",
        "VPACK_E_CORRUPT",
        "VPACK_E_UNSUPPORTED_VERSION",
        "VPACK_E_MODEL",
        "VPACK_E_LIMIT",
        "VPACK_E_PANIC",
        "VPACK_E_NOT_FOUND",
        "VPACK_E_RUNTIME",
    };
    if (s >= 0 && s < (vpack_status)(sizeof names / sizeof names[0])) {
        return names[s];
    }
    return "(unknown status)";
}

/*
 * Checks that `got` == `want`, that vpack_last_error_code() agrees, and that
 * vpack_last_error_message() reports "CODE|message" for an error or "" (size 1) after a
 * success, using the size-query pattern and a truncating copy. Counts as one check;
 * on failure every reason is printed.
 */
static int check_status_impl(vpack_status got, vpack_status want, const char *expr,
                             const char *file, int line) {
    char reason[1024];
    size_t rlen = 0;
    reason[0] = '\0';
#define REASON(...)                                                                      \
    do {                                                                                 \
        if (rlen < sizeof reason) {                                                      \
            int w_ = snprintf(reason + rlen, sizeof reason - rlen, __VA_ARGS__);         \
            if (w_ > 0) rlen += (size_t)w_;                                              \
        }                                                                                \
    } while (0)

    if (got != want) {
        REASON(" status %d (%s), want %d (%s);", got, status_name(got), want,
               status_name(want));
    }
    vpack_status code = vpack_last_error_code();
    if (code != want) {
        REASON(" last_error_code %d, want %d;", code, want);
    }

    size_t need = vpack_last_error_message(NULL, 0);
    char *msg = malloc(need > 0 ? need : 1);
    if (msg == NULL) {
        REASON(" malloc failed;");
    } else {
        memset(msg, 'X', need > 0 ? need : 1);
        size_t again = vpack_last_error_message(msg, need);
        if (again != need) {
            REASON(" size changed between calls (%zu then %zu);", need, again);
        }
        if (need == 0 || msg[need - 1] != '\0' || strlen(msg) != need - 1) {
            REASON(" message of size %zu is not NUL-terminated at size-1;", need);
        } else if (want == VPACK_OK) {
            if (need != 1 || msg[0] != '\0') {
                REASON(" message after success is \"%s\" (size %zu), want \"\" (size 1);",
                       msg, need);
            }
        } else {
            char prefix[16];
            int plen = snprintf(prefix, sizeof prefix, "%d|", want);
            if (strncmp(msg, prefix, (size_t)plen) != 0) {
                REASON(" message \"%s\" does not start with \"%s\";", msg, prefix);
            } else if (msg[plen] == '\0') {
                REASON(" message \"%s\" has no text after the code;", msg);
            }
            /* Truncation: cap 4 copies 3 bytes + NUL and leaves the rest untouched. */
            char small[8];
            memset(small, '#', sizeof small);
            size_t r = vpack_last_error_message(small, 4);
            if (r != need) {
                REASON(" truncating call returned %zu, want %zu;", r, need);
            }
            size_t copied = need - 1 < 3 ? need - 1 : 3;
            if (memcmp(small, msg, copied) != 0 || small[copied] != '\0') {
                REASON(" truncated copy is not the NUL-terminated prefix;");
            }
            for (size_t i = copied + 1; i < sizeof small; i++) {
                if (small[i] != '#') {
                    REASON(" truncating call wrote past cap at byte %zu;", i);
                    break;
                }
            }
            /* cap 1: only the NUL. */
            memset(small, '#', sizeof small);
            vpack_last_error_message(small, 1);
            if (small[0] != '\0' || small[1] != '#') {
                REASON(" cap=1 did not write exactly one NUL;");
            }
            /* cap 0 with a buffer: nothing written. */
            memset(small, '#', sizeof small);
            if (vpack_last_error_message(small, 0) != need || small[0] != '#') {
                REASON(" cap=0 with a buffer wrote to it or returned a wrong size;");
            }
        }
        if (vpack_last_error_code() != code) {
            REASON(" reading the message changed the last error code;");
        }
    }
    int ok = rlen == 0;
    if (!ok) {
        printf("FAIL %s:%d: [%s] %s:%s message=\"%s\"\n", file, line, g_group, expr, reason,
               msg ? msg : "(null)");
        fflush(stdout);
        g_failed++;
        g_group_failed++;
    } else {
        g_passed++;
        g_group_passed++;
    }
    free(msg);
#undef REASON
    return ok;
}

#define CHECK_STATUS(call, want) check_status_impl((call), (want), #call, __FILE__, __LINE__)
#define CHECK_OK(call) CHECK_STATUS((call), VPACK_OK)

/* ------------------------------------------------------------------------------------ */
/* Helpers                                                                              */
/* ------------------------------------------------------------------------------------ */

#define DIM 8
#define EMB_DIM 64

static int near(float a, float b, float tol) {
    float d = a - b;
    return d <= tol && -d <= tol;
}

/* A vpack_str equals a NUL-terminated expectation (byte for byte, same length). */
static int str_eq(vpack_str s, const char *want) {
    size_t n = strlen(want);
    return s.len == n && (n == 0 || (s.data != NULL && memcmp(s.data, want, n) == 0));
}

/* The vpack_str contains `needle`. */
static int str_contains(vpack_str s, const char *needle) {
    size_t n = strlen(needle);
    if (s.data == NULL || n > s.len) return 0;
    for (size_t i = 0; i + n <= s.len; i++) {
        if (memcmp(s.data + i, needle, n) == 0) return 1;
    }
    return 0;
}

static long str_find(vpack_str s, const char *needle) {
    size_t n = strlen(needle);
    if (s.data == NULL || n > s.len) return -1;
    for (size_t i = 0; i + n <= s.len; i++) {
        if (memcmp(s.data + i, needle, n) == 0) return (long)i;
    }
    return -1;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/*
 * Finds section `kind` in a serialized pack by reading the section table (layout from
 * rust/src/format/mod.rs: 64-byte header, then 32-byte entries kind/flags/offset/length).
 */
static int section_range(const uint8_t *b, size_t len, uint32_t kind, size_t *off, size_t *n) {
    if (len < 64) return 0;
    uint32_t count = le32(b + 12);
    for (uint32_t i = 0; i < count && 64 + 32 * (size_t)(i + 1) <= len; i++) {
        const uint8_t *e = b + 64 + 32 * (size_t)i;
        if (le32(e) == kind) {
            *off = (size_t)le64(e + 8);
            *n = (size_t)le64(e + 16);
            return 1;
        }
    }
    return 0;
}

/* 1 when byte `pos` lies in the header, the section table or a section (not padding). */
static int covered_byte(const uint8_t *b, size_t len, size_t pos) {
    uint32_t count = le32(b + 12);
    if (pos < 64 + 32 * (size_t)count) return 1;
    for (uint32_t i = 0; i < count && 64 + 32 * (size_t)(i + 1) <= len; i++) {
        const uint8_t *e = b + 64 + 32 * (size_t)i;
        size_t off = (size_t)le64(e + 8);
        size_t n = (size_t)le64(e + 16);
        if (pos >= off && pos < off + n) return 1;
    }
    return 0;
}

static int write_file(const char *path, const uint8_t *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return 0;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    int ok = fclose(f) == 0 && w == len;
    return ok;
}

/* Reads a whole file into a malloc'd buffer (free() it). */
static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int count_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    }
    closedir(d);
    return n;
}

/* vpack_index_from_bytes fails with `want`, writes no handle (freed if it does). */
static int load_fails(const uint8_t *data, size_t len, vpack_status want, const char *expr,
                      int line) {
    vpack_index *out = NULL;
    int ok = check_status_impl(vpack_index_from_bytes(data, len, &out), want, expr, __FILE__,
                               line);
    ok &= check_impl(out == NULL, "no handle written on error", __FILE__, line);
    vpack_index_free(out);
    return ok;
}

#define CHECK_LOAD_FAILS(data, len, want)                                                 \
    load_fails((data), (len), (want), "vpack_index_from_bytes(" #data ", " #len ")", __LINE__)

/* vpack_index_open fails with `want`, writes no handle (freed if it does). */
static int open_fails(const char *path, uint32_t flags, vpack_status want, const char *expr,
                      int line) {
    vpack_index *out = NULL;
    int ok = check_status_impl(vpack_index_open(path, flags, &out), want, expr, __FILE__, line);
    ok &= check_impl(out == NULL, "no handle written on error", __FILE__, line);
    vpack_index_free(out);
    return ok;
}

#define CHECK_OPEN_FAILS(path, flags, want)                                               \
    open_fails((path), (flags), (want), "vpack_index_open(" #path ", " #flags ")", __LINE__)

/* vpack_builder_new / vpack_embedder_new fail with `want` and write no handle. */
static int builder_new_fails(const char *options, vpack_status want, const char *expr,
                             int line) {
    vpack_builder *out = NULL;
    int ok = check_status_impl(vpack_builder_new(options, &out), want, expr, __FILE__, line);
    ok &= check_impl(out == NULL, "no handle written on error", __FILE__, line);
    vpack_builder_free(out);
    return ok;
}

static int embedder_new_fails(const char *config, vpack_status want, const char *expr,
                              int line) {
    vpack_embedder *out = NULL;
    int ok = check_status_impl(vpack_embedder_new(config, &out), want, expr, __FILE__, line);
    ok &= check_impl(out == NULL, "no handle written on error", __FILE__, line);
    vpack_embedder_free(out);
    return ok;
}

#define CHECK_BUILDER_NEW_FAILS(options, want)                                            \
    builder_new_fails((options), (want), "vpack_builder_new(" #options ")", __LINE__)
#define CHECK_EMBEDDER_NEW_FAILS(config, want)                                            \
    embedder_new_fails((config), (want), "vpack_embedder_new(" #config ")", __LINE__)

/*
 * A new builder (`options`) holding one chunk; vpack_builder_finish(builder, manifest, out)
 * fails with `want` (status and last error, via check_status_impl) and writes no handle.
 * The builder is never touched again: finish consumes it also on error, which valgrind
 * checks (a builder and its chunk left behind would be "definitely lost").
 */
static int finish_fails(const char *options, const char *manifest, vpack_status want,
                        const char *expr, int line) {
    static const char chunk[] = "[{\"text\":\"consumed on error\",\"metadata\":{\"k\":1}}]";
    static const float vec[DIM] = {0, 0, 1, 0, 0, 0, 0, 0};
    vpack_builder *b = NULL;
    if (!check_status_impl(vpack_builder_new(options, &b), VPACK_OK, "vpack_builder_new",
                           __FILE__, line) ||
        !check_impl(b != NULL, "builder created", __FILE__, line)) {
        return 0;
    }
    int ok = check_status_impl(
        vpack_builder_add(b, (const uint8_t *)chunk, sizeof chunk - 1, vec, 1, DIM), VPACK_OK,
        "vpack_builder_add", __FILE__, line);
    vpack_index *out = NULL;
    ok &= check_status_impl(vpack_builder_finish(b, manifest, &out), want, expr, __FILE__,
                            line);
    ok &= check_impl(out == NULL, "no handle written on error", __FILE__, line);
    vpack_index_free(out);
    return ok;
}

#define CHECK_FINISH_FAILS(manifest, want)                                                \
    finish_fails(OPTIONS, (manifest), (want), "vpack_builder_finish(b, " #manifest ")",     \
                 __LINE__)
#define CHECK_FINISH_FAILS_WITH(options, manifest, want)                                  \
    finish_fails((options), (manifest), (want),                                           \
                 "vpack_builder_finish(b of " #options ", " #manifest ")", __LINE__)

/* Searches `idx` and checks: status OK, n == expect_n, ids unique and < len, scores sorted
 * descending. Writes the hits to ids/scores (arrays of at least k). Returns n. */
static size_t search_checked(const vpack_index *idx, const float *q, size_t k, uint64_t *ids,
                             float *scores, size_t expect_n, int line) {
    size_t n = (size_t)-1;
    int ok = check_status_impl(vpack_index_search(idx, q, DIM, k, ids, scores, &n), VPACK_OK,
                               "vpack_index_search(...)", __FILE__, line);
    if (!ok) return 0;
    check_impl(n == expect_n, "search returned min(k, len) hits", __FILE__, line);
    if (n > k) n = k;
    int sorted = 1, unique = 1, in_range = 1;
    size_t len = 0;
    vpack_index_len(idx, &len);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && scores[i] > scores[i - 1]) sorted = 0;
        if (ids[i] >= len) in_range = 0;
        for (size_t j = 0; j < i; j++) {
            if (ids[j] == ids[i]) unique = 0;
        }
    }
    check_impl(sorted, "scores sorted best first (descending)", __FILE__, line);
    check_impl(unique, "hit ids are unique", __FILE__, line);
    check_impl(in_range, "hit ids are < len", __FILE__, line);
    return n;
}

/* ------------------------------------------------------------------------------------ */
/* Test data: an 8-d cosine pack of 5 chunks, added in two batches                      */
/* ------------------------------------------------------------------------------------ */

static const char *const OPTIONS = "{\"dimension\":8,\"metric\":\"cosine\"}";

/* The caller's part of pack 1's manifest, given to vpack_builder_finish. */
static const char *const MANIFEST = "{\"title\":\"c-test\"}";

/* Non-ASCII UTF-8 text: "naïve café — 日本語 🚀" (written as escapes for portability). */
#define TEXT_UTF8                                                                        \
    "na\xc3\xaf" "ve caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "      \
    "\xf0\x9f\x9a\x80"

static const char *const BATCH_A_JSON =
    "[{\"text\":\"alpha chunk\",\"metadata\":{\"lang\":\"en\",\"n\":0}},"
    " {\"text\":\"" TEXT_UTF8 "\",\"metadata\":{\"lang\":\"mixed\",\"tags\":[\"a\",\"b\"]}},"
    " {\"text\":\"gamma \\\"quoted\\\" \\\\ back\\u00e9\"}]";

static const char *const BATCH_B_JSON =
    "[{\"text\":\"delta\",\"metadata\":{\"b\":2,\"a\":1}},"
    " {\"text\":\"epsilon\",\"metadata\":{}}]";

static const float BATCH_A_VEC[3 * DIM] = {
    1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.1f, /* 0 */
    0.0f, 1.0f, 0.0f, 0.0f, 0.2f, 0.0f, 0.0f, 0.0f, /* 1 */
    0.0f, 0.0f, 3.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, /* 2: not unit length on purpose */
};

static const float BATCH_B_VEC[2 * DIM] = {
    0.5f,  0.5f, 0.5f, 0.5f, 0.0f, 0.0f, 0.0f, 0.0f, /* 3 */
    -1.0f, 0.0f, 0.0f, 2.0f, 0.0f, 0.0f, 0.0f, 0.0f, /* 4 */
};

static const char *const EXPECT_TEXT[5] = {
    "alpha chunk",
    TEXT_UTF8,
    "gamma \"quoted\" \\ back\xc3\xa9",
    "delta",
    "epsilon",
};

/* Canonical metadata: sorted keys, no spaces, "{}" when absent or empty. */
static const char *const EXPECT_META[5] = {
    "{\"lang\":\"en\",\"n\":0}",
    "{\"lang\":\"mixed\",\"tags\":[\"a\",\"b\"]}",
    "{}",
    "{\"a\":1,\"b\":2}",
    "{}",
};

static vpack_index *build_pack(void) {
    vpack_builder *b = NULL;
    vpack_index *idx = NULL;
    if (!CHECK_OK(vpack_builder_new(OPTIONS, &b)) || !CHECK(b != NULL)) return NULL;
    CHECK_OK(vpack_builder_add(b, (const uint8_t *)BATCH_A_JSON, strlen(BATCH_A_JSON),
                               BATCH_A_VEC, 3, DIM));
    CHECK_OK(vpack_builder_add(b, (const uint8_t *)BATCH_B_JSON, strlen(BATCH_B_JSON),
                               BATCH_B_VEC, 2, DIM));
    CHECK_OK(vpack_builder_finish(b, MANIFEST, &idx));
    CHECK(idx != NULL);
    return idx;
}

/* The standard search checks on a copy of pack 1 (original, deserialized or opened). */
static void check_pack_search(const vpack_index *idx, int line) {
    uint64_t ids[16];
    float scores[16];
    /* Query equal to stored vector 2 (raw, not normalised): cosine puts it first at ~1. */
    size_t n = search_checked(idx, &BATCH_A_VEC[2 * DIM], 3, ids, scores, 3, line);
    check_impl(n >= 1 && ids[0] == 2, "query == vector 2 -> id 2 first", __FILE__, line);
    check_impl(n >= 1 && near(scores[0], 1.0f, 1e-5f), "self-match score ~1.0", __FILE__,
               line);
    check_impl(n >= 2 && scores[1] < scores[0] - 1e-3f, "runner-up scores lower", __FILE__,
               line);
    /* A scaled copy of vector 4 finds vector 4 (cosine is scale invariant). */
    float q4[DIM];
    for (int i = 0; i < DIM; i++) q4[i] = 2.5f * BATCH_B_VEC[DIM + i];
    n = search_checked(idx, q4, 1, ids, scores, 1, line);
    check_impl(n == 1 && ids[0] == 4 && near(scores[0], 1.0f, 1e-5f),
               "scaled vector 4 -> id 4 at ~1.0", __FILE__, line);
}

/* ------------------------------------------------------------------------------------ */
/* Groups                                                                               */
/* ------------------------------------------------------------------------------------ */

static void test_version(void) {
    group_begin("version");
    CHECK(vpack_abi_version() == VPACK_ABI_VERSION);
    const char *v = vpack_version();
    CHECK(v != NULL);
    CHECK(v != NULL && v[0] != '\0');
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", VPACK_VERSION_MAJOR, VPACK_VERSION_MINOR,
             VPACK_VERSION_PATCH);
    CHECK(v != NULL && strcmp(v, want) == 0);
    CHECK(vpack_version() == v); /* static string */
    CHECK(VPACK_FORMAT_VERSION == 2);
    group_end();
}

static void test_status_and_free_null(void) {
    group_begin("status strings, free(NULL)");
    const char *unknown = vpack_status_str(9999);
    CHECK(unknown != NULL);
    int all_ok = 1;
    for (vpack_status s = 0; s <= 13; s++) {
        const char *d = vpack_status_str(s);
        if (d == NULL || d[0] == '\0' || (unknown != NULL && strcmp(d, unknown) == 0)) {
            printf("  status_str(%d) = %s\n", s, d ? d : "(null)");
            all_ok = 0;
        }
    }
    CHECK(all_ok); /* every code 0..13 has its own non-NULL, non-empty description */
    CHECK(vpack_status_str(-1) != NULL);
    CHECK(vpack_status_str(14) != NULL);
    CHECK(vpack_status_str(VPACK_OK) != vpack_status_str(VPACK_E_CORRUPT));

    vpack_index_free(NULL);
    vpack_builder_free(NULL);
    vpack_embedder_free(NULL);
    vpack_bytes_free(NULL);
    vpack_bytes empty = {NULL, 0};
    vpack_bytes_free(&empty);
    CHECK(empty.data == NULL && empty.len == 0);
    group_end();
}

static void test_build_and_search(vpack_index *idx) {
    group_begin("build + search");
    size_t len = 0, dim = 0;
    CHECK_OK(vpack_index_len(idx, &len));
    CHECK(len == 5);
    CHECK_OK(vpack_index_dimension(idx, &dim));
    CHECK(dim == DIM);
    CHECK_OK(vpack_index_verify(idx));

    check_pack_search(idx, __LINE__);

    /* Each stored vector is its own best match. */
    int self_ok = 1;
    for (int i = 0; i < 5; i++) {
        const float *v = i < 3 ? &BATCH_A_VEC[i * DIM] : &BATCH_B_VEC[(i - 3) * DIM];
        uint64_t id = 99;
        float score = 0;
        size_t n = 0;
        if (vpack_index_search(idx, v, DIM, 1, &id, &score, &n) != VPACK_OK || n != 1 ||
            id != (uint64_t)i || !near(score, 1.0f, 1e-5f)) {
            printf("  vector %d: n=%zu id=%llu score=%f\n", i, n, (unsigned long long)id,
                   (double)score);
            self_ok = 0;
        }
    }
    CHECK(self_ok);

    /* k larger than len: len hits, each id exactly once. Extra slots untouched. */
    uint64_t ids[10];
    float scores[10];
    for (int i = 0; i < 10; i++) {
        ids[i] = 777;
        scores[i] = -42.0f;
    }
    size_t n = search_checked(idx, &BATCH_A_VEC[0], 10, ids, scores, 5, __LINE__);
    CHECK(n == 5 && ids[0] == 0);
    CHECK(ids[5] == 777 && scores[9] == -42.0f);

    /* k == 0: no hits; the arrays may be NULL since they need 0 entries. */
    size_t n0 = 123;
    CHECK_OK(vpack_index_search(idx, &BATCH_A_VEC[0], DIM, 0, ids, scores, &n0));
    CHECK(n0 == 0);
    n0 = 123;
    CHECK_OK(vpack_index_search(idx, &BATCH_A_VEC[0], DIM, 0, NULL, NULL, &n0));
    CHECK(n0 == 0);
    group_end();
}

static void test_chunks_and_manifest(vpack_index *idx) {
    group_begin("chunks + manifest");
    for (int i = 0; i < 5; i++) {
        vpack_str text = {NULL, 0}, meta = {NULL, 0};
        if (!CHECK_OK(vpack_index_chunk(idx, (uint64_t)i, &text, &meta))) continue;
        if (!CHECK(str_eq(text, EXPECT_TEXT[i]))) {
            printf("  chunk %d text = \"%.*s\"\n", i, (int)text.len, (const char *)text.data);
        }
        if (!CHECK(str_eq(meta, EXPECT_META[i]))) {
            printf("  chunk %d metadata = \"%.*s\"\n", i, (int)meta.len,
                   (const char *)meta.data);
        }
    }
    /* Borrowed views are stable: asking again gives the same bytes. */
    vpack_str t3 = {NULL, 0}, m3 = {NULL, 0}, t3b = {NULL, 0}, m3b = {NULL, 0};
    CHECK_OK(vpack_index_chunk(idx, 3, &t3, &m3));
    CHECK_OK(vpack_index_chunk(idx, 3, &t3b, &m3b));
    CHECK(t3.data == t3b.data && t3.len == t3b.len && m3.data == m3b.data && m3.len == m3b.len);

    vpack_str man = {NULL, 0};
    CHECK_OK(vpack_index_manifest(idx, &man));
    CHECK(str_contains(man, "\"title\":\"c-test\""));
    CHECK(str_contains(man, "\"chunk_count\""));
    CHECK(str_contains(man, "\"chunk_count\":5"));
    CHECK(str_contains(man, "\"dimension\":8"));
    CHECK(str_contains(man, "\"metric\":\"cosine\""));
    CHECK(str_contains(man, "\"format_version\":2"));
    CHECK(man.len >= 2 && man.data[0] == '{' && man.data[man.len - 1] == '}');
    /* Canonical: no whitespace outside strings (none of our strings hold any), keys sorted. */
    CHECK(!str_contains(man, " ") && !str_contains(man, "\n"));
    long a = str_find(man, "\"chunk_count\""), b = str_find(man, "\"dimension\""),
         c = str_find(man, "\"format_version\""), d = str_find(man, "\"index\""),
         e = str_find(man, "\"metric\""), f = str_find(man, "\"title\"");
    CHECK(a >= 0 && a < b && b < c && c < d && d < e && e < f);
    if (g_group_failed) printf("  manifest = %.*s\n", (int)man.len, (const char *)man.data);

    /* The same borrowed pointer each time (borrowed from the handle, not copied). */
    vpack_str man2 = {NULL, 0};
    CHECK_OK(vpack_index_manifest(idx, &man2));
    CHECK(man2.data == man.data && man2.len == man.len);
    group_end();
}

static void test_bytes_round_trip(vpack_index *idx) {
    group_begin("bytes round trip");
    vpack_bytes bytes = {NULL, 0};
    CHECK_OK(vpack_index_to_bytes(idx, &bytes));
    CHECK(bytes.data != NULL && bytes.len >= 64);
    CHECK(bytes.len % 64 == 0);
    CHECK(bytes.len >= 9 && memcmp(bytes.data, "\x89VPACK\r\n", 8) == 0);
    CHECK(bytes.len >= 9 && bytes.data[8] == VPACK_FORMAT_VERSION);

    /* from_bytes copies: scribbling over our buffer afterwards must not matter. */
    uint8_t *copy = malloc(bytes.len);
    CHECK(copy != NULL);
    if (copy == NULL) {
        vpack_bytes_free(&bytes);
        group_end();
        return;
    }
    memcpy(copy, bytes.data, bytes.len);
    vpack_index *idx2 = NULL;
    CHECK_OK(vpack_index_from_bytes(copy, bytes.len, &idx2));
    memset(copy, 0xAB, bytes.len);
    free(copy);
    CHECK(idx2 != NULL);
    if (idx2 != NULL) {
        size_t len = 0, dim = 0;
        CHECK_OK(vpack_index_len(idx2, &len));
        CHECK_OK(vpack_index_dimension(idx2, &dim));
        CHECK(len == 5 && dim == DIM);
        check_pack_search(idx2, __LINE__);

        /* Identical results, bit for bit, on the original and the deserialized copy. */
        uint64_t ids1[5], ids2[5];
        float s1[5], s2[5];
        size_t n1 = 0, n2 = 0;
        float q[DIM] = {0.3f, -0.2f, 0.9f, 0.1f, 0.0f, 0.4f, 0.2f, -0.5f};
        CHECK_OK(vpack_index_search(idx, q, DIM, 5, ids1, s1, &n1));
        CHECK_OK(vpack_index_search(idx2, q, DIM, 5, ids2, s2, &n2));
        CHECK(n1 == 5 && n2 == 5);
        CHECK(memcmp(ids1, ids2, sizeof ids1) == 0 && memcmp(s1, s2, sizeof s1) == 0);

        /* Chunks and manifest survive the round trip. */
        vpack_str t = {NULL, 0}, m = {NULL, 0};
        CHECK_OK(vpack_index_chunk(idx2, 1, &t, &m));
        CHECK(str_eq(t, EXPECT_TEXT[1]) && str_eq(m, EXPECT_META[1]));
        vpack_str man1 = {NULL, 0}, man2 = {NULL, 0};
        CHECK_OK(vpack_index_manifest(idx, &man1));
        CHECK_OK(vpack_index_manifest(idx2, &man2));
        CHECK(man1.len == man2.len && memcmp(man1.data, man2.data, man1.len) == 0);

        /* Determinism: serializing the deserialized index gives the same bytes. */
        vpack_bytes again = {NULL, 0};
        CHECK_OK(vpack_index_to_bytes(idx2, &again));
        CHECK(again.len == bytes.len && memcmp(again.data, bytes.data, bytes.len) == 0);
        vpack_bytes_free(&again);
        vpack_index_free(idx2);
    }

    /* Determinism across builds: the same inputs give the same bytes. */
    vpack_index *idx3 = build_pack();
    if (idx3 != NULL) {
        vpack_bytes b3 = {NULL, 0};
        CHECK_OK(vpack_index_to_bytes(idx3, &b3));
        CHECK(b3.len == bytes.len && memcmp(b3.data, bytes.data, bytes.len) == 0);
        vpack_bytes_free(&b3);
        vpack_index_free(idx3);
    }

    /* vpack_bytes_free nulls the struct; a second free is a no-op. */
    vpack_bytes_free(&bytes);
    CHECK(bytes.data == NULL && bytes.len == 0);
    vpack_bytes_free(&bytes);
    CHECK(bytes.data == NULL && bytes.len == 0);
    group_end();
}

static void test_empty_pack(void) {
    group_begin("empty pack");
    vpack_builder *b = NULL;
    vpack_index *idx = NULL;
    CHECK_OK(vpack_builder_new("{\"dimension\":8}", &b));
    CHECK_OK(vpack_builder_finish(b, NULL, &idx)); /* NULL: no caller manifest */
    if (idx == NULL) {
        group_end();
        return;
    }
    size_t len = 99;
    CHECK_OK(vpack_index_len(idx, &len));
    CHECK(len == 0);
    uint64_t ids[3];
    float scores[3];
    size_t n = 99;
    CHECK_OK(vpack_index_search(idx, &BATCH_A_VEC[0], DIM, 3, ids, scores, &n));
    CHECK(n == 0);
    vpack_str t, m;
    CHECK_STATUS(vpack_index_chunk(idx, 0, &t, &m), VPACK_E_NOT_FOUND);
    vpack_bytes bytes = {NULL, 0};
    CHECK_OK(vpack_index_to_bytes(idx, &bytes));
    vpack_index *idx2 = NULL;
    CHECK_OK(vpack_index_from_bytes(bytes.data, bytes.len, &idx2));
    len = 99;
    CHECK_OK(vpack_index_len(idx2, &len));
    CHECK(len == 0);
    vpack_str man = {NULL, 0};
    CHECK_OK(vpack_index_manifest(idx2, &man));
    CHECK(str_contains(man, "\"chunk_count\":0") && str_contains(man, "\"metric\":\"cosine\""));
    /* With no caller manifest it holds exactly the keys vpack owns. */
    static const char *const VPACK_ONLY =
        "{\"chunk_count\":0,\"dimension\":8,\"format_version\":2,\"index\":{\"kind\":\"flat\"},"
        "\"metric\":\"cosine\"}";
    if (!CHECK(str_eq(man, VPACK_ONLY))) {
        printf("  manifest = %.*s\n", (int)man.len, (const char *)man.data);
    }
    vpack_index_free(idx2);
    vpack_bytes_free(&bytes);
    vpack_index_free(idx);
    group_end();
}

static void test_corrupt_bytes(vpack_index *idx) {
    group_begin("corrupt / unsupported bytes");
    vpack_bytes bytes = {NULL, 0};
    if (!CHECK_OK(vpack_index_to_bytes(idx, &bytes))) {
        group_end();
        return;
    }
    size_t len = bytes.len;
    uint8_t *buf = malloc(len + 64);
    CHECK(buf != NULL);
    if (buf == NULL) {
        vpack_bytes_free(&bytes);
        group_end();
        return;
    }

    /* One byte flipped in the middle of the serialized bytes (for this pack it lies in
     * the zero padding after the chunk table), then the nearest byte at or after the
     * middle that lies in a section: both are rejected. */
    size_t mid = len / 2;
    memcpy(buf, bytes.data, len);
    buf[mid] ^= 0x01;
    CHECK_LOAD_FAILS(buf, len, VPACK_E_CORRUPT);
    size_t mid2 = mid;
    while (mid2 < len && !covered_byte(bytes.data, len, mid2)) mid2++;
    CHECK(mid2 < len);
    memcpy(buf, bytes.data, len);
    buf[mid2 < len ? mid2 : 0] ^= 0x01;
    CHECK_LOAD_FAILS(buf, len, VPACK_E_CORRUPT);

    /* One byte flipped in the middle of each section. */
    for (uint32_t kind = 1; kind <= 4; kind++) {
        size_t off = 0, n = 0;
        CHECK(section_range(bytes.data, len, kind, &off, &n) && n > 0 && off + n <= len);
        if (n == 0 || off + n > len) continue;
        memcpy(buf, bytes.data, len);
        buf[off + n / 2] ^= 0x40;
        if (!CHECK_LOAD_FAILS(buf, len, VPACK_E_CORRUPT)) printf("  section kind %u\n", kind);
    }

    /* Truncated bytes, extended bytes. */
    memcpy(buf, bytes.data, len);
    CHECK_LOAD_FAILS(buf, len - 1, VPACK_E_CORRUPT);
    CHECK_LOAD_FAILS(buf, len / 2, VPACK_E_CORRUPT);
    CHECK_LOAD_FAILS(buf, 64, VPACK_E_CORRUPT);
    CHECK_LOAD_FAILS(buf, 63, VPACK_E_CORRUPT);
    CHECK_LOAD_FAILS(buf, 8, VPACK_E_CORRUPT);
    CHECK_LOAD_FAILS(buf, 0, VPACK_E_CORRUPT);
    memset(buf + len, 0, 64);
    CHECK_LOAD_FAILS(buf, len + 64, VPACK_E_CORRUPT);

    /* Random garbage (fixed-seed LCG), without and with a valid magic + version. */
    uint32_t seed = 12345u;
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)(seed >> 16);
    }
    CHECK_LOAD_FAILS(buf, len, VPACK_E_CORRUPT);
    CHECK_LOAD_FAILS(buf, 100, VPACK_E_CORRUPT);
    memcpy(buf, "\x89VPACK\r\n", 8);
    buf[8] = VPACK_FORMAT_VERSION;
    CHECK_LOAD_FAILS(buf, len, VPACK_E_CORRUPT);

    /* Format version byte (offset 8): 0x01 and 0x03 are unsupported, not corrupt. */
    const uint8_t versions[] = {0x01, 0x03, 0x00, 0xFF};
    for (size_t i = 0; i < sizeof versions; i++) {
        memcpy(buf, bytes.data, len);
        buf[8] = versions[i];
        if (!CHECK_LOAD_FAILS(buf, len, VPACK_E_UNSUPPORTED_VERSION)) {
            printf("  version byte 0x%02x\n", versions[i]);
        }
    }

    /* Every single-bit flip anywhere in the pack is rejected: in the header, section
     * table and sections (checksums, structure) and in the zero padding between and after
     * the sections (which must be zero). CORRUPT, or UNSUPPORTED_VERSION for the version
     * byte. */
    size_t undetected_covered = 0, undetected_padding = 0, padding = 0, wrong_code = 0;
    for (size_t pos = 0; pos < len; pos++) {
        int covered = covered_byte(bytes.data, len, pos);
        padding += !covered;
        memcpy(buf, bytes.data, len);
        buf[pos] ^= 0x01;
        vpack_index *o = NULL;
        vpack_status st = vpack_index_from_bytes(buf, len, &o);
        vpack_status want = pos == 8 ? VPACK_E_UNSUPPORTED_VERSION : VPACK_E_CORRUPT;
        if (st == VPACK_OK) {
            if (covered) {
                undetected_covered++;
            } else {
                undetected_padding++;
            }
            printf("  flip at %s byte %zu accepted\n", covered ? "section" : "padding", pos);
        } else if (st != want) {
            wrong_code++;
            printf("  flip at byte %zu: status %d (%s), want %d\n", pos, st, status_name(st),
                   want);
        } else if (o != NULL) {
            wrong_code++;
            printf("  flip at byte %zu: handle written on error\n", pos);
        }
        vpack_index_free(o);
    }
    CHECK(padding > 0); /* test premise: this pack has padding between sections */
    CHECK(undetected_covered == 0);
    CHECK(undetected_padding == 0);
    CHECK(wrong_code == 0);

    /* Non-zero bytes in the first padding gap and in the padding after the last (vectors)
     * section, each alone and both together: CORRUPT. */
    if (padding > 0) {
        size_t pad = 0;
        while (pad < len && covered_byte(bytes.data, len, pad)) pad++;
        CHECK(pad < len && !covered_byte(bytes.data, len, len - 1));
        memcpy(buf, bytes.data, len);
        buf[pad] = 'X';
        CHECK_LOAD_FAILS(buf, len, VPACK_E_CORRUPT);
        memcpy(buf, bytes.data, len);
        buf[len - 1] = 'Y';
        CHECK_LOAD_FAILS(buf, len, VPACK_E_CORRUPT);
        buf[pad] = 'X';
        CHECK_LOAD_FAILS(buf, len, VPACK_E_CORRUPT);
    }

    free(buf);
    vpack_bytes_free(&bytes);
    group_end();
}

static void test_files(vpack_index *idx, vpack_index *other) {
    group_begin("save / open");
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/vpack-c-test-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!CHECK(mkdtemp(dir) != NULL)) {
        perror("mkdtemp");
        group_end();
        return;
    }
    char path[4200], corrupt_path[4200], missing[4200], bad_dir[4200], ver_path[4200];
    snprintf(path, sizeof path, "%s/pack.vpack", dir);
    snprintf(corrupt_path, sizeof corrupt_path, "%s/corrupt.vpack", dir);
    snprintf(missing, sizeof missing, "%s/does-not-exist.vpack", dir);
    snprintf(bad_dir, sizeof bad_dir, "%s/no-such-dir/pack.vpack", dir);
    snprintf(ver_path, sizeof ver_path, "%s/v1.vpack", dir);

    vpack_bytes bytes = {NULL, 0};
    CHECK_OK(vpack_index_to_bytes(idx, &bytes));

    CHECK_OK(vpack_index_save(idx, path));
    CHECK(count_dir_entries(dir) == 1); /* no temporary file left behind */
    size_t flen = 0;
    uint8_t *fdata = read_file(path, &flen);
    CHECK(fdata != NULL && flen == bytes.len && memcmp(fdata, bytes.data, flen) == 0);
    free(fdata);

    vpack_index *opened = NULL, *verified = NULL;
    CHECK_OK(vpack_index_open(path, 0, &opened));
    CHECK_OK(vpack_index_open(path, VPACK_OPEN_VERIFY, &verified));
    vpack_index *handles[2] = {opened, verified};
    for (int h = 0; h < 2; h++) {
        if (handles[h] == NULL) continue;
        size_t len = 0, dim = 0;
        CHECK_OK(vpack_index_len(handles[h], &len));
        CHECK_OK(vpack_index_dimension(handles[h], &dim));
        CHECK(len == 5 && dim == DIM);
        check_pack_search(handles[h], __LINE__);
        vpack_str t = {NULL, 0}, m = {NULL, 0};
        CHECK_OK(vpack_index_chunk(handles[h], 2, &t, &m));
        CHECK(str_eq(t, EXPECT_TEXT[2]) && str_eq(m, EXPECT_META[2]));
        CHECK_OK(vpack_index_verify(handles[h]));
        vpack_bytes fb = {NULL, 0};
        CHECK_OK(vpack_index_to_bytes(handles[h], &fb));
        CHECK(fb.len == bytes.len && memcmp(fb.data, bytes.data, fb.len) == 0);
        vpack_bytes_free(&fb);
    }

    /* Replacing the file by rename (as vpack_index_save does) while it is open is fine:
     * the open handle keeps the old contents. */
    if (other != NULL && opened != NULL) {
        CHECK_OK(vpack_index_save(other, path));
        CHECK(count_dir_entries(dir) == 1);
        check_pack_search(opened, __LINE__);
        vpack_index *reopened = NULL;
        CHECK_OK(vpack_index_open(path, VPACK_OPEN_VERIFY, &reopened));
        size_t dim = 0;
        CHECK_OK(vpack_index_dimension(reopened, &dim));
        CHECK(dim == EMB_DIM);
        vpack_index_free(reopened);
    }
    vpack_index_free(opened);
    vpack_index_free(verified);

    /* Errors. */
    CHECK_OPEN_FAILS(missing, 0, VPACK_E_IO);
    CHECK_OPEN_FAILS(missing, VPACK_OPEN_VERIFY, VPACK_E_IO);
    CHECK_OPEN_FAILS(path, 2, VPACK_E_INVALID_ARG);
    CHECK_OPEN_FAILS("", 0, VPACK_E_INVALID_ARG);
    CHECK_OPEN_FAILS(NULL, 0, VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_open(path, 0, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_save(idx, bad_dir), VPACK_E_IO);
    CHECK_STATUS(vpack_index_save(idx, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_save(NULL, path), VPACK_E_NULL_ARG);
    CHECK_OPEN_FAILS(dir, 0, VPACK_E_IO); /* a directory */

    /* A vectors-section flip passes the cheap open but not verification. */
    size_t voff = 0, vlen = 0;
    if (CHECK(section_range(bytes.data, bytes.len, 4, &voff, &vlen) && vlen > 0)) {
        uint8_t *bad = malloc(bytes.len);
        if (CHECK(bad != NULL)) {
            memcpy(bad, bytes.data, bytes.len);
            bad[voff + vlen / 2] ^= 0x01;
            CHECK(write_file(corrupt_path, bad, bytes.len));
            vpack_index *cheap = NULL;
            CHECK_OK(vpack_index_open(corrupt_path, 0, &cheap));
            if (cheap != NULL) {
                CHECK_STATUS(vpack_index_verify(cheap), VPACK_E_CORRUPT);
                vpack_index_free(cheap);
            }
            CHECK_OPEN_FAILS(corrupt_path, VPACK_OPEN_VERIFY, VPACK_E_CORRUPT);
            /* Header damage is caught even without VPACK_OPEN_VERIFY. */
            memcpy(bad, bytes.data, bytes.len);
            bad[20] ^= 0x01;
            CHECK(write_file(corrupt_path, bad, bytes.len));
            CHECK_OPEN_FAILS(corrupt_path, 0, VPACK_E_CORRUPT);
            /* So is non-zero padding (here after the last section). */
            memcpy(bad, bytes.data, bytes.len);
            bad[bytes.len - 1] = 0x01;
            CHECK(write_file(corrupt_path, bad, bytes.len));
            CHECK_OPEN_FAILS(corrupt_path, 0, VPACK_E_CORRUPT);
            CHECK_OPEN_FAILS(corrupt_path, VPACK_OPEN_VERIFY, VPACK_E_CORRUPT);
            /* Short file. */
            CHECK(write_file(corrupt_path, bytes.data, 10));
            CHECK_OPEN_FAILS(corrupt_path, 0, VPACK_E_CORRUPT);
            CHECK(write_file(corrupt_path, bytes.data, 0));
            CHECK_OPEN_FAILS(corrupt_path, 0, VPACK_E_CORRUPT);
            /* Old format version on disk. */
            memcpy(bad, bytes.data, bytes.len);
            bad[8] = 0x01;
            CHECK(write_file(ver_path, bad, bytes.len));
            CHECK_OPEN_FAILS(ver_path, 0, VPACK_E_UNSUPPORTED_VERSION);
            free(bad);
        }
    }
    vpack_bytes_free(&bytes);

    unlink(path);
    unlink(corrupt_path);
    unlink(ver_path);
    CHECK(rmdir(dir) == 0); /* empty: nothing else was created */
    group_end();
}

/* Builds the embedder-backed 64-d pack; returns it (caller frees) or NULL. */
static vpack_index *test_embedder(void) {
    group_begin("embedder");
    vpack_index *pack = NULL;
    vpack_embedder *emb = NULL;
    if (!CHECK_OK(vpack_embedder_new("{\"kind\":\"hash\",\"dimension\":64}", &emb)) ||
        !CHECK(emb != NULL)) {
        group_end();
        return NULL;
    }
    size_t edim = 0;
    CHECK_OK(vpack_embedder_dimension(emb, &edim));
    CHECK(edim == EMB_DIM);

    /* Three texts in one buffer, passed as pointer + length: none is NUL-terminated. */
    static const char corpus[] = "the quick brown fox jumps over the lazy dog"
                                 "rust ownership and the borrow checker"
                                 "baking sourdough bread with a wild yeast starter";
    const size_t lens[3] = {43, 37, 48};
    CHECK(lens[0] + lens[1] + lens[2] == sizeof corpus - 1);
    const uint8_t *texts[3] = {
        (const uint8_t *)corpus,
        (const uint8_t *)corpus + lens[0],
        (const uint8_t *)corpus + lens[0] + lens[1],
    };
    float rows[3 * EMB_DIM];
    CHECK_OK(vpack_embedder_embed(emb, texts, lens, 3, rows, 3 * EMB_DIM));
    int norms_ok = 1;
    for (int r = 0; r < 3; r++) {
        float sq = 0;
        for (int i = 0; i < EMB_DIM; i++) sq += rows[r * EMB_DIM + i] * rows[r * EMB_DIM + i];
        if (!near(sq, 1.0f, 1e-4f)) {
            printf("  row %d has squared L2 norm %f\n", r, (double)sq);
            norms_ok = 0;
        }
    }
    CHECK(norms_ok);
    /* Rows differ, and embedding is deterministic (one text alone == same row). */
    CHECK(memcmp(rows, rows + EMB_DIM, EMB_DIM * sizeof(float)) != 0);
    float single[EMB_DIM];
    CHECK_OK(vpack_embedder_embed(emb, &texts[1], &lens[1], 1, single, EMB_DIM));
    CHECK(memcmp(single, rows + EMB_DIM, sizeof single) == 0);
    /* n == 0 is a valid empty batch. */
    CHECK_OK(vpack_embedder_embed(emb, NULL, NULL, 0, NULL, 0));

    /* A second handle for the same config works independently (cached model). */
    vpack_embedder *emb_again = NULL;
    CHECK_OK(vpack_embedder_new("{\"dimension\":64,\"kind\":\"hash\"}", &emb_again));
    float single2[EMB_DIM];
    CHECK_OK(vpack_embedder_embed(emb_again, &texts[1], &lens[1], 1, single2, EMB_DIM));
    CHECK(memcmp(single, single2, sizeof single) == 0);
    vpack_embedder_free(emb_again);

    /* Pack whose manifest records the embedder's description. */
    vpack_bytes desc = {NULL, 0};
    CHECK_OK(vpack_embedder_describe(emb, &desc));
    CHECK(desc.data != NULL && desc.len >= 2 && desc.data[0] == '{' &&
          desc.data[desc.len - 1] == '}');
    vpack_str desc_s = {desc.data, desc.len};
    CHECK(str_contains(desc_s, "\"kind\":\"hash\"") && str_contains(desc_s, "\"dimension\":64"));
    char manifest[1024];
    int mlen = snprintf(manifest, sizeof manifest, "{\"embedder\":%.*s}", (int)desc.len,
                        (const char *)desc.data);
    CHECK(mlen > 0 && (size_t)mlen < sizeof manifest);

    vpack_builder *b = NULL;
    CHECK_OK(vpack_builder_new("{\"dimension\":64,\"metric\":\"cosine\"}", &b));
    static const char chunks[] =
        "[{\"text\":\"the quick brown fox jumps over the lazy dog\",\"metadata\":{\"i\":0}},"
        "{\"text\":\"rust ownership and the borrow checker\",\"metadata\":{\"i\":1}},"
        "{\"text\":\"baking sourdough bread with a wild yeast starter\",\"metadata\":{\"i\":2}}]";
    CHECK_OK(
        vpack_builder_add(b, (const uint8_t *)chunks, sizeof chunks - 1, rows, 3, EMB_DIM));
    CHECK_OK(vpack_builder_finish(b, manifest, &pack));
    vpack_embedder_free(emb);

    if (CHECK(pack != NULL)) {
        vpack_str man = {NULL, 0};
        CHECK_OK(vpack_index_manifest(pack, &man));
        CHECK(str_contains(man, "\"embedder\":{") && str_contains(man, "\"kind\":\"hash\""));
        /* The description is stored as given (it is already canonical). */
        char want_emb[1024];
        snprintf(want_emb, sizeof want_emb, "\"embedder\":%.*s", (int)desc.len,
                 (const char *)desc.data);
        CHECK(str_contains(man, want_emb));
        CHECK(str_contains(man, "\"dimension\":64") && str_contains(man, "\"chunk_count\":3"));

        vpack_embedder *qe = NULL;
        CHECK_OK(vpack_index_embedder(pack, &qe));
        if (CHECK(qe != NULL)) {
            size_t qdim = 0;
            CHECK_OK(vpack_embedder_dimension(qe, &qdim));
            CHECK(qdim == EMB_DIM);
            static const char query[] = "how do I bake sourdough bread?";
            const uint8_t *qp = (const uint8_t *)query;
            size_t qlen = sizeof query - 1;
            float qv[EMB_DIM];
            CHECK_OK(vpack_embedder_embed(qe, &qp, &qlen, 1, qv, EMB_DIM));
            uint64_t ids[3];
            float scores[3];
            size_t n = 0;
            CHECK_OK(vpack_index_search(pack, qv, EMB_DIM, 3, ids, scores, &n));
            CHECK(n == 3 && ids[0] == 2);
            CHECK(n == 3 && scores[0] > scores[1] && scores[1] >= scores[2]);
            vpack_str t = {NULL, 0}, m = {NULL, 0};
            CHECK_OK(vpack_index_chunk(pack, ids[0], &t, &m));
            CHECK(str_eq(t, "baking sourdough bread with a wild yeast starter"));
            CHECK(str_eq(m, "{\"i\":2}"));

            /* The query embedder reproduces the stored rows exactly. */
            float again[3 * EMB_DIM];
            CHECK_OK(vpack_embedder_embed(qe, texts, lens, 3, again, 3 * EMB_DIM));
            CHECK(memcmp(again, rows, sizeof again) == 0);
            vpack_embedder_free(qe);
        }
    }
    vpack_bytes_free(&desc);

    /* Errors. */
    vpack_embedder *e = NULL;
    CHECK_EMBEDDER_NEW_FAILS("{\"kind\":\"no-such-model\",\"dimension\":64}", VPACK_E_MODEL);
    CHECK_EMBEDDER_NEW_FAILS("{\"kind\":\"hash\",", VPACK_E_INVALID_JSON);
    CHECK_EMBEDDER_NEW_FAILS("{\"kind\":\"hash\",\"dimension\":0}", VPACK_E_INVALID_ARG);
    /* Well-formed JSON of the wrong shape (not an object, a field of the wrong type, an
     * unknown key) is INVALID_JSON; the right type with a bad value is INVALID_ARG. */
    CHECK_EMBEDDER_NEW_FAILS("[1,2]", VPACK_E_INVALID_JSON);
    CHECK_EMBEDDER_NEW_FAILS("{\"dimension\":64}", VPACK_E_INVALID_JSON);
    CHECK_EMBEDDER_NEW_FAILS("{\"kind\":\"hash\",\"dimension\":\"64\"}", VPACK_E_INVALID_JSON);
    CHECK_EMBEDDER_NEW_FAILS("{\"kind\":\"hash\",\"colour\":\"red\"}", VPACK_E_INVALID_JSON);
    CHECK_EMBEDDER_NEW_FAILS(NULL, VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_new("{\"kind\":\"hash\"}", NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_dimension(NULL, &edim), VPACK_E_NULL_ARG);

    CHECK_OK(vpack_embedder_new("{\"kind\":\"hash\",\"dimension\":64}", &e));
    if (e != NULL) {
        /* Invalid UTF-8 (a lone continuation byte, an overlong form): out stays untouched. */
        static const uint8_t bad1[] = {'o', 'k', ' ', 0x80, 'x'};
        static const uint8_t bad2[] = {0xC0, 0xAF};
        const uint8_t *bt[2] = {(const uint8_t *)"fine", bad1};
        const size_t bl[2] = {4, sizeof bad1};
        float out[2 * EMB_DIM];
        for (int i = 0; i < 2 * EMB_DIM; i++) out[i] = 7.0f;
        CHECK_STATUS(vpack_embedder_embed(e, bt, bl, 2, out, 2 * EMB_DIM), VPACK_E_INVALID_UTF8);
        int untouched = 1;
        for (int i = 0; i < 2 * EMB_DIM; i++) untouched &= out[i] == 7.0f;
        CHECK(untouched);
        const uint8_t *bt2 = bad2;
        size_t bl2 = sizeof bad2;
        CHECK_STATUS(vpack_embedder_embed(e, &bt2, &bl2, 1, out, EMB_DIM), VPACK_E_INVALID_UTF8);
        /* More texts than VPACK_MAX_TEXTS: LIMIT before the arrays are read. */
        CHECK_STATUS(vpack_embedder_embed(e, bt, bl, (size_t)VPACK_MAX_TEXTS + 1, out, EMB_DIM),
                     VPACK_E_LIMIT);
        CHECK_STATUS(vpack_embedder_embed(e, bt, bl, SIZE_MAX, out, EMB_DIM), VPACK_E_LIMIT);
        /* Wrong output size. */
        CHECK_STATUS(vpack_embedder_embed(e, bt, bl, 1, out, EMB_DIM - 1),
                     VPACK_E_DIMENSION_MISMATCH);
        CHECK_STATUS(vpack_embedder_embed(e, bt, bl, 1, out, 2 * EMB_DIM),
                     VPACK_E_DIMENSION_MISMATCH);
        /* NULL arguments. */
        CHECK_STATUS(vpack_embedder_embed(NULL, bt, bl, 1, out, EMB_DIM), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_embedder_embed(e, NULL, bl, 1, out, EMB_DIM), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_embedder_embed(e, bt, NULL, 1, out, EMB_DIM), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_embedder_embed(e, bt, bl, 1, NULL, EMB_DIM), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_embedder_describe(e, NULL), VPACK_E_NULL_ARG);
        vpack_bytes d = {NULL, 0};
        CHECK_STATUS(vpack_embedder_describe(NULL, &d), VPACK_E_NULL_ARG);
        vpack_embedder_free(e);
    }

    /* A recorded embedder that is not available here -> MODEL; a recorded embedder whose
     * dimension disagrees with the pack is refused at build time (by finish, which
     * consumes the builder). */
    vpack_builder *b2 = NULL;
    vpack_index *p2 = NULL;
    CHECK_OK(vpack_builder_new("{\"dimension\":8}", &b2));
    CHECK_OK(vpack_builder_finish(
        b2, "{\"embedder\":{\"kind\":\"no-such-model\",\"dimension\":8}}", &p2));
    if (p2 != NULL) {
        vpack_embedder *pe = NULL;
        CHECK_STATUS(vpack_index_embedder(p2, &pe), VPACK_E_MODEL);
        CHECK(pe == NULL);
        vpack_index_free(p2);
    }
    CHECK_FINISH_FAILS_WITH("{\"dimension\":8}",
                            "{\"embedder\":{\"kind\":\"hash\",\"dimension\":64}}",
                            VPACK_E_DIMENSION_MISMATCH);
    /* ...also when the description is the one this embedder gives (64-d). */
    CHECK_FINISH_FAILS_WITH("{\"dimension\":8}", manifest, VPACK_E_DIMENSION_MISMATCH);
    group_end();
    return pack;
}

static void test_builder_errors(void) {
    group_begin("builder errors");
    vpack_builder *b = NULL;
    CHECK_BUILDER_NEW_FAILS(NULL, VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_builder_new(OPTIONS, NULL), VPACK_E_NULL_ARG);
    CHECK_BUILDER_NEW_FAILS("{\"dimension\":8,", VPACK_E_INVALID_JSON);
    CHECK_BUILDER_NEW_FAILS("not json", VPACK_E_INVALID_JSON);
    CHECK_BUILDER_NEW_FAILS("{\"dimension\":\"eight\"}", VPACK_E_INVALID_JSON);
    CHECK_BUILDER_NEW_FAILS("{\"dimension\":8,\"colour\":\"red\"}", VPACK_E_INVALID_JSON);
    CHECK_BUILDER_NEW_FAILS("{\"dimension\":8,\"x\":\"\xff\"}", VPACK_E_INVALID_UTF8);
    CHECK_BUILDER_NEW_FAILS("{\"dimension\":0}", VPACK_E_INVALID_ARG);
    CHECK_BUILDER_NEW_FAILS("{\"dimension\":8,\"metric\":\"manhattan\"}", VPACK_E_INVALID_ARG);
    /* "manifest" is no longer an option (it moved to vpack_builder_finish): an unknown key. */
    CHECK_BUILDER_NEW_FAILS("{\"dimension\":8,\"manifest\":{\"title\":\"x\"}}",
                            VPACK_E_INVALID_JSON);
    CHECK_BUILDER_NEW_FAILS("{\"dimension\":8,\"manifest\":{\"chunk_count\":3}}",
                            VPACK_E_INVALID_JSON);
    CHECK_BUILDER_NEW_FAILS("{\"dimension\":8,\"manifest\":{}}", VPACK_E_INVALID_JSON);
    CHECK_BUILDER_NEW_FAILS("{\"dimension\":8,\"manifest\":null}", VPACK_E_INVALID_JSON);

    /* On error nothing is appended. */
    CHECK_OK(vpack_builder_new(OPTIONS, &b));
    if (b != NULL) {
        static const char one[] = "[{\"text\":\"only\"}]";
        static const char two[] = "[{\"text\":\"x\"},{\"text\":\"y\"}]";
        static const char bad_json[] = "[{\"text\":\"x\"";
        static const char unknown_field[] = "[{\"txt\":\"x\"}]";
        static const uint8_t bad_utf8[] = "[{\"text\":\"\xff\xfe\"}]";
        float v2[2 * DIM] = {1, 2, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 1};
        float nan_v[DIM] = {1, 0, 0, 0, 0, 0, 0, 0};
        volatile float zero = 0.0f;
        nan_v[3] = zero / zero;

        CHECK_OK(vpack_builder_add(b, (const uint8_t *)one, sizeof one - 1, v2, 1, DIM));
        /* Wrong dimension (vectors given as 7-d). */
        CHECK_STATUS(vpack_builder_add(b, (const uint8_t *)one, sizeof one - 1, v2, 1, DIM - 1),
                     VPACK_E_DIMENSION_MISMATCH);
        CHECK_STATUS(vpack_builder_add(b, (const uint8_t *)two, sizeof two - 1, v2, 2, DIM + 1),
                     VPACK_E_DIMENSION_MISMATCH);
        CHECK_STATUS(vpack_builder_add(b, (const uint8_t *)bad_json, sizeof bad_json - 1, v2, 1,
                                       DIM),
                     VPACK_E_INVALID_JSON);
        CHECK_STATUS(vpack_builder_add(b, (const uint8_t *)unknown_field,
                                       sizeof unknown_field - 1, v2, 1, DIM),
                     VPACK_E_INVALID_JSON);
        CHECK_STATUS(vpack_builder_add(b, bad_utf8, sizeof bad_utf8 - 1, v2, 1, DIM),
                     VPACK_E_INVALID_UTF8);
        CHECK_STATUS(vpack_builder_add(b, (const uint8_t *)two, sizeof two - 1, v2, 1, DIM),
                     VPACK_E_INVALID_ARG); /* 2 chunks, n == 1 */
        CHECK_STATUS(vpack_builder_add(b, (const uint8_t *)one, sizeof one - 1, nan_v, 1, DIM),
                     VPACK_E_INVALID_ARG); /* non-finite vector */
        float zero_v[DIM] = {0};
        CHECK_STATUS(vpack_builder_add(b, (const uint8_t *)one, sizeof one - 1, zero_v, 1, DIM),
                     VPACK_E_INVALID_ARG); /* a cosine pack cannot rank a zero vector */
        CHECK_STATUS(vpack_builder_add(b, (const uint8_t *)one, sizeof one - 1, NULL, 1, DIM),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_builder_add(b, NULL, 5, v2, 1, DIM), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_builder_add(NULL, (const uint8_t *)one, sizeof one - 1, v2, 1, DIM),
                     VPACK_E_NULL_ARG);
        vpack_index *idx = NULL;
        CHECK_OK(vpack_builder_finish(b, NULL, &idx));
        size_t len = 0;
        CHECK_OK(vpack_index_len(idx, &len));
        CHECK(len == 1);
        vpack_str t = {NULL, 0}, m = {NULL, 0};
        CHECK_OK(vpack_index_chunk(idx, 0, &t, &m));
        CHECK(str_eq(t, "only") && str_eq(m, "{}"));
        vpack_index_free(idx);
    }

    /* vpack_builder_finish consumes the builder even on error (valgrind checks no leak). */
    b = NULL;
    CHECK_OK(vpack_builder_new(OPTIONS, &b));
    if (b != NULL) {
        static const char one[] = "[{\"text\":\"leak check\"}]";
        CHECK_OK(vpack_builder_add(b, (const uint8_t *)one, sizeof one - 1, BATCH_A_VEC, 1, DIM));
        CHECK_STATUS(vpack_builder_finish(b, NULL, NULL), VPACK_E_NULL_ARG);
    }
    b = NULL;
    CHECK_OK(vpack_builder_new(OPTIONS, &b));
    CHECK_STATUS(vpack_builder_finish(b, NULL, NULL), VPACK_E_NULL_ARG);
    b = NULL;
    CHECK_OK(vpack_builder_new(OPTIONS, &b));
    CHECK_STATUS(vpack_builder_finish(b, MANIFEST, NULL), VPACK_E_NULL_ARG);
    vpack_index *none = NULL;
    CHECK_STATUS(vpack_builder_finish(NULL, NULL, &none), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_builder_finish(NULL, MANIFEST, &none), VPACK_E_NULL_ARG);
    CHECK(none == NULL);

    /* An unfinished builder holding data is released by vpack_builder_free. */
    b = NULL;
    CHECK_OK(vpack_builder_new(OPTIONS, &b));
    if (b != NULL) {
        CHECK_OK(vpack_builder_add(b, (const uint8_t *)BATCH_B_JSON, strlen(BATCH_B_JSON),
                                   BATCH_B_VEC, 2, DIM));
        vpack_builder_free(b);
    }
    group_end();
}

/* A builder (`options`) with one chunk, finished with `manifest`: the pack or NULL. */
static vpack_index *finish_ok(const char *options, const char *manifest, int line) {
    static const char chunk[] = "[{\"text\":\"kept\"}]";
    static const float vec[DIM] = {0, 1, 0, 0, 0, 0, 0, 0};
    vpack_builder *b = NULL;
    vpack_index *idx = NULL;
    if (!check_status_impl(vpack_builder_new(options, &b), VPACK_OK, "vpack_builder_new",
                           __FILE__, line)) {
        return NULL;
    }
    check_status_impl(vpack_builder_add(b, (const uint8_t *)chunk, sizeof chunk - 1, vec, 1, DIM),
                      VPACK_OK, "vpack_builder_add", __FILE__, line);
    check_status_impl(vpack_builder_finish(b, manifest, &idx), VPACK_OK, "vpack_builder_finish",
                      __FILE__, line);
    check_impl(idx != NULL, "handle written", __FILE__, line);
    return idx;
}

/* Number of (non-overlapping) occurrences of `needle` in `s`. */
static int str_count(vpack_str s, const char *needle) {
    size_t n = strlen(needle);
    int count = 0;
    if (s.data == NULL || n == 0) return 0;
    for (size_t i = 0; i + n <= s.len;) {
        if (memcmp(s.data + i, needle, n) == 0) {
            count++;
            i += n;
        } else {
            i++;
        }
    }
    return count;
}

static void test_finish_manifest(void) {
    group_begin("builder finish manifest");
    static const char *const DOT = "{\"dimension\":8,\"metric\":\"dot\"}";

    /* Accepted: "dimension" and "metric" repeated with the pack's own values, once each in
     * the result; "{}" is the same as NULL; non-ASCII UTF-8 is stored as is; nested
     * objects are canonical (sorted keys) too. */
    vpack_index *idx = finish_ok(OPTIONS,
                                 "{\"metric\":\"cosine\",\"dimension\":8,\"title\":\"" TEXT_UTF8
                                 "\",\"z\":{\"y\":2,\"b\":[3,{\"d\":1,\"c\":0}]}}",
                                 __LINE__);
    if (idx != NULL) {
        vpack_str man = {NULL, 0};
        CHECK_OK(vpack_index_manifest(idx, &man));
        CHECK(str_count(man, "\"dimension\"") == 1 && str_contains(man, "\"dimension\":8"));
        CHECK(str_count(man, "\"metric\"") == 1 && str_contains(man, "\"metric\":\"cosine\""));
        CHECK(str_contains(man, "\"chunk_count\":1,"));
        CHECK(str_contains(man, "\"title\":\"" TEXT_UTF8 "\""));
        CHECK(str_contains(man, "\"z\":{\"b\":[3,{\"c\":0,\"d\":1}],\"y\":2}"));
        if (g_group_failed) printf("  manifest = %.*s\n", (int)man.len, (const char *)man.data);
        vpack_index_free(idx);
    }
    vpack_index *with_null = finish_ok(OPTIONS, NULL, __LINE__);
    vpack_index *with_empty = finish_ok(OPTIONS, "{}", __LINE__);
    vpack_index *with_same = finish_ok(OPTIONS, "{\"dimension\":8}", __LINE__);
    if (with_null != NULL && with_empty != NULL && with_same != NULL) {
        vpack_bytes b1 = {NULL, 0}, b2 = {NULL, 0}, b3 = {NULL, 0};
        CHECK_OK(vpack_index_to_bytes(with_null, &b1));
        CHECK_OK(vpack_index_to_bytes(with_empty, &b2));
        CHECK_OK(vpack_index_to_bytes(with_same, &b3));
        CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
        CHECK(b1.len == b3.len && memcmp(b1.data, b3.data, b1.len) == 0);
        vpack_bytes_free(&b1);
        vpack_bytes_free(&b2);
        vpack_bytes_free(&b3);
    }
    vpack_index_free(with_null);
    vpack_index_free(with_empty);
    vpack_index_free(with_same);
    idx = finish_ok(DOT, "{\"metric\":\"dot\",\"a\":2}", __LINE__);
    if (idx != NULL) {
        vpack_str man = {NULL, 0};
        CHECK_OK(vpack_index_manifest(idx, &man));
        CHECK(str_contains(man, "{\"a\":2,\"chunk_count\":1,") &&
              str_count(man, "\"metric\":\"dot\"") == 1);
        vpack_index_free(idx);
    }

    /* Every error below consumes the builder (finish_fails never frees it; valgrind
     * reports any leak) and writes no handle. */

    /* Keys vpack owns -> INVALID_ARG, even with the value vpack would write;
     * "dimension" and "metric" only with a different value (or type). */
    CHECK_FINISH_FAILS("{\"format_version\":2}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS("{\"format_version\":1}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS("{\"chunk_count\":1}", VPACK_E_INVALID_ARG); /* the true count */
    CHECK_FINISH_FAILS("{\"chunk_count\":0}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS("{\"index\":{\"kind\":\"flat\"}}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS("{\"index\":null}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS("{\"dimension\":9}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS("{\"dimension\":\"8\"}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS("{\"dimension\":null}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS("{\"metric\":\"dot\"}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS("{\"metric\":\"COSINE\"}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS("{\"dimension\":8,\"metric\":\"l2\"}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS("{\"title\":\"t\",\"chunk_count\":1}", VPACK_E_INVALID_ARG);
    CHECK_FINISH_FAILS_WITH(DOT, "{\"metric\":\"cosine\"}", VPACK_E_INVALID_ARG);

    /* An "embedder" whose dimension differs from the pack's -> DIMENSION_MISMATCH. */
    CHECK_FINISH_FAILS("{\"embedder\":{\"kind\":\"hash\",\"dimension\":64}}",
                       VPACK_E_DIMENSION_MISMATCH);
    CHECK_FINISH_FAILS("{\"embedder\":{\"kind\":\"hash\",\"dimension\":7}}",
                       VPACK_E_DIMENSION_MISMATCH);
    CHECK_FINISH_FAILS("{\"dimension\":8,\"embedder\":{\"kind\":\"hash\",\"dimension\":9}}",
                       VPACK_E_DIMENSION_MISMATCH);
    CHECK_FINISH_FAILS_WITH(DOT, "{\"embedder\":{\"dimension\":16,\"kind\":\"hash\"}}",
                            VPACK_E_DIMENSION_MISMATCH);

    /* Malformed JSON, or JSON that is not an object -> INVALID_JSON. */
    CHECK_FINISH_FAILS("{\"title\":", VPACK_E_INVALID_JSON);
    CHECK_FINISH_FAILS("", VPACK_E_INVALID_JSON);
    CHECK_FINISH_FAILS("not json", VPACK_E_INVALID_JSON);
    CHECK_FINISH_FAILS("{} x", VPACK_E_INVALID_JSON);
    CHECK_FINISH_FAILS("{\"title\":\"t\",}", VPACK_E_INVALID_JSON);
    CHECK_FINISH_FAILS("{'title':'t'}", VPACK_E_INVALID_JSON);
    CHECK_FINISH_FAILS("[1,2]", VPACK_E_INVALID_JSON);
    CHECK_FINISH_FAILS("null", VPACK_E_INVALID_JSON);
    CHECK_FINISH_FAILS("42", VPACK_E_INVALID_JSON);
    CHECK_FINISH_FAILS("\"title\"", VPACK_E_INVALID_JSON);

    /* Invalid UTF-8 -> INVALID_UTF8: a stray 0xFF, an overlong form in a key, a UTF-16
     * surrogate, a truncated sequence. */
    CHECK_FINISH_FAILS("{\"title\":\"\xff\"}", VPACK_E_INVALID_UTF8);
    CHECK_FINISH_FAILS("{\"\xc0\xaf\":1}", VPACK_E_INVALID_UTF8);
    CHECK_FINISH_FAILS("{\"title\":\"\xed\xa0\x80\"}", VPACK_E_INVALID_UTF8);
    CHECK_FINISH_FAILS("{\"title\":\"\xe6\x97\"}", VPACK_E_INVALID_UTF8);
    group_end();
}

static void test_index_errors(vpack_index *idx) {
    group_begin("index errors");
    uint64_t ids[4];
    float scores[4];
    size_t n = 0, len = 0;
    float q[DIM + 1] = {1, 0, 0, 0, 0, 0, 0, 0, 0};

    CHECK_STATUS(vpack_index_search(NULL, q, DIM, 4, ids, scores, &n), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search(idx, q, DIM, 4, ids, scores, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search(idx, NULL, DIM, 4, ids, scores, &n), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search(idx, q, DIM, 4, NULL, scores, &n), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search(idx, q, DIM, 4, ids, NULL, &n), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search(idx, q, DIM - 1, 4, ids, scores, &n),
                 VPACK_E_DIMENSION_MISMATCH);
    CHECK_STATUS(vpack_index_search(idx, q, DIM + 1, 4, ids, scores, &n),
                 VPACK_E_DIMENSION_MISMATCH);
    CHECK_STATUS(vpack_index_search(idx, q, 0, 4, ids, scores, &n), VPACK_E_DIMENSION_MISMATCH);
    float zero_q[DIM] = {0};
    CHECK_STATUS(vpack_index_search(idx, zero_q, DIM, 4, ids, scores, &n), VPACK_E_INVALID_ARG);
    float nan_q[DIM] = {1, 0, 0, 0, 0, 0, 0, 0};
    volatile float zero = 0.0f;
    nan_q[5] = zero / zero;
    CHECK_STATUS(vpack_index_search(idx, nan_q, DIM, 4, ids, scores, &n), VPACK_E_INVALID_ARG);

    /* k above the limit (2^20) -> LIMIT. Arrays of k entries, as the contract asks. */
    size_t big_k = ((size_t)1 << 20) + 1;
    uint64_t *big_ids = calloc(big_k, sizeof *big_ids);
    float *big_scores = calloc(big_k, sizeof *big_scores);
    if (CHECK(big_ids != NULL && big_scores != NULL)) {
        CHECK_STATUS(vpack_index_search(idx, q, DIM, big_k, big_ids, big_scores, &n),
                     VPACK_E_LIMIT);
        CHECK_OK(vpack_index_search(idx, q, DIM, big_k - 1, big_ids, big_scores, &n));
        CHECK(n == 5);
    }
    free(big_ids);
    free(big_scores);

    CHECK_STATUS(vpack_index_len(idx, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_len(NULL, &len), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_dimension(idx, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_dimension(NULL, &len), VPACK_E_NULL_ARG);
    vpack_str s = {NULL, 0}, m = {NULL, 0};
    CHECK_STATUS(vpack_index_manifest(NULL, &s), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_manifest(idx, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_chunk(idx, 5, &s, &m), VPACK_E_NOT_FOUND);
    CHECK_STATUS(vpack_index_chunk(idx, UINT64_MAX, &s, &m), VPACK_E_NOT_FOUND);
    CHECK_STATUS(vpack_index_chunk(idx, 0, NULL, &m), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_chunk(idx, 0, &s, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_chunk(NULL, 0, &s, &m), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_verify(NULL), VPACK_E_NULL_ARG);
    vpack_bytes bytes = {NULL, 0};
    CHECK_STATUS(vpack_index_to_bytes(NULL, &bytes), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_to_bytes(idx, NULL), VPACK_E_NULL_ARG);
    CHECK(bytes.data == NULL);
    CHECK_LOAD_FAILS(NULL, 100, VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_from_bytes((const uint8_t *)"x", 1, NULL), VPACK_E_NULL_ARG);
    vpack_embedder *e = NULL;
    CHECK_STATUS(vpack_index_embedder(idx, &e), VPACK_E_NOT_FOUND); /* records none */
    CHECK_STATUS(vpack_index_embedder(NULL, &e), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_embedder(idx, NULL), VPACK_E_NULL_ARG);
    CHECK(e == NULL);
    vpack_embedder_free(e);
    group_end();
}

static void test_last_error(vpack_index *idx) {
    group_begin("last error");
    uint64_t ids[2];
    float scores[2];
    size_t n = 0;
    float q[DIM] = {1, 0, 0, 0, 0, 0, 0, 0};

    CHECK_STATUS(vpack_index_search(idx, q, DIM - 1, 2, ids, scores, &n),
                 VPACK_E_DIMENSION_MISMATCH);
    /* The error persists across reads and across calls that cannot fail... */
    CHECK(vpack_last_error_code() == VPACK_E_DIMENSION_MISMATCH);
    (void)vpack_status_str(VPACK_E_IO);
    (void)vpack_abi_version();
    CHECK(vpack_last_error_code() == VPACK_E_DIMENSION_MISMATCH);
    size_t need = vpack_last_error_message(NULL, 0);
    CHECK(need > 3);
    char buf[256];
    CHECK(vpack_last_error_message(buf, sizeof buf) == need);
    CHECK(strncmp(buf, "5|", 2) == 0 && strlen(buf) == need - 1);
    /* ...a failing call replaces it... */
    CHECK_STATUS(vpack_index_chunk(idx, 99, (vpack_str[1]){{NULL, 0}}, (vpack_str[1]){{NULL, 0}}),
                 VPACK_E_NOT_FOUND);
    CHECK(vpack_last_error_message(buf, sizeof buf) > 3 && strncmp(buf, "12|", 3) == 0);
    /* ...and a successful call clears it: code VPACK_OK, message "" of size 1. */
    size_t len = 0;
    CHECK_OK(vpack_index_len(idx, &len));
    CHECK(vpack_last_error_code() == VPACK_OK);
    CHECK(vpack_last_error_message(NULL, 0) == 1);
    memset(buf, 'Z', sizeof buf);
    CHECK(vpack_last_error_message(buf, sizeof buf) == 1 && buf[0] == '\0' && buf[1] == 'Z');
    group_end();
}

/* ------------------------------------------------------------------------------------ */
/* ONNX Runtime loading, embedder kinds, token counts, onnx config errors, finish_file,  */
/* builder temp_dir                                                                     */
/* ------------------------------------------------------------------------------------ */

/* Makes a new empty directory $TMPDIR/vpack-c-<tag>-XXXXXX (or under /tmp) into `dir`. */
static int make_temp_dir(char *dir, size_t cap, const char *tag) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/vpack-c-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", tag);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 0;
    }
    return 1;
}

/* `s` can be pasted between double quotes in JSON as is (no quote, backslash, control). */
static int json_safe(const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) return 0;
    }
    return 1;
}

static int write_text(const char *path, const char *text) {
    return write_file(path, (const uint8_t *)text, strlen(text));
}

/* The file at `path` holds exactly `len` bytes equal to `want`. */
static int file_equals(const char *path, const uint8_t *want, size_t len) {
    size_t flen = 0;
    uint8_t *data = read_file(path, &flen);
    int ok = data != NULL && flen == len && (len == 0 || memcmp(data, want, len) == 0);
    free(data);
    return ok;
}

static int path_exists(const char *path) {
    return access(path, F_OK) == 0;
}

/* This thread's last error message ("CODE|message") contains `needle`. One check. */
static int check_error_mentions_impl(const char *needle, const char *file, int line) {
    size_t need = vpack_last_error_message(NULL, 0);
    char *msg = malloc(need > 0 ? need : 1);
    if (msg != NULL) {
        msg[0] = '\0';
        vpack_last_error_message(msg, need > 0 ? need : 1);
    }
    int ok = msg != NULL && strstr(msg, needle) != NULL;
    check_impl(ok, "last error message mentions the expected text", file, line);
    if (!ok) {
        printf("  last error \"%s\" does not mention \"%s\"\n", msg ? msg : "(null)", needle);
    }
    free(msg);
    return ok;
}

#define CHECK_ERROR_MENTIONS(needle) check_error_mentions_impl((needle), __FILE__, __LINE__)

/* vpack_embedder_new(config) fails with `want`, writes no handle, and its message mentions
 * `m1` and `m2` (each may be NULL). Prints the config on failure. */
static int embedder_fails_mentioning(const char *config, vpack_status want, const char *m1,
                                     const char *m2, int line) {
    int ok = embedder_new_fails(config, want, "vpack_embedder_new(config)", line);
    if (m1 != NULL) ok &= check_error_mentions_impl(m1, __FILE__, line);
    if (m2 != NULL) ok &= check_error_mentions_impl(m2, __FILE__, line);
    if (!ok) printf("  config = %s\n", config);
    return ok;
}

#define CHECK_CONFIG_FAILS(config, want, m1, m2)                                          \
    embedder_fails_mentioning((config), (want), (m1), (m2), __LINE__)

static void test_runtime_init(void) {
    group_begin("runtime init (no ONNX Runtime)");
    char dir[4096];
    if (!CHECK(make_temp_dir(dir, sizeof dir, "rt"))) {
        group_end();
        return;
    }
    char missing[4200], fake[4200], empty[4200];
    snprintf(missing, sizeof missing, "%s/no-such-dir/libonnxruntime.so.1.24.0", dir);
    snprintf(fake, sizeof fake, "%s/libonnxruntime.so.1.24.0", dir);
    snprintf(empty, sizeof empty, "%s/libempty.so", dir);

    CHECK_STATUS(vpack_runtime_init(NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_runtime_init(""), VPACK_E_INVALID_ARG);

    /* A path that does not exist: RUNTIME, naming the path. */
    CHECK_STATUS(vpack_runtime_init(missing), VPACK_E_RUNTIME);
    CHECK_ERROR_MENTIONS(missing);
    CHECK_STATUS(vpack_runtime_init("/nonexistent/libonnxruntime.so"), VPACK_E_RUNTIME);
    CHECK_ERROR_MENTIONS("/nonexistent/libonnxruntime.so");

    /* A regular file that is not a shared library: dlopen fails, RUNTIME (no crash, no
     * hang). Twice: a failed load leaves nothing behind that changes the next attempt. */
    static const char not_elf[] = "this is not an ELF shared library\n";
    CHECK(write_text(fake, not_elf));
    char *canon = realpath(fake, NULL); /* the library reports the canonical path */
    CHECK(canon != NULL);
    for (int attempt = 0; attempt < 2; attempt++) {
        CHECK_STATUS(vpack_runtime_init(fake), VPACK_E_RUNTIME);
        CHECK_ERROR_MENTIONS(canon != NULL ? canon : fake);
    }
    free(canon);
    /* An empty file, and a directory. */
    CHECK(write_file(empty, NULL, 0));
    CHECK_STATUS(vpack_runtime_init(empty), VPACK_E_RUNTIME);
    CHECK_STATUS(vpack_runtime_init(dir), VPACK_E_RUNTIME);

    /* A real shared library that is not ONNX Runtime (libm, which libvpack links already,
     * so this dlopen only bumps a reference count): no OrtGetApiBase -> RUNTIME. */
    static const char *const libm_paths[] = {
        "/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6", "/usr/lib/aarch64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",                 "/usr/lib64/libm.so.6",
        "/lib/libm.so.6",                   "/usr/lib/libm.so.6",
    };
    const char *libm = NULL;
    for (size_t i = 0; i < sizeof libm_paths / sizeof libm_paths[0] && libm == NULL; i++) {
        if (path_exists(libm_paths[i])) libm = libm_paths[i];
    }
    if (libm != NULL) {
        CHECK_STATUS(vpack_runtime_init(libm), VPACK_E_RUNTIME);
    } else {
        printf("  (no libm.so.6 found: skipped the not-ONNX-Runtime shared library check)\n");
    }

    unlink(fake);
    unlink(empty);
    CHECK(rmdir(dir) == 0); /* empty: nothing else was created */
    group_end();
}

static void test_embedder_kinds(void) {
    group_begin("embedder kinds");
    static const char want[] = "[\"hash\",\"onnx\"]";
    vpack_bytes kinds = {NULL, 0};
    CHECK_OK(vpack_embedder_kinds(&kinds));
    if (!CHECK(kinds.data != NULL && kinds.len == sizeof want - 1 &&
               memcmp(kinds.data, want, sizeof want - 1) == 0)) {
        printf("  kinds = %.*s\n", (int)kinds.len, kinds.data ? (const char *)kinds.data : "");
    }
    /* A second call hands out a fresh, equal copy. */
    vpack_bytes again = {NULL, 0};
    CHECK_OK(vpack_embedder_kinds(&again));
    CHECK(again.data != NULL && again.data != kinds.data && again.len == kinds.len &&
          memcmp(again.data, kinds.data, kinds.len) == 0);
    vpack_bytes_free(&again);
    vpack_bytes_free(&kinds);
    CHECK(kinds.data == NULL && kinds.len == 0);
    CHECK_STATUS(vpack_embedder_kinds(NULL), VPACK_E_NULL_ARG);
    group_end();
}

static void test_token_counts(void) {
    group_begin("embedder token counts (hash)");
    vpack_embedder *e = NULL;
    /* The same config as the embedder group (so the process-wide cache does not grow). */
    if (!CHECK_OK(vpack_embedder_new("{\"kind\":\"hash\",\"dimension\":64}", &e)) ||
        !CHECK(e != NULL)) {
        group_end();
        return;
    }
    /* Words are maximal runs of alphanumeric characters (Unicode-aware). */
    static const char *const specimens[] = {
        "Hello, wide world!",
        "",
        "na\xc3\xafve caf\xc3\xa9", /* "naïve café" */
        "  ,;  -- ?! ",
        "a1 b2_c3 2024",
        TEXT_UTF8, /* "naïve café — 日本語 🚀": the dash and the emoji are not words */
        "x",
    };
    static const size_t want[] = {3, 0, 2, 0, 4, 3, 1};
    enum { N = sizeof specimens / sizeof specimens[0] };
    /* All texts back to back in one buffer (no NULs between them), followed by more words
     * that are not part of any text: lens must be honoured. */
    static const char trailer[] = " trailing words";
    size_t total = sizeof trailer;
    for (int i = 0; i < N; i++) total += strlen(specimens[i]);
    char *joined = malloc(total);
    if (!CHECK(joined != NULL)) {
        vpack_embedder_free(e);
        group_end();
        return;
    }
    const uint8_t *texts[N];
    size_t lens[N];
    size_t pos = 0;
    for (int i = 0; i < N; i++) {
        lens[i] = strlen(specimens[i]);
        memcpy(joined + pos, specimens[i], lens[i]);
        texts[i] = (const uint8_t *)joined + pos;
        pos += lens[i];
    }
    memcpy(joined + pos, trailer, sizeof trailer);

    size_t counts[N];
    for (int i = 0; i < N; i++) counts[i] = 999;
    CHECK_OK(vpack_embedder_token_counts(e, texts, lens, N, counts));
    int all_ok = 1;
    for (int i = 0; i < N; i++) {
        if (counts[i] != want[i]) {
            printf("  text %d \"%s\": %zu tokens, want %zu\n", i, specimens[i], counts[i],
                   want[i]);
            all_ok = 0;
        }
    }
    CHECK(all_ok);
    /* One text alone counts the same. */
    size_t one = 999;
    CHECK_OK(vpack_embedder_token_counts(e, &texts[0], &lens[0], 1, &one));
    CHECK(one == 3);
    one = 999;
    CHECK_OK(vpack_embedder_token_counts(e, &texts[2], &lens[2], 1, &one));
    CHECK(one == 2);

    /* n == 0 with NULL arrays: an empty batch. */
    CHECK_OK(vpack_embedder_token_counts(e, NULL, NULL, 0, NULL));

    /* Invalid UTF-8 (a lone continuation byte; an overlong form; a UTF-16 surrogate). */
    static const uint8_t bad1[] = {'o', 'k', ' ', 0x80, 'x'};
    static const uint8_t bad2[] = {0xC0, 0xAF};
    static const uint8_t bad3[] = {0xED, 0xA0, 0x80};
    const uint8_t *bt[2] = {(const uint8_t *)"fine", bad1};
    size_t bl[2] = {4, sizeof bad1};
    size_t bc[2] = {0, 0};
    CHECK_STATUS(vpack_embedder_token_counts(e, bt, bl, 2, bc), VPACK_E_INVALID_UTF8);
    bt[1] = bad2;
    bl[1] = sizeof bad2;
    CHECK_STATUS(vpack_embedder_token_counts(e, bt, bl, 2, bc), VPACK_E_INVALID_UTF8);
    bt[0] = bad3;
    bl[0] = sizeof bad3;
    CHECK_STATUS(vpack_embedder_token_counts(e, bt, bl, 1, bc), VPACK_E_INVALID_UTF8);

    /* NULL arguments with n > 0. */
    CHECK_STATUS(vpack_embedder_token_counts(e, texts, lens, N, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_token_counts(e, NULL, lens, N, counts), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_token_counts(e, texts, NULL, N, counts), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_token_counts(NULL, texts, lens, N, counts), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_token_counts(NULL, NULL, NULL, 0, NULL), VPACK_E_NULL_ARG);
    const uint8_t *null_text = NULL;
    size_t five = 5;
    CHECK_STATUS(vpack_embedder_token_counts(e, &null_text, &five, 1, &one), VPACK_E_NULL_ARG);

    free(joined);
    vpack_embedder_free(e);
    group_end();
}

/* Contents of the dummy model file below, and its SHA-256 (lower and upper case). */
#define DUMMY_MODEL "not an onnx model\n"
#define DUMMY_SHA "adfcf3efcdcd2970ce5ae1427ba72f364c45a4f0cf836b96abb410280174aba5"
#define DUMMY_SHA_UPPER "ADFCF3EFCDCD2970CE5AE1427BA72F364C45A4F0CF836B96ABB410280174ABA5"

static const char *const TOKENIZER_FILES[4] = {
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
};

/* Writes model.onnx (DUMMY_MODEL) and the four tokenizer files ("{}") into `dir`. */
static int write_dummy_model(const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    int ok = write_text(p, DUMMY_MODEL);
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, TOKENIZER_FILES[i]);
        ok &= write_text(p, "{}");
    }
    return ok;
}

static void remove_dummy_model(const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    unlink(p);
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, TOKENIZER_FILES[i]);
        unlink(p);
    }
}

static void test_onnx_without_runtime(void) {
    group_begin("onnx embedder without ONNX Runtime");
    /* No runtime from the environment either; and no model lookup path. */
    CHECK(unsetenv("ORT_DYLIB_PATH") == 0);
    CHECK(unsetenv("VPACK_MODEL_PATH") == 0);

    char dir[4096];
    if (!CHECK(make_temp_dir(dir, sizeof dir, "onnx")) || !CHECK(json_safe(dir))) {
        group_end();
        return;
    }
    char model[4200], partial[4200], partial_tok[4200], mp[4200], mp_model[4200],
        fake_rt[4200], missing_rt[4200];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    snprintf(partial, sizeof partial, "%s/partial", dir);
    snprintf(partial_tok, sizeof partial_tok, "%s/partial/tokenizer.json", dir);
    snprintf(mp, sizeof mp, "%s/models", dir);
    snprintf(mp_model, sizeof mp_model, "%s/models/test-model", dir);
    snprintf(fake_rt, sizeof fake_rt, "%s/libonnxruntime.so.1.24.0", dir);
    snprintf(missing_rt, sizeof missing_rt, "%s/no-such-dir/libonnxruntime.so", dir);
    CHECK(write_dummy_model(dir));
    CHECK(mkdir(partial, 0700) == 0 && write_text(partial_tok, "{}"));
    CHECK(mkdir(mp, 0700) == 0 && mkdir(mp_model, 0700) == 0 && write_dummy_model(mp_model));
    CHECK(write_text(fake_rt, "this is not an ELF shared library\n"));

    char cfg[16384];
#define CFG(...) snprintf(cfg, sizeof cfg, __VA_ARGS__)

    /* The model file cannot be read: MODEL (checked before the runtime). */
    CHECK_CONFIG_FAILS("{\"kind\":\"onnx\",\"model_file\":\"/nonexistent/model.onnx\","
                       "\"tokenizer_dir\":\"/nonexistent\"}",
                       VPACK_E_MODEL, "/nonexistent/model.onnx", NULL);
    CFG("{\"kind\":\"onnx\",\"model_file\":\"%s\",\"tokenizer_dir\":\"%s\"}", dir, dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_MODEL, NULL, NULL); /* model_file is a directory */

    /* Every file is there but no runtime is loaded: RUNTIME, saying how to load one. */
    CFG("{\"kind\":\"onnx\",\"model_file\":\"%s\",\"tokenizer_dir\":\"%s\"}", model, dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_RUNTIME, "vpack_runtime_init", "ORT_DYLIB_PATH");
    /* ...twice (nothing is cached or half-loaded by a failure)... */
    CHECK_CONFIG_FAILS(cfg, VPACK_E_RUNTIME, "vpack_runtime_init", "ORT_DYLIB_PATH");
    /* ...with model_dir, with tokenizer_dir defaulting to the model file's folder, with
     * every valid option spelled out, and through VPACK_MODEL_PATH. */
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\"}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_RUNTIME, "vpack_runtime_init", "ORT_DYLIB_PATH");
    CFG("{\"kind\":\"onnx\",\"model_file\":\"%s\"}", model);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_RUNTIME, "vpack_runtime_init", "ORT_DYLIB_PATH");
    CFG("{\"kind\":\"onnx\",\"model_id\":\"m\",\"model_file\":\"%s\",\"tokenizer_dir\":\"%s\","
        "\"pooling\":\"cls\",\"normalize\":true,\"max_tokens\":128,\"batch_size\":2,"
        "\"threads\":1,\"dimension\":384}",
        model, dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_RUNTIME, "vpack_runtime_init", "ORT_DYLIB_PATH");
    CHECK(setenv("VPACK_MODEL_PATH", mp, 1) == 0);
    CHECK_CONFIG_FAILS("{\"kind\":\"onnx\",\"model_id\":\"test-model\"}", VPACK_E_RUNTIME,
                       "vpack_runtime_init", "ORT_DYLIB_PATH");
    CHECK_CONFIG_FAILS("{\"kind\":\"onnx\",\"model_id\":\"other-model\"}", VPACK_E_MODEL,
                       "other-model", NULL);
    CHECK(unsetenv("VPACK_MODEL_PATH") == 0);
    CHECK_CONFIG_FAILS("{\"kind\":\"onnx\",\"model_id\":\"test-model\"}", VPACK_E_MODEL,
                       "test-model", NULL);

    /* sha256 is checked before the runtime is needed: the right digest (either case)
     * reaches the runtime check, a wrong one is MODEL naming sha256. */
    CFG("{\"kind\":\"onnx\",\"model_file\":\"%s\",\"tokenizer_dir\":\"%s\",\"sha256\":\"%s\"}",
        model, dir, DUMMY_SHA);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_RUNTIME, "vpack_runtime_init", "ORT_DYLIB_PATH");
    CFG("{\"kind\":\"onnx\",\"model_file\":\"%s\",\"tokenizer_dir\":\"%s\",\"sha256\":\"%s\"}",
        model, dir, DUMMY_SHA_UPPER);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_RUNTIME, "vpack_runtime_init", "ORT_DYLIB_PATH");
    CFG("{\"kind\":\"onnx\",\"model_file\":\"%s\",\"tokenizer_dir\":\"%s\",\"sha256\":\"%064d\"}",
        model, dir, 0);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_MODEL, "sha256", DUMMY_SHA);
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\",\"sha256\":\"abc\"}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_MODEL, "sha256", NULL);
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\",\"sha256\":42}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_INVALID_JSON, "sha256", NULL); /* wrong JSON type */

    /* A tokenizer folder missing a file: MODEL naming it. */
    CFG("{\"kind\":\"onnx\",\"model_file\":\"%s\",\"tokenizer_dir\":\"%s\"}", model, partial);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_MODEL, "config.json", NULL);

    /* Option errors (here with a complete dummy model, so only the option is wrong): an
     * unknown key or a wrong JSON type is INVALID_JSON, a bad value of the right type
     * INVALID_ARG. */
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\",\"colour\":\"red\"}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_INVALID_JSON, "colour", NULL);
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\",\"pooling\":\"max\"}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_INVALID_ARG, "pooling", NULL);
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\",\"pooling\":\"MEAN\"}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_INVALID_ARG, "pooling", NULL);
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\",\"pooling\":1}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_INVALID_JSON, "pooling", NULL);
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\",\"normalize\":false}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_INVALID_ARG, "normalize", NULL);
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\",\"normalize\":\"true\"}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_INVALID_JSON, "normalize", NULL);
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\",\"max_tokens\":0}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_INVALID_ARG, "max_tokens", NULL);
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\",\"batch_size\":0}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_INVALID_ARG, "batch_size", NULL);
    CFG("{\"kind\":\"onnx\",\"model_dir\":7}");
    CHECK_CONFIG_FAILS(cfg, VPACK_E_INVALID_JSON, "model_dir", NULL);
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\",\"max_tokens\":\"256\"}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_INVALID_JSON, "max_tokens", NULL);

    /* Neither model_file nor model_dir (and no VPACK_MODEL_PATH): MODEL. */
    CHECK_CONFIG_FAILS("{\"kind\":\"onnx\"}", VPACK_E_MODEL, NULL, NULL);
    CFG("{\"kind\":\"onnx\",\"model_id\":\"some-model\",\"tokenizer_dir\":\"%s\"}", dir);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_MODEL, "some-model", NULL);

    /* ORT_DYLIB_PATH naming something that is not a loadable ONNX Runtime: RUNTIME. An
     * empty value counts as unset. */
    CFG("{\"kind\":\"onnx\",\"model_dir\":\"%s\"}", dir);
    CHECK(setenv("ORT_DYLIB_PATH", fake_rt, 1) == 0);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_RUNTIME, "libonnxruntime.so.1.24.0", NULL);
    CHECK(setenv("ORT_DYLIB_PATH", missing_rt, 1) == 0);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_RUNTIME, missing_rt, NULL);
    CHECK(setenv("ORT_DYLIB_PATH", "", 1) == 0);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_RUNTIME, "vpack_runtime_init", "ORT_DYLIB_PATH");
    CHECK(unsetenv("ORT_DYLIB_PATH") == 0);
    CHECK_CONFIG_FAILS(cfg, VPACK_E_RUNTIME, "vpack_runtime_init", "ORT_DYLIB_PATH");

    /* A pack recording an onnx embedder that is not available here: MODEL. */
    vpack_builder *b = NULL;
    vpack_index *p = NULL;
    CHECK_OK(vpack_builder_new("{\"dimension\":8}", &b));
    CHECK_OK(vpack_builder_finish(
        b,
        "{\"embedder\":{\"kind\":\"onnx\",\"model_id\":\"absent-model\",\"sha256\":\"" DUMMY_SHA
        "\",\"dimension\":8,\"pooling\":\"mean\",\"normalize\":true,\"max_tokens\":256}}",
        &p));
    if (CHECK(p != NULL)) {
        vpack_embedder *pe = NULL;
        CHECK_STATUS(vpack_index_embedder(p, &pe), VPACK_E_MODEL);
        CHECK_ERROR_MENTIONS("absent-model");
        CHECK(pe == NULL);
        vpack_embedder_free(pe);
        vpack_index_free(p);
    }
#undef CFG

    remove_dummy_model(dir);
    remove_dummy_model(mp_model);
    unlink(partial_tok);
    unlink(fake_rt);
    CHECK(rmdir(partial) == 0 && rmdir(mp_model) == 0 && rmdir(mp) == 0);
    CHECK(rmdir(dir) == 0); /* empty: nothing else was created */
    group_end();
}

/* A new builder (`options`) holding pack 1's five chunks (both batches), or NULL. */
static vpack_builder *filled_builder(const char *options, int line) {
    vpack_builder *b = NULL;
    if (!check_status_impl(vpack_builder_new(options, &b), VPACK_OK, "vpack_builder_new",
                           __FILE__, line) ||
        !check_impl(b != NULL, "builder created", __FILE__, line)) {
        return NULL;
    }
    check_status_impl(vpack_builder_add(b, (const uint8_t *)BATCH_A_JSON, strlen(BATCH_A_JSON),
                                        BATCH_A_VEC, 3, DIM),
                      VPACK_OK, "vpack_builder_add(batch A)", __FILE__, line);
    check_status_impl(vpack_builder_add(b, (const uint8_t *)BATCH_B_JSON, strlen(BATCH_B_JSON),
                                        BATCH_B_VEC, 2, DIM),
                      VPACK_OK, "vpack_builder_add(batch B)", __FILE__, line);
    return b;
}

/* vpack_builder_finish_file on a filled builder fails with `want`, writes no handle. */
static int finish_file_fails(const char *manifest, const char *path, vpack_status want,
                             const char *expr, int line) {
    vpack_builder *b = filled_builder(OPTIONS, line);
    if (b == NULL) return 0;
    vpack_index *out = NULL;
    int ok = check_status_impl(vpack_builder_finish_file(b, manifest, path, &out), want, expr,
                               __FILE__, line);
    ok &= check_impl(out == NULL, "no handle written on error", __FILE__, line);
    vpack_index_free(out);
    return ok;
}

#define CHECK_FINISH_FILE_FAILS(manifest, path, want)                                     \
    finish_file_fails((manifest), (path), (want),                                         \
                      "vpack_builder_finish_file(b, " #manifest ", " #path ")", __LINE__)

static void test_finish_file(void) {
    group_begin("builder finish_file");
    char dir[4096];
    if (!CHECK(make_temp_dir(dir, sizeof dir, "ff"))) {
        group_end();
        return;
    }
    char path[4200], missing_dir_path[4200], missing_dir[4200], precious[4200], sub[4200],
        never[4200];
    snprintf(path, sizeof path, "%s/pack.vpack", dir);
    snprintf(missing_dir, sizeof missing_dir, "%s/no-such-dir", dir);
    snprintf(missing_dir_path, sizeof missing_dir_path, "%s/no-such-dir/pack.vpack", dir);
    snprintf(precious, sizeof precious, "%s/precious.vpack", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(never, sizeof never, "%s/never.vpack", dir);

    /* The reference: the same input finished in memory. */
    vpack_bytes want = {NULL, 0};
    vpack_index *mem = NULL;
    vpack_builder *b = filled_builder(OPTIONS, __LINE__);
    if (b != NULL) CHECK_OK(vpack_builder_finish(b, MANIFEST, &mem));
    if (!CHECK(mem != NULL) || !CHECK_OK(vpack_index_to_bytes(mem, &want))) {
        vpack_index_free(mem);
        rmdir(dir);
        group_end();
        return;
    }

    /* Written to the file: the same bytes, nothing else left in the directory, and the
     * returned (mapped) index is pack 1. */
    vpack_index *fidx = NULL;
    b = filled_builder(OPTIONS, __LINE__);
    if (b != NULL) CHECK_OK(vpack_builder_finish_file(b, MANIFEST, path, &fidx));
    CHECK(fidx != NULL);
    CHECK(count_dir_entries(dir) == 1); /* no temporary file left behind */
    CHECK(file_equals(path, want.data, want.len));
    if (fidx != NULL) {
        size_t len = 0, dim = 0;
        CHECK_OK(vpack_index_len(fidx, &len));
        CHECK_OK(vpack_index_dimension(fidx, &dim));
        CHECK(len == 5 && dim == DIM);
        CHECK_OK(vpack_index_verify(fidx));
        check_pack_search(fidx, __LINE__);
        int chunks_ok = 1;
        for (int i = 0; i < 5; i++) {
            vpack_str t = {NULL, 0}, m = {NULL, 0};
            if (vpack_index_chunk(fidx, (uint64_t)i, &t, &m) != VPACK_OK ||
                !str_eq(t, EXPECT_TEXT[i]) || !str_eq(m, EXPECT_META[i])) {
                printf("  chunk %d differs\n", i);
                chunks_ok = 0;
            }
        }
        CHECK(chunks_ok);
        vpack_str man1 = {NULL, 0}, man2 = {NULL, 0};
        CHECK_OK(vpack_index_manifest(mem, &man1));
        CHECK_OK(vpack_index_manifest(fidx, &man2));
        CHECK(man1.len == man2.len && memcmp(man1.data, man2.data, man1.len) == 0);
        /* Bit-identical search results to the in-memory pack. */
        uint64_t ids1[5], ids2[5];
        float s1[5], s2[5];
        size_t n1 = 0, n2 = 0;
        float q[DIM] = {0.3f, -0.2f, 0.9f, 0.1f, 0.0f, 0.4f, 0.2f, -0.5f};
        CHECK_OK(vpack_index_search(mem, q, DIM, 5, ids1, s1, &n1));
        CHECK_OK(vpack_index_search(fidx, q, DIM, 5, ids2, s2, &n2));
        CHECK(n1 == 5 && n2 == 5 && memcmp(ids1, ids2, sizeof ids1) == 0 &&
              memcmp(s1, s2, sizeof s1) == 0);
        vpack_bytes fb = {NULL, 0};
        CHECK_OK(vpack_index_to_bytes(fidx, &fb));
        CHECK(fb.len == want.len && memcmp(fb.data, want.data, want.len) == 0);
        vpack_bytes_free(&fb);
    }
    vpack_index *reopened = NULL;
    CHECK_OK(vpack_index_open(path, VPACK_OPEN_VERIFY, &reopened));
    if (reopened != NULL) check_pack_search(reopened, __LINE__);
    vpack_index_free(reopened);

    /* Replacing an existing pack (by rename) while a handle on it is open: the new file is
     * the empty pack, the open handle keeps the old contents. */
    vpack_index *empty_mem = NULL, *empty_file = NULL;
    CHECK_OK(vpack_builder_new(OPTIONS, &b));
    CHECK_OK(vpack_builder_finish(b, NULL, &empty_mem));
    CHECK_OK(vpack_builder_new(OPTIONS, &b));
    CHECK_OK(vpack_builder_finish_file(b, NULL, path, &empty_file));
    CHECK(count_dir_entries(dir) == 1);
    if (empty_mem != NULL && empty_file != NULL) {
        vpack_bytes eb = {NULL, 0};
        CHECK_OK(vpack_index_to_bytes(empty_mem, &eb));
        CHECK(file_equals(path, eb.data, eb.len));
        vpack_bytes_free(&eb);
        size_t len = 99;
        CHECK_OK(vpack_index_len(empty_file, &len));
        CHECK(len == 0);
    }
    if (fidx != NULL) check_pack_search(fidx, __LINE__);
    vpack_index_free(empty_mem);
    vpack_index_free(empty_file);
    vpack_index_free(fidx);

    /* Errors. Each consumes the builder (valgrind reports any leak) and writes no handle. */

    /* Target directory missing: IO, nothing created (neither the directory nor a file). */
    CHECK_FINISH_FILE_FAILS(MANIFEST, missing_dir_path, VPACK_E_IO);
    CHECK(!path_exists(missing_dir));
    CHECK(count_dir_entries(dir) == 1);

    /* Manifest errors leave a pre-existing file at path byte-for-byte untouched, and no
     * temporary file behind. */
    static const char precious_bytes[] = "precious bytes, not a pack\n";
    CHECK(write_text(precious, precious_bytes));
    CHECK_FINISH_FILE_FAILS("{\"chunk_count\":5}", precious, VPACK_E_INVALID_ARG);
    CHECK(file_equals(precious, (const uint8_t *)precious_bytes, sizeof precious_bytes - 1));
    CHECK_FINISH_FILE_FAILS("{\"format_version\":2}", precious, VPACK_E_INVALID_ARG);
    CHECK_FINISH_FILE_FAILS("{\"metric\":\"dot\"}", precious, VPACK_E_INVALID_ARG);
    CHECK_FINISH_FILE_FAILS("{\"embedder\":{\"kind\":\"hash\",\"dimension\":64}}", precious,
                            VPACK_E_DIMENSION_MISMATCH);
    CHECK_FINISH_FILE_FAILS("{\"title\":", precious, VPACK_E_INVALID_JSON);
    CHECK_FINISH_FILE_FAILS("{\"title\":\"\xff\"}", precious, VPACK_E_INVALID_UTF8);
    CHECK(file_equals(precious, (const uint8_t *)precious_bytes, sizeof precious_bytes - 1));
    CHECK(count_dir_entries(dir) == 2);

    /* NULL / empty path, NULL out, NULL builder. */
    CHECK_FINISH_FILE_FAILS(MANIFEST, NULL, VPACK_E_NULL_ARG);
    CHECK_FINISH_FILE_FAILS(MANIFEST, "", VPACK_E_INVALID_ARG);
    b = filled_builder(OPTIONS, __LINE__);
    if (b != NULL) {
        CHECK_STATUS(vpack_builder_finish_file(b, MANIFEST, never, NULL), VPACK_E_NULL_ARG);
    }
    CHECK(!path_exists(never));
    b = filled_builder(OPTIONS, __LINE__);
    if (b != NULL) {
        CHECK_STATUS(vpack_builder_finish_file(b, NULL, NULL, NULL), VPACK_E_NULL_ARG);
    }
    vpack_index *none = NULL;
    CHECK_STATUS(vpack_builder_finish_file(NULL, MANIFEST, never, &none), VPACK_E_NULL_ARG);
    CHECK(none == NULL && !path_exists(never));
    CHECK(count_dir_entries(dir) == 2);

    /* path names a directory: the rename fails (IO), the directory stays, no temporary
     * file is left behind. */
    CHECK(mkdir(sub, 0700) == 0);
    CHECK_FINISH_FILE_FAILS(MANIFEST, sub, VPACK_E_IO);
    CHECK(count_dir_entries(sub) == 0);
    CHECK(count_dir_entries(dir) == 3);

    vpack_bytes_free(&want);
    vpack_index_free(mem);
    unlink(path);
    unlink(precious);
    CHECK(rmdir(sub) == 0);
    CHECK(rmdir(dir) == 0); /* empty: nothing else was created */
    group_end();
}

static void test_builder_temp_dir(void) {
    group_begin("builder temp_dir");
    char spool[4096], out_dir[4096];
    if (!CHECK(make_temp_dir(spool, sizeof spool, "spool")) ||
        !CHECK(make_temp_dir(out_dir, sizeof out_dir, "out"))) {
        group_end();
        return;
    }
    CHECK(json_safe(spool) && json_safe(out_dir));
    char opts[8400], missing_opts[8400], file_opts[8400], out_opts[8400], a_file[4200],
        out_path[4200];
    snprintf(a_file, sizeof a_file, "%s/a-file", out_dir);
    snprintf(out_path, sizeof out_path, "%s/pack.vpack", out_dir);
    snprintf(opts, sizeof opts, "{\"dimension\":8,\"metric\":\"cosine\",\"temp_dir\":\"%s\"}",
             spool);
    snprintf(missing_opts, sizeof missing_opts,
             "{\"dimension\":8,\"temp_dir\":\"%s/no-such-dir\"}", spool);
    snprintf(file_opts, sizeof file_opts, "{\"dimension\":8,\"temp_dir\":\"%s\"}", a_file);
    snprintf(out_opts, sizeof out_opts, "{\"dimension\":8,\"temp_dir\":\"%s\"}", out_dir);

    /* temp_dir missing, or a regular file: IO from vpack_builder_new, no handle. */
    CHECK_BUILDER_NEW_FAILS(missing_opts, VPACK_E_IO);
    CHECK(count_dir_entries(spool) == 0);
    CHECK(write_text(a_file, "x"));
    CHECK_BUILDER_NEW_FAILS(file_opts, VPACK_E_IO);
    unlink(a_file);
    CHECK_BUILDER_NEW_FAILS("{\"dimension\":8,\"temp_dir\":5}", VPACK_E_INVALID_JSON);

    /* An existing temp_dir stays empty through new, add and finish: the spools are
     * unlinked as soon as they are created. The pack is the usual one. */
    vpack_bytes want = {NULL, 0};
    vpack_builder *b = NULL;
    CHECK_OK(vpack_builder_new(opts, &b));
    CHECK(count_dir_entries(spool) == 0);
    if (b != NULL) {
        CHECK_OK(vpack_builder_add(b, (const uint8_t *)BATCH_A_JSON, strlen(BATCH_A_JSON),
                                   BATCH_A_VEC, 3, DIM));
        CHECK(count_dir_entries(spool) == 0);
        CHECK_OK(vpack_builder_add(b, (const uint8_t *)BATCH_B_JSON, strlen(BATCH_B_JSON),
                                   BATCH_B_VEC, 2, DIM));
        CHECK(count_dir_entries(spool) == 0);
        vpack_index *idx = NULL;
        CHECK_OK(vpack_builder_finish(b, MANIFEST, &idx));
        CHECK(count_dir_entries(spool) == 0);
        if (CHECK(idx != NULL)) {
            check_pack_search(idx, __LINE__);
            CHECK_OK(vpack_index_to_bytes(idx, &want));
            vpack_index_free(idx);
        }
    }
    /* The same with a default temp_dir gives the same bytes. */
    vpack_index *plain = NULL;
    b = filled_builder(OPTIONS, __LINE__);
    if (b != NULL) CHECK_OK(vpack_builder_finish(b, MANIFEST, &plain));
    if (plain != NULL && want.data != NULL) {
        vpack_bytes pb = {NULL, 0};
        CHECK_OK(vpack_index_to_bytes(plain, &pb));
        CHECK(pb.len == want.len && memcmp(pb.data, want.data, want.len) == 0);
        vpack_bytes_free(&pb);
    }
    vpack_index_free(plain);

    /* finish_file from a temp_dir builder: only the pack in the target, nothing in
     * temp_dir; the same bytes. */
    vpack_index *fidx = NULL;
    b = filled_builder(opts, __LINE__);
    if (b != NULL) CHECK_OK(vpack_builder_finish_file(b, MANIFEST, out_path, &fidx));
    CHECK(count_dir_entries(spool) == 0);
    CHECK(count_dir_entries(out_dir) == 1);
    if (want.data != NULL) CHECK(file_equals(out_path, want.data, want.len));
    if (fidx != NULL) check_pack_search(fidx, __LINE__);
    vpack_index_free(fidx);
    /* temp_dir == the target's directory: still only the pack there afterwards. */
    fidx = NULL;
    b = filled_builder(out_opts, __LINE__);
    if (b != NULL) {
        CHECK(count_dir_entries(out_dir) == 1);
        CHECK_OK(vpack_builder_finish_file(b, MANIFEST, out_path, &fidx));
    }
    CHECK(count_dir_entries(out_dir) == 1);
    vpack_index_free(fidx);

    /* A temp_dir builder that fails to finish, or is freed unfinished, leaves nothing. */
    b = filled_builder(opts, __LINE__);
    if (b != NULL) {
        vpack_index *out = NULL;
        CHECK_STATUS(vpack_builder_finish(b, "{\"index\":{}}", &out), VPACK_E_INVALID_ARG);
        CHECK(out == NULL);
    }
    b = filled_builder(opts, __LINE__);
    vpack_builder_free(b);
    CHECK(count_dir_entries(spool) == 0);

    vpack_bytes_free(&want);
    unlink(out_path);
    CHECK(rmdir(spool) == 0);
    CHECK(rmdir(out_dir) == 0);
    group_end();
}

int main(void) {
    test_version();
    test_status_and_free_null();

    group_begin("build");
    vpack_index *idx = build_pack();
    group_end();
    if (idx != NULL) {
        test_build_and_search(idx);
        test_chunks_and_manifest(idx);
        test_bytes_round_trip(idx);
    }
    test_empty_pack();
    vpack_index *emb_pack = test_embedder();
    if (idx != NULL) {
        test_corrupt_bytes(idx);
        test_files(idx, emb_pack);
        test_index_errors(idx);
        test_last_error(idx);
    }
    test_builder_errors();
    test_finish_manifest();
    test_runtime_init();
    test_embedder_kinds();
    test_token_counts();
    test_onnx_without_runtime();
    test_finish_file();
    test_builder_temp_dir();

    vpack_index_free(emb_pack);
    vpack_index_free(idx);

    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
