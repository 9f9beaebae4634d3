/*
 * ABI misuse suite for libvpack (issue #7, "Trust"): every exported function of
 * include/vpack.h fed NULL pointers, huge counts and lengths, hostile floats, invalid
 * UTF-8, wrong-shape and malformed JSON, empty packs and files that are not packs.
 *
 * Build and run (see tests/c/run.sh, which runs it under valgrind and, built with
 * -fsanitize=address,undefined, natively):
 *   cc -std=c11 -Wall -Wextra -Werror -pedantic -I include tests/c/test_misuse.c \
 *      -L<libdir> -lvpack -Wl,-rpath,<libdir>
 *
 * Every failing call must return the documented status, leave its out-parameters
 * untouched, set the thread's last error to the same code with a "CODE|message" text,
 * and never abort the process, return VPACK_E_PANIC, or print to stderr (run.sh captures
 * stderr and requires it to be empty; each group also checks that stderr did not grow).
 *
 * Calls whose failure mode could be a crash (huge lengths that a careless library would
 * read or allocate, a FIFO that could block, deeply nested JSON that could exhaust the
 * stack) run in a forked child with an alarm, so a crash, abort or hang is reported as
 * one failed check instead of ending the run. Buffers given with a lying length sit right
 * before an inaccessible page, so reading past them faults deterministically.
 *
 * Ends with "N passed, M failed"; exits 1 when any check failed.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */

#include "check.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIM 8
#define EMB_DIM 64
#define EMB_CONFIG "{\"kind\":\"hash\",\"dimension\":64}"

#define P40 ((size_t)1 << 40)
#define P61 ((size_t)1 << 61)

/* Huge values for every length/count argument. */
static const size_t HUGE_SIZES[] = {P40, P61, SIZE_MAX};
#define N_HUGE (sizeof HUGE_SIZES / sizeof HUGE_SIZES[0])

/* `count` elements of `size` bytes span more than PTRDIFF_MAX bytes: no C object can be
 * that large, so the library refuses such a length as VPACK_E_LIMIT before it looks at
 * the pointer, whatever the function's more specific check would have said. */
static int beyond_any_buffer(size_t count, size_t size) {
    return count > (size_t)PTRDIFF_MAX / size;
}

/* A pointer value that is never a real handle: out-parameters are preset to it and must
 * still hold it after a failing call. */
static char g_sentinel_byte;
#define SENTINEL_PTR ((void *)&g_sentinel_byte)
#define SENTINEL_SIZE ((size_t)0x5EB71)

/* ------------------------------------------------------------------------------------ */
/* Small helpers                                                                        */
/* ------------------------------------------------------------------------------------ */

/* `s` with non-printable bytes as \xNN, cut at ~100 characters (static buffer). */
static const char *printable(const char *s) {
    static char buf[512];
    if (s == NULL) return "NULL";
    size_t o = 0;
    for (size_t i = 0; s[i] != '\0' && o + 8 < sizeof buf; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 100) {
            o += (size_t)snprintf(buf + o, sizeof buf - o, "...(%zu bytes)", strlen(s));
            break;
        }
        if (c >= 0x20 && c < 0x7f) {
            buf[o++] = (char)c;
        } else {
            o += (size_t)snprintf(buf + o, sizeof buf - o, "\\x%02x", c);
        }
    }
    buf[o] = '\0';
    return buf;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return 0;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    return fclose(f) == 0 && w == len;
}

static int path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* A copy of `len` bytes ending exactly where an inaccessible page begins. */
typedef struct {
    void *map;
    size_t map_len;
    uint8_t *data;
} guarded;

static int guarded_new(guarded *g, const void *src, size_t len) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = len == 0 ? 1 : (len + page - 1) / page;
    g->map_len = (pages + 1) * page;
    g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED) {
        g->map = NULL;
        return 0;
    }
    uint8_t *base = g->map;
    if (mprotect(base + pages * page, page, PROT_NONE) != 0) {
        munmap(g->map, g->map_len);
        g->map = NULL;
        return 0;
    }
    g->data = base + pages * page - len;
    if (len > 0) memcpy(g->data, src, len);
    return 1;
}

static void guarded_free(guarded *g) {
    if (g->map != NULL) munmap(g->map, g->map_len);
    g->map = NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Running one call in a forked child                                                   */
/* ------------------------------------------------------------------------------------ */

typedef struct {
    vpack_status status;
    vpack_status code;
    int post_ok;
    int captured;
    double elapsed; /* seconds the call itself took, measured in the child */
    size_t need;
    char msg[1024];
} child_result;

static child_result g_child; /* the child's own copy */

/* Heap blocks the parent holds while a child runs, kept reachable from a global: when the
 * child exits, valgrind checks its heap for leaks, and a pointer that only lived in one
 * of the parent's registers would make the block look lost there. */
static void *g_reachable[8];

static void *keep_reachable(void *p) {
    for (size_t i = 0; i < sizeof g_reachable / sizeof g_reachable[0]; i++) {
        if (g_reachable[i] == NULL) {
            g_reachable[i] = p;
            break;
        }
    }
    return p;
}

static void release_reachable(void *p) {
    for (size_t i = 0; i < sizeof g_reachable / sizeof g_reachable[0]; i++) {
        if (g_reachable[i] == p && p != NULL) g_reachable[i] = NULL;
    }
    free(p);
}
static int g_helper_post_ok = 1;
static double g_last_elapsed; /* of the last isolated call, in the child */

/* Records `s` and this thread's last error (call right after the vpack call). */
static vpack_status capture(vpack_status s) {
    g_child.status = s;
    g_child.code = vpack_last_error_code();
    g_child.need = vpack_last_error_message(g_child.msg, sizeof g_child.msg);
    g_child.captured = 1;
    return s;
}

static pid_t isolate_fork(int fds[2]) {
    fflush(NULL);
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        memset(&g_child, 0, sizeof g_child);
        g_helper_post_ok = 1;
        return 0;
    }
    close(fds[1]);
    if (pid < 0) close(fds[0]);
    return pid;
}

static void child_send(int fd, vpack_status s, int post_ok) {
    if (!g_child.captured) capture(s);
    g_child.post_ok = post_ok && g_helper_post_ok;
    const char *p = (const char *)&g_child;
    size_t left = sizeof g_child;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w <= 0) break;
        p += w;
        left -= (size_t)w;
    }
    close(fd);
    _exit(0);
}

static int isolate_finish(int fds[2], pid_t pid, vpack_status want, vpack_status alt,
                          double started, const char *expr, const char *file, int line) {
    if (pid < 0) return check_impl(0, "fork() for an isolated call", file, line);
    child_result r;
    memset(&r, 0, sizeof r);
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = read(fds[0], (char *)&r + got, sizeof r - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    g_last_elapsed = got == sizeof r ? r.elapsed : now_seconds() - started;
    char what[600];
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        snprintf(what, sizeof what, "%s: process killed by signal %d (%s)", expr, sig,
                 sig == SIGABRT   ? "abort"
                 : sig == SIGSEGV ? "segfault: read or wrote past a buffer"
                 : sig == SIGALRM ? "hang: did not return in time"
                 : sig == SIGBUS  ? "bus error"
                                  : "other");
        return check_impl(0, what, file, line);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(what, sizeof what,
                 "%s: child exited with status %d (99 = valgrind error, 1 = sanitizer "
                 "report; see the logs)",
                 expr, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return check_impl(0, what, file, line);
    }
    if (got != sizeof r) {
        snprintf(what, sizeof what, "%s: child sent no result", expr);
        return check_impl(0, what, file, line);
    }
    r.msg[sizeof r.msg - 1] = '\0';
    /* A message longer than the buffer arrives cut: judge the size of what arrived. */
    size_t need = r.need <= sizeof r.msg ? r.need : strlen(r.msg) + 1;
    int ok = judge_status(r.status, want, alt, r.code, r.msg, need, expr, file, line);
    snprintf(what, sizeof what, "%s: out-parameters and state as required after the call",
             expr);
    ok &= check_impl(r.post_ok, what, file, line);
    return ok;
}

/* Runs `call` (a vpack_status expression) in a child with an alarm of `seconds`; `post`
 * (an int expression evaluated in the child after the call) must be true. */
#define ISOLATED(seconds, want, alt, call, post)                                          \
    do {                                                                                  \
        int fds_[2];                                                                      \
        double t0_ = now_seconds();                                                       \
        pid_t pid_ = isolate_fork(fds_);                                                  \
        if (pid_ == 0) {                                                                  \
            alarm(seconds);                                                               \
            double c0_ = now_seconds();                                                   \
            vpack_status s_ = (call);                                                     \
            g_child.elapsed = now_seconds() - c0_;                                        \
            if (!g_child.captured) capture(s_);                                           \
            child_send(fds_[1], s_, (post));                                              \
        }                                                                                 \
        isolate_finish(fds_, pid_, (want), (alt), t0_, #call, __FILE__, __LINE__);        \
    } while (0)

/* ------------------------------------------------------------------------------------ */
/* Fixtures                                                                             */
/* ------------------------------------------------------------------------------------ */

static vpack_index *g_pack; /* cosine, DIM, 5 chunks with metadata {"n": i, "lang": ...} */
static vpack_index *g_dot;  /* dot, DIM, 2 chunks */
static vpack_index *g_l2;   /* l2, DIM, 2 chunks */
static vpack_index *g_hnsw; /* cosine, DIM, the 5 chunks of g_pack, with an HNSW graph (m 4) */
static vpack_embedder *g_emb;
static vpack_bytes g_pack_bytes;
static char g_dir[4096];
static int g_have_onnx;

static const char *const PACK_CHUNKS =
    "[{\"text\":\"zero\",\"metadata\":{\"n\":0,\"lang\":\"en\"}},"
    "{\"text\":\"one\",\"metadata\":{\"n\":1,\"lang\":\"fr\"}},"
    "{\"text\":\"two\",\"metadata\":{\"n\":2,\"lang\":\"en\"}},"
    "{\"text\":\"three\",\"metadata\":{\"n\":3,\"lang\":\"fr\"}},"
    "{\"text\":\"four\",\"metadata\":{\"n\":4,\"lang\":\"en\"}}]";

static float g_vecs[5 * DIM];

static const char *const ONE_CHUNK = "[{\"text\":\"x\"}]";
static const float ONE_VEC[DIM] = {1, 0, 0, 0, 0, 0, 0, 0};

static vpack_index *build(const char *options, const char *chunks, const float *vecs,
                          size_t n) {
    vpack_builder *b = NULL;
    vpack_index *idx = NULL;
    if (vpack_builder_new(options, &b) != VPACK_OK) return NULL;
    if (n > 0 && vpack_builder_add(b, (const uint8_t *)chunks, strlen(chunks), vecs, n, DIM) !=
                     VPACK_OK) {
        vpack_builder_free(b);
        return NULL;
    }
    if (vpack_builder_finish(b, NULL, &idx) != VPACK_OK) return NULL;
    return idx;
}

static vpack_builder *new_builder(const char *options) {
    vpack_builder *b = NULL;
    if (vpack_builder_new(options, &b) != VPACK_OK) return NULL;
    return b;
}

/* Finishes `b` and returns its chunk count, or (size_t)-1. */
static size_t finish_count(vpack_builder *b) {
    vpack_index *idx = NULL;
    size_t len = (size_t)-1;
    if (vpack_builder_finish(b, NULL, &idx) == VPACK_OK) vpack_index_len(idx, &len);
    vpack_index_free(idx);
    return len;
}

static int setup(void) {
    uint64_t seed = 7;
    for (size_t i = 0; i < 5 * DIM; i++) g_vecs[i] = rand_unit(&seed);
    g_pack = build("{\"dimension\":8}", PACK_CHUNKS, g_vecs, 5);
    g_dot = build("{\"dimension\":8,\"metric\":\"dot\"}",
                  "[{\"text\":\"a\",\"metadata\":{\"n\":1}},{\"text\":\"b\"}]", g_vecs, 2);
    g_l2 = build("{\"dimension\":8,\"metric\":\"l2\"}",
                 "[{\"text\":\"a\",\"metadata\":{\"n\":1}},{\"text\":\"b\"}]", g_vecs, 2);
    g_hnsw = build("{\"dimension\":8,\"index\":{\"kind\":\"hnsw\",\"m\":4,\"threads\":1}}",
                   PACK_CHUNKS, g_vecs, 5);
    if (vpack_embedder_new(EMB_CONFIG, &g_emb) != VPACK_OK) g_emb = NULL;
    if (g_pack == NULL || vpack_index_to_bytes(g_pack, &g_pack_bytes) != VPACK_OK) return 0;
    vpack_bytes kinds = {NULL, 0};
    if (vpack_embedder_kinds(&kinds) == VPACK_OK) {
        vpack_str s = {kinds.data, kinds.len};
        for (size_t i = 0; i + 6 <= s.len; i++) {
            if (memcmp(s.data + i, "\"onnx\"", 6) == 0) g_have_onnx = 1;
        }
        vpack_bytes_free(&kinds);
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/vpack-misuse-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(g_dir) == NULL) return 0;
    return g_dot != NULL && g_l2 != NULL && g_hnsw != NULL && g_emb != NULL;
}

static void teardown(void) {
    vpack_bytes_free(&g_pack_bytes);
    vpack_index_free(g_pack);
    vpack_index_free(g_dot);
    vpack_index_free(g_l2);
    vpack_index_free(g_hnsw);
    vpack_embedder_free(g_emb);
}

/* ------------------------------------------------------------------------------------ */
/* Table-driven checks                                                                  */
/* ------------------------------------------------------------------------------------ */

static int embedder_new_is(const char *config, vpack_status want, vpack_status alt, int line) {
    vpack_embedder *e = SENTINEL_PTR;
    char expr[640];
    snprintf(expr, sizeof expr, "vpack_embedder_new(%s)", printable(config));
    vpack_status s = vpack_embedder_new(config, &e);
    int ok = check_status_impl(s, want, alt, expr, __FILE__, line);
    if (s != VPACK_OK) {
        ok &= check_impl(e == SENTINEL_PTR, "out untouched on error", __FILE__, line);
    } else {
        vpack_embedder_free(e);
    }
    return ok;
}

static int builder_new_is(const char *options, vpack_status want, vpack_status alt, int line) {
    vpack_builder *b = SENTINEL_PTR;
    char expr[640];
    snprintf(expr, sizeof expr, "vpack_builder_new(%s)", printable(options));
    vpack_status s = vpack_builder_new(options, &b);
    int ok = check_status_impl(s, want, alt, expr, __FILE__, line);
    if (s != VPACK_OK) {
        ok &= check_impl(b == SENTINEL_PTR, "out untouched on error", __FILE__, line);
    } else {
        vpack_builder_free(b);
    }
    return ok;
}

/* builder_add of `json` (1 chunk expected: n = 1, ONE_VEC) to a fresh cosine builder:
 * status `want`, and on error nothing appended. */
static int add_json_is(const char *json, size_t len, vpack_status want, vpack_status alt,
                       int line) {
    vpack_builder *b = new_builder("{\"dimension\":8}");
    if (!check_impl(b != NULL, "builder", __FILE__, line)) return 0;
    char expr[640];
    snprintf(expr, sizeof expr, "vpack_builder_add(b, %s)", printable(json));
    vpack_status s = vpack_builder_add(b, (const uint8_t *)json, len, ONE_VEC, 1, DIM);
    int ok = check_status_impl(s, want, alt, expr, __FILE__, line);
    size_t count = finish_count(b);
    ok &= check_impl(count == (s == VPACK_OK ? 1u : 0u), "chunk count after the add", __FILE__,
                     line);
    return ok;
}

/* finish (or finish_file when `to_file`) of a one-chunk builder with `manifest`. */
static int finish_is(const char *manifest, int to_file, vpack_status want, vpack_status alt,
                     int line) {
    vpack_builder *b = new_builder("{\"dimension\":8}");
    if (!check_impl(b != NULL, "builder", __FILE__, line)) return 0;
    check_impl(vpack_builder_add(b, (const uint8_t *)ONE_CHUNK, strlen(ONE_CHUNK), ONE_VEC, 1,
                                 DIM) == VPACK_OK,
               "add", __FILE__, line);
    char path[4200];
    snprintf(path, sizeof path, "%s/finish.vpack", g_dir);
    char expr[700];
    snprintf(expr, sizeof expr, "vpack_builder_finish%s(b, %s)", to_file ? "_file" : "",
             printable(manifest));
    vpack_index *out = SENTINEL_PTR;
    vpack_status s = to_file ? vpack_builder_finish_file(b, manifest, path, &out)
                             : vpack_builder_finish(b, manifest, &out);
    int ok = check_status_impl(s, want, alt, expr, __FILE__, line);
    if (s != VPACK_OK) {
        ok &= check_impl(out == SENTINEL_PTR, "out untouched on error", __FILE__, line);
        if (to_file) ok &= check_impl(!path_exists(path), "no file on error", __FILE__, line);
    } else {
        vpack_index_free(out);
    }
    unlink(path);
    return ok;
}

/* A filtered search of `idx` (k = 5): status `want`; on error n_out and ids untouched.
 * The same filter then goes through vpack_index_search_ef (ef 0 and 32) and
 * vpack_index_search_batch (2 queries) on `idx` and on the HNSW pack g_hnsw, which must
 * answer with the same status. */
static int filter_is(const vpack_index *idx, const char *filter, vpack_status want,
                     vpack_status alt, int line) {
    uint64_t ids[10] = {77, 77, 77, 77, 77, 77, 77, 77, 77, 77};
    float scores[10];
    size_t n = SENTINEL_SIZE, counts[2];
    char expr[700];
    snprintf(expr, sizeof expr, "vpack_index_search_filtered(%s)", printable(filter));
    vpack_status s = vpack_index_search_filtered(idx, g_vecs, DIM, 5, filter, ids, scores, &n);
    int ok = check_status_impl(s, want, alt, expr, __FILE__, line);
    if (s != VPACK_OK) {
        ok &= check_impl(n == SENTINEL_SIZE && ids[0] == 77, "n_out and ids untouched on error",
                         __FILE__, line);
    }
    const vpack_index *packs[2] = {idx, g_hnsw};
    for (int p = 0; p < 2; p++) {
        const char *which = p == 0 ? "idx" : "hnsw";
        n = SENTINEL_SIZE;
        ids[0] = 77;
        snprintf(expr, sizeof expr, "vpack_index_search_ef(%s, %s, ef %d)", which,
                 printable(filter), p * 32);
        s = vpack_index_search_ef(packs[p], g_vecs, DIM, 5, filter, (size_t)p * 32, ids, scores,
                                  &n);
        ok &= check_status_impl(s, want, alt, expr, __FILE__, line);
        if (s != VPACK_OK) {
            ok &= check_impl(n == SENTINEL_SIZE && ids[0] == 77,
                             "n_out and ids untouched on error", __FILE__, line);
        }
        /* The batch leaves its outputs undefined on error (vpack.h): only the status. */
        snprintf(expr, sizeof expr, "vpack_index_search_batch(%s, %s)", which, printable(filter));
        s = vpack_index_search_batch(packs[p], g_vecs, 2, DIM, 5, filter, 0, 0, ids, scores,
                                     counts);
        ok &= check_status_impl(s, want, alt, expr, __FILE__, line);
    }
    return ok;
}

#define EMBEDDER_NEW_IS(config, want) embedder_new_is((config), (want), NO_ALT, __LINE__)
#define BUILDER_NEW_IS(options, want) builder_new_is((options), (want), NO_ALT, __LINE__)
#define ADD_JSON_IS(json, want) add_json_is((json), strlen(json), (want), NO_ALT, __LINE__)
#define FINISH_IS(manifest, want)                                                         \
    do {                                                                                  \
        finish_is((manifest), 0, (want), NO_ALT, __LINE__);                               \
        finish_is((manifest), 1, (want), NO_ALT, __LINE__);                               \
    } while (0)
#define FILTER_IS(filter, want) filter_is(g_pack, (filter), (want), NO_ALT, __LINE__)

/* ------------------------------------------------------------------------------------ */
/* Groups                                                                               */
/* ------------------------------------------------------------------------------------ */

static void test_no_argument_functions(void) {
    group_begin("functions without pointer arguments");
    const char *v = vpack_version();
    CHECK(v != NULL && v[0] != '\0');
    CHECK(vpack_abi_version() == VPACK_ABI_VERSION);
    const char *unknown = vpack_status_str(1000);
    CHECK(unknown != NULL && unknown[0] != '\0');
    static const vpack_status odd[] = {-1, INT32_MIN, INT32_MAX, 14, 255, 256, 7000};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        const char *d = vpack_status_str(odd[i]);
        CHECK(d != NULL && d[0] != '\0');
    }
    int distinct = 1;
    for (vpack_status a = 0; a <= VPACK_E_RUNTIME; a++) {
        const char *da = vpack_status_str(a);
        if (da == NULL || strcmp(da, unknown) == 0) distinct = 0;
        for (vpack_status b = 0; b < a && da != NULL; b++) {
            if (strcmp(da, vpack_status_str(b)) == 0) distinct = 0;
        }
    }
    CHECK(distinct);
    /* Reading the last error from a fresh thread state: code OK, message "". */
    size_t len = 0;
    CHECK_OK(vpack_index_len(g_pack, &len));
    CHECK(vpack_last_error_code() == VPACK_OK);
    CHECK(vpack_last_error_message(NULL, 0) == 1);
    group_end();
}

static void test_last_error_buffers(void) {
    group_begin("vpack_last_error_message buffers");
    size_t n = 0;
    CHECK_STATUS(vpack_index_len(NULL, &n), VPACK_E_NULL_ARG);
    size_t need = vpack_last_error_message(NULL, 0);
    CHECK(need > 3);
    /* NULL buffer with any capacity: nothing written, the size returned. */
    CHECK(vpack_last_error_message(NULL, 100) == need);
    CHECK(vpack_last_error_message(NULL, SIZE_MAX) == need);
    /* A real buffer of exactly `need` bytes, followed by an inaccessible page, with a
     * lying capacity: the library writes the message and its NUL, nothing more. */
    char *exact = keep_reachable(malloc(need));
    guarded g;
    if (CHECK(exact != NULL) && CHECK(guarded_new(&g, exact, need))) {
        ISOLATED(20, VPACK_E_NULL_ARG, NO_ALT,
                 (vpack_last_error_message((char *)g.data, SIZE_MAX) == need
                      ? vpack_last_error_code()
                      : -100),
                 g.data[need - 1] == '\0' && strncmp((char *)g.data, "1|", 2) == 0);
        ISOLATED(20, VPACK_E_NULL_ARG, NO_ALT,
                 (vpack_last_error_message((char *)g.data, P61) == need ? vpack_last_error_code()
                                                                         : -100),
                 g.data[need - 1] == '\0');
        guarded_free(&g);
    }
    release_reachable(exact);
    /* cap 0 with a buffer: untouched. */
    char small[4] = {'#', '#', '#', '#'};
    CHECK(vpack_last_error_message(small, 0) == need && small[0] == '#');
    /* Reading does not change the error. */
    CHECK(vpack_last_error_code() == VPACK_E_NULL_ARG);
    group_end();
}

static void test_free_null(void) {
    group_begin("_free(NULL) and vpack_bytes_free");
    vpack_index_free(NULL);
    vpack_builder_free(NULL);
    vpack_embedder_free(NULL);
    vpack_bytes_free(NULL);
    vpack_bytes b = {NULL, 0};
    vpack_bytes_free(&b);
    CHECK(b.data == NULL && b.len == 0);
    vpack_bytes stale = {NULL, 42}; /* "already freed" shape with a stale length */
    vpack_bytes_free(&stale);
    CHECK(stale.data == NULL && stale.len == 0);
    vpack_bytes real = {NULL, 0};
    CHECK_OK(vpack_embedder_kinds(&real));
    vpack_bytes_free(&real);
    CHECK(real.data == NULL && real.len == 0);
    vpack_bytes_free(&real); /* twice: no-op */
    CHECK(real.data == NULL && real.len == 0);
    group_end();
}

static void test_null_pointers(void) {
    group_begin("NULL for every pointer argument");
    vpack_embedder *e = SENTINEL_PTR;
    vpack_builder *b = SENTINEL_PTR;
    vpack_index *x = SENTINEL_PTR;
    vpack_bytes bytes = {SENTINEL_PTR, SENTINEL_SIZE};
    vpack_str str = {SENTINEL_PTR, SENTINEL_SIZE}, meta = {SENTINEL_PTR, SENTINEL_SIZE};
    size_t sz = SENTINEL_SIZE;

    CHECK_STATUS(vpack_runtime_init(NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_kinds(NULL), VPACK_E_NULL_ARG);

    CHECK_STATUS(vpack_embedder_new(NULL, &e), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_new(EMB_CONFIG, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_new(NULL, NULL), VPACK_E_NULL_ARG);
    CHECK(e == SENTINEL_PTR);
    CHECK_STATUS(vpack_embedder_dimension(NULL, &sz), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_dimension(g_emb, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_dimension(NULL, NULL), VPACK_E_NULL_ARG);
    CHECK(sz == SENTINEL_SIZE);
    CHECK_STATUS(vpack_embedder_describe(NULL, &bytes), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_describe(g_emb, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_describe(NULL, NULL), VPACK_E_NULL_ARG);
    CHECK(bytes.data == SENTINEL_PTR && bytes.len == SENTINEL_SIZE);

    /* embed / token_counts: each pointer NULL with n = 1. */
    const uint8_t *texts[1] = {(const uint8_t *)"hello"};
    size_t lens[1] = {5};
    float out[EMB_DIM];
    size_t counts[1] = {SENTINEL_SIZE};
    for (int i = 0; i < EMB_DIM; i++) out[i] = 7.0f;
    CHECK_STATUS(vpack_embedder_embed(NULL, texts, lens, 1, out, EMB_DIM), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_embed(g_emb, NULL, lens, 1, out, EMB_DIM), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_embed(g_emb, texts, NULL, 1, out, EMB_DIM), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_embed(g_emb, texts, lens, 1, NULL, EMB_DIM), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_embed(NULL, NULL, NULL, 1, NULL, EMB_DIM), VPACK_E_NULL_ARG);
    const uint8_t *null_text[1] = {NULL};
    CHECK_STATUS(vpack_embedder_embed(g_emb, null_text, lens, 1, out, EMB_DIM),
                 VPACK_E_NULL_ARG);
    const uint8_t *two_texts[2] = {(const uint8_t *)"fine", NULL};
    size_t two_lens[2] = {4, 3};
    float out2[2 * EMB_DIM];
    for (int i = 0; i < 2 * EMB_DIM; i++) out2[i] = 7.0f;
    CHECK_STATUS(vpack_embedder_embed(g_emb, two_texts, two_lens, 2, out2, 2 * EMB_DIM),
                 VPACK_E_NULL_ARG);
    int untouched = 1;
    for (int i = 0; i < EMB_DIM; i++) untouched &= out[i] == 7.0f;
    for (int i = 0; i < 2 * EMB_DIM; i++) untouched &= out2[i] == 7.0f;
    CHECK(untouched);
    /* A NULL text of length 0 is an empty text, not an error. */
    size_t zero_len[1] = {0};
    CHECK_OK(vpack_embedder_token_counts(g_emb, null_text, zero_len, 1, counts));
    CHECK(counts[0] == 0);
    counts[0] = SENTINEL_SIZE;
    CHECK_STATUS(vpack_embedder_token_counts(NULL, texts, lens, 1, counts), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_token_counts(g_emb, NULL, lens, 1, counts), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_token_counts(g_emb, texts, NULL, 1, counts), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_token_counts(g_emb, texts, lens, 1, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_token_counts(g_emb, null_text, lens, 1, counts),
                 VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_embedder_token_counts(NULL, NULL, NULL, 1, NULL), VPACK_E_NULL_ARG);
    CHECK(counts[0] == SENTINEL_SIZE);

    /* builder_new / add / finish / finish_file. */
    CHECK_STATUS(vpack_builder_new(NULL, &b), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_builder_new("{\"dimension\":8}", NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_builder_new(NULL, NULL), VPACK_E_NULL_ARG);
    CHECK(b == SENTINEL_PTR);
    vpack_builder *live = new_builder("{\"dimension\":8}");
    if (CHECK(live != NULL)) {
        CHECK_STATUS(vpack_builder_add(NULL, (const uint8_t *)ONE_CHUNK, strlen(ONE_CHUNK),
                                       ONE_VEC, 1, DIM),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_builder_add(live, NULL, strlen(ONE_CHUNK), ONE_VEC, 1, DIM),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_builder_add(live, (const uint8_t *)ONE_CHUNK, strlen(ONE_CHUNK),
                                       NULL, 1, DIM),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_builder_add(NULL, NULL, 5, NULL, 1, DIM), VPACK_E_NULL_ARG);
        /* NULL with length 0 is an empty buffer: "" is not JSON. */
        CHECK_STATUS(vpack_builder_add(live, NULL, 0, ONE_VEC, 1, DIM), VPACK_E_INVALID_JSON);
        /* n = 0: vectors may be NULL. */
        CHECK_OK(vpack_builder_add(live, (const uint8_t *)"[]", 2, NULL, 0, DIM));
        CHECK(finish_count(live) == 0);
    }
    CHECK_STATUS(vpack_builder_finish(NULL, NULL, &x), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_builder_finish(NULL, "{}", NULL), VPACK_E_NULL_ARG);
    CHECK(x == SENTINEL_PTR);
    live = new_builder("{\"dimension\":8}"); /* consumed by the failing finish */
    if (CHECK(live != NULL)) CHECK_STATUS(vpack_builder_finish(live, NULL, NULL), VPACK_E_NULL_ARG);
    char path[4200];
    snprintf(path, sizeof path, "%s/null-args.vpack", g_dir);
    CHECK_STATUS(vpack_builder_finish_file(NULL, NULL, path, &x), VPACK_E_NULL_ARG);
    live = new_builder("{\"dimension\":8}");
    if (CHECK(live != NULL)) {
        CHECK_STATUS(vpack_builder_finish_file(live, NULL, NULL, &x), VPACK_E_NULL_ARG);
    }
    live = new_builder("{\"dimension\":8}");
    if (CHECK(live != NULL)) {
        CHECK_STATUS(vpack_builder_finish_file(live, NULL, path, NULL), VPACK_E_NULL_ARG);
    }
    CHECK_STATUS(vpack_builder_finish_file(NULL, NULL, NULL, NULL), VPACK_E_NULL_ARG);
    CHECK(x == SENTINEL_PTR && !path_exists(path));

    /* index functions. */
    CHECK_STATUS(vpack_index_open(NULL, 0, &x), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_open(path, 0, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_open(NULL, VPACK_OPEN_VERIFY, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_from_bytes(NULL, 100, &x), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_from_bytes(g_pack_bytes.data, g_pack_bytes.len, NULL),
                 VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_from_bytes(NULL, 0, &x), VPACK_E_CORRUPT); /* empty input */
    CHECK(x == SENTINEL_PTR);
    CHECK_STATUS(vpack_index_to_bytes(NULL, &bytes), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_to_bytes(g_pack, NULL), VPACK_E_NULL_ARG);
    CHECK(bytes.data == SENTINEL_PTR);
    CHECK_STATUS(vpack_index_save(NULL, path), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_save(g_pack, NULL), VPACK_E_NULL_ARG);
    CHECK(!path_exists(path));
    CHECK_STATUS(vpack_index_verify(NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_len(NULL, &sz), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_len(g_pack, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_dimension(NULL, &sz), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_dimension(g_pack, NULL), VPACK_E_NULL_ARG);
    CHECK(sz == SENTINEL_SIZE);
    CHECK_STATUS(vpack_index_manifest(NULL, &str), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_manifest(g_pack, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_chunk(NULL, 0, &str, &meta), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_chunk(g_pack, 0, NULL, &meta), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_chunk(g_pack, 0, &str, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_chunk(NULL, 0, NULL, NULL), VPACK_E_NULL_ARG);
    CHECK(str.data == SENTINEL_PTR && meta.data == SENTINEL_PTR);
    {
        /* vpack_index_chunks: each array NULL with n > 0; n == 0 needs none of them. */
        uint64_t want[3] = {4, 0, 4};
        vpack_str texts[3], metas[3];
        CHECK_STATUS(vpack_index_chunks(NULL, want, 3, texts, metas), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_chunks(g_pack, NULL, 3, texts, metas), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_chunks(g_pack, want, 3, NULL, metas), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_chunks(g_pack, want, 3, texts, NULL), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_chunks(g_pack, NULL, 0, NULL, NULL), VPACK_OK);
        CHECK_STATUS(vpack_index_chunks(NULL, NULL, 0, NULL, NULL), VPACK_E_NULL_ARG);
        /* The batch borrows exactly what one call per id borrows, repeats included. */
        CHECK_STATUS(vpack_index_chunks(g_pack, want, 3, texts, metas), VPACK_OK);
        for (int i = 0; i < 3; i++) {
            vpack_str t1, m1;
            CHECK_STATUS(vpack_index_chunk(g_pack, want[i], &t1, &m1), VPACK_OK);
            CHECK(texts[i].data == t1.data && texts[i].len == t1.len);
            CHECK(metas[i].data == m1.data && metas[i].len == m1.len);
        }
        /* One id past the end fails the call: NOT_FOUND. */
        uint64_t bad[3] = {0, 5, UINT64_MAX};
        CHECK_STATUS(vpack_index_chunks(g_pack, bad, 3, texts, metas), VPACK_E_NOT_FOUND);
        CHECK_STATUS(vpack_index_chunks(g_pack, bad + 2, 1, texts, metas), VPACK_E_NOT_FOUND);
    }
    CHECK_STATUS(vpack_index_embedder(NULL, &e), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_embedder(g_pack, NULL), VPACK_E_NULL_ARG);
    CHECK(e == SENTINEL_PTR);

    /* search / search_filtered: each pointer NULL with k > 0. */
    uint64_t ids[4] = {77, 77, 77, 77};
    float scores[4];
    size_t n = SENTINEL_SIZE;
    CHECK_STATUS(vpack_index_search(NULL, g_vecs, DIM, 4, ids, scores, &n), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search(g_pack, NULL, DIM, 4, ids, scores, &n), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search(g_pack, g_vecs, DIM, 4, NULL, scores, &n), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search(g_pack, g_vecs, DIM, 4, ids, NULL, &n), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search(g_pack, g_vecs, DIM, 4, ids, scores, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search(NULL, NULL, DIM, 4, NULL, NULL, NULL), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search_filtered(NULL, g_vecs, DIM, 4, "{}", ids, scores, &n),
                 VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search_filtered(g_pack, NULL, DIM, 4, "{}", ids, scores, &n),
                 VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search_filtered(g_pack, g_vecs, DIM, 4, "{}", NULL, scores, &n),
                 VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search_filtered(g_pack, g_vecs, DIM, 4, "{}", ids, NULL, &n),
                 VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_search_filtered(g_pack, g_vecs, DIM, 4, "{}", ids, scores, NULL),
                 VPACK_E_NULL_ARG);
    CHECK(n == SENTINEL_SIZE && ids[0] == 77);
    {
        /* vpack_index_search_mode: modes, inputs each mode needs, text checks. */
        vpack_index *lex = build("{\"dimension\":8,\"index\":{\"lexical\":{}}}", PACK_CHUNKS,
                                 g_vecs, 5);
        if (CHECK(lex != NULL)) {
            const uint8_t *word = (const uint8_t *)"three";
            size_t m = SENTINEL_SIZE;
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_LEXICAL, NULL, 0, word, 5, 4, NULL,
                                                 0, ids, scores, &m),
                         VPACK_OK);
            CHECK(m == 1 && ids[0] == 3);
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_HYBRID, g_vecs, DIM, word, 5, 4,
                                                 NULL, 0, ids, scores, &m),
                         VPACK_OK);
            CHECK(m == 4 && scores[0] <= 1.0f && scores[m - 1] >= 0.0f);
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_DENSE, g_vecs, DIM, NULL, 0, 4,
                                                 "{\"lang\":\"fr\"}", 0, ids, scores, &m),
                         VPACK_OK);
            CHECK(m == 2);
            /* Unknown modes; a mode without the input it needs. */
            CHECK_STATUS(vpack_index_search_mode(lex, 3, g_vecs, DIM, word, 5, 4, NULL, 0, ids,
                                                 scores, &m),
                         VPACK_E_INVALID_ARG);
            CHECK_STATUS(vpack_index_search_mode(lex, UINT32_MAX, g_vecs, DIM, word, 5, 4, NULL, 0,
                                                 ids, scores, &m),
                         VPACK_E_INVALID_ARG);
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_LEXICAL, g_vecs, DIM, NULL, 0, 4,
                                                 NULL, 0, ids, scores, &m),
                         VPACK_E_INVALID_ARG);
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_HYBRID, NULL, 0, word, 5, 4, NULL,
                                                 0, ids, scores, &m),
                         VPACK_E_INVALID_ARG);
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_DENSE, NULL, 0, word, 5, 4, NULL,
                                                 0, ids, scores, &m),
                         VPACK_E_INVALID_ARG);
            /* NULL pointers with a length; bad UTF-8; NULL outputs. */
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_LEXICAL, NULL, 0, NULL, 5, 4, NULL,
                                                 0, ids, scores, &m),
                         VPACK_E_NULL_ARG);
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_HYBRID, NULL, DIM, word, 5, 4,
                                                 NULL, 0, ids, scores, &m),
                         VPACK_E_NULL_ARG);
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_LEXICAL, NULL, 0,
                                                 (const uint8_t *)"\xff\xfe", 2, 4, NULL, 0, ids,
                                                 scores, &m),
                         VPACK_E_INVALID_UTF8);
            CHECK_STATUS(vpack_index_search_mode(NULL, VPACK_MODE_LEXICAL, NULL, 0, word, 5, 4, NULL,
                                                 0, ids, scores, &m),
                         VPACK_E_NULL_ARG);
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_LEXICAL, NULL, 0, word, 5, 4, NULL,
                                                 0, NULL, scores, &m),
                         VPACK_E_NULL_ARG);
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_LEXICAL, NULL, 0, word, 5, 4, NULL,
                                                 0, ids, scores, NULL),
                         VPACK_E_NULL_ARG);
            CHECK_STATUS(vpack_index_search_mode(lex, VPACK_MODE_LEXICAL, NULL, 0, word, 5,
                                                 (size_t)VPACK_MAX_K + 1, NULL, 0, ids, scores, &m),
                         VPACK_E_LIMIT);
            CHECK_STATUS(vpack_index_verify(lex), VPACK_OK);
            vpack_index_free(lex);
        }
        /* A pack without a lexical index: NOT_FOUND for lexical and hybrid. */
        size_t m = SENTINEL_SIZE;
        CHECK_STATUS(vpack_index_search_mode(g_pack, VPACK_MODE_LEXICAL, NULL, 0,
                                             (const uint8_t *)"two", 3, 4, NULL, 0, ids, scores, &m),
                     VPACK_E_NOT_FOUND);
        CHECK_STATUS(vpack_index_search_mode(g_pack, VPACK_MODE_HYBRID, g_vecs, DIM,
                                             (const uint8_t *)"two", 3, 4, NULL, 0, ids, scores, &m),
                     VPACK_E_NOT_FOUND);
        CHECK(m == SENTINEL_SIZE);
    }
    /* An empty pack does not excuse NULL arrays for k > 0. */
    vpack_index *empty = build("{\"dimension\":8}", "[]", NULL, 0);
    if (CHECK(empty != NULL)) {
        CHECK_STATUS(vpack_index_search(empty, g_vecs, DIM, 4, NULL, scores, &n),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search(empty, g_vecs, DIM, 4, ids, NULL, &n), VPACK_E_NULL_ARG);
        vpack_index_free(empty);
    }
    /* NULL filter is "no filter". */
    n = SENTINEL_SIZE;
    CHECK_OK(vpack_index_search_filtered(g_pack, g_vecs, DIM, 4, NULL, ids, scores, &n));
    CHECK(n == 4);

    /* search_ef: as search_filtered, on a flat and an HNSW pack. */
    const vpack_index *packs[2] = {g_pack, g_hnsw};
    for (int p = 0; p < 2; p++) {
        const vpack_index *px = packs[p];
        n = SENTINEL_SIZE;
        ids[0] = 77;
        CHECK_STATUS(vpack_index_search_ef(NULL, g_vecs, DIM, 4, NULL, 0, ids, scores, &n),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_ef(px, NULL, DIM, 4, NULL, 0, ids, scores, &n),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_ef(px, g_vecs, DIM, 4, "{}", 16, NULL, scores, &n),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_ef(px, g_vecs, DIM, 4, NULL, 0, ids, NULL, &n),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_ef(px, g_vecs, DIM, 4, NULL, 0, ids, scores, NULL),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_ef(NULL, NULL, DIM, 4, NULL, 0, NULL, NULL, NULL),
                     VPACK_E_NULL_ARG);
        /* k = 0: ids and scores may be NULL; dim = 0: the query may be NULL, and is then
         * the wrong dimension. */
        CHECK(n == SENTINEL_SIZE && ids[0] == 77);
        CHECK_OK(vpack_index_search_ef(px, g_vecs, DIM, 0, NULL, 0, NULL, NULL, &n));
        CHECK(n == 0);
        n = SENTINEL_SIZE;
        CHECK_STATUS(vpack_index_search_ef(px, NULL, 0, 4, NULL, 0, ids, scores, &n),
                     VPACK_E_DIMENSION_MISMATCH);
        CHECK_OK(vpack_index_search_ef(px, g_vecs, DIM, 4, NULL, 0, ids, scores, &n));
        CHECK(n == 4);

        /* search_batch (n = 2, k = 4): queries matter when n * dim > 0, ids and scores when
         * n * k > 0, counts when n > 0. Outputs are undefined on error (vpack.h). */
        uint64_t bids[8];
        float bscores[8];
        size_t counts[2] = {SENTINEL_SIZE, SENTINEL_SIZE};
        CHECK_STATUS(vpack_index_search_batch(NULL, g_vecs, 2, DIM, 4, NULL, 0, 1, bids, bscores,
                                              counts),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_batch(px, NULL, 2, DIM, 4, NULL, 0, 1, bids, bscores,
                                              counts),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_batch(px, g_vecs, 2, DIM, 4, "{}", 0, 2, NULL, bscores,
                                              counts),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_batch(px, g_vecs, 2, DIM, 4, NULL, 8, 1, bids, NULL,
                                              counts),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_batch(px, g_vecs, 2, DIM, 4, NULL, 0, 1, bids, bscores,
                                              NULL),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_batch(NULL, NULL, 2, DIM, 4, NULL, 0, 0, NULL, NULL,
                                              NULL),
                     VPACK_E_NULL_ARG);
        /* k = 0: ids and scores may be NULL, counts may not (n > 0), nor the queries. */
        CHECK_OK(vpack_index_search_batch(px, g_vecs, 2, DIM, 0, NULL, 0, 1, NULL, NULL, counts));
        CHECK(counts[0] == 0 && counts[1] == 0);
        CHECK_STATUS(vpack_index_search_batch(px, g_vecs, 2, DIM, 0, NULL, 0, 1, NULL, NULL,
                                              NULL),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_batch(px, NULL, 2, DIM, 0, NULL, 0, 1, NULL, NULL,
                                              counts),
                     VPACK_E_NULL_ARG);
        /* n = 0: every array may be NULL. */
        CHECK_OK(vpack_index_search_batch(px, NULL, 0, DIM, 4, NULL, 0, 0, NULL, NULL, NULL));
        CHECK_OK(vpack_index_search_batch(px, NULL, 0, DIM, 0, "{\"n\":1}", 0, 2, NULL, NULL,
                                          NULL));
        /* NULL filter is "no filter". */
        counts[0] = counts[1] = SENTINEL_SIZE;
        CHECK_OK(vpack_index_search_batch(px, g_vecs, 2, DIM, 4, NULL, 0, 2, bids, bscores,
                                          counts));
        CHECK(counts[0] == 4 && counts[1] == 4);

        /* vectors: each out-pointer NULL; nothing written. */
        const float *data = SENTINEL_PTR;
        size_t count = SENTINEL_SIZE, dim = SENTINEL_SIZE;
        CHECK_STATUS(vpack_index_vectors(NULL, &data, &count, &dim), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_vectors(px, NULL, &count, &dim), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_vectors(px, &data, NULL, &dim), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_vectors(px, &data, &count, NULL), VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_vectors(NULL, NULL, NULL, NULL), VPACK_E_NULL_ARG);
        CHECK(data == SENTINEL_PTR && count == SENTINEL_SIZE && dim == SENTINEL_SIZE);
        CHECK_OK(vpack_index_vectors(px, &data, &count, &dim));
        CHECK(data != NULL && data != SENTINEL_PTR && count == 5 && dim == DIM);
    }
    /* An empty HNSW pack does not excuse NULL arrays either. */
    vpack_index *empty_hnsw = build("{\"dimension\":8,\"index\":{\"kind\":\"hnsw\"}}", "[]", NULL, 0);
    if (CHECK(empty_hnsw != NULL)) {
        size_t counts[1];
        CHECK_STATUS(vpack_index_search_ef(empty_hnsw, g_vecs, DIM, 4, NULL, 0, NULL, scores, &n),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_search_batch(empty_hnsw, g_vecs, 1, DIM, 4, NULL, 0, 1, ids,
                                              NULL, counts),
                     VPACK_E_NULL_ARG);
        CHECK_STATUS(vpack_index_vectors(empty_hnsw, NULL, &n, &n), VPACK_E_NULL_ARG);
        vpack_index_free(empty_hnsw);
    }
    group_end();
}

/* A fresh cosine builder gets one add with the given lengths; `json` points to
 * `json_bytes` bytes of a valid one-chunk batch placed before an inaccessible page. The
 * status is captured at once; afterwards the builder must still hold no chunk. */
static vpack_status add_with_lengths(const uint8_t *json, size_t json_len, size_t n, size_t dim) {
    vpack_builder *b = new_builder("{\"dimension\":8}");
    if (b == NULL) return -200;
    vpack_status s = capture(vpack_builder_add(b, json, json_len, ONE_VEC, n, dim));
    size_t count = finish_count(b);
    g_helper_post_ok = count == (s == VPACK_OK ? 1u : 0u);
    return s;
}

static void test_huge_lengths(void) {
    group_begin("huge counts and lengths");
    guarded text, json, pack;
    int have_text = guarded_new(&text, "abc", 3);
    int have_json = guarded_new(&json, ONE_CHUNK, strlen(ONE_CHUNK));
    int have_pack = guarded_new(&pack, g_pack_bytes.data, g_pack_bytes.len);
    CHECK(have_text && have_json && have_pack);
    const uint8_t *texts[1] = {have_text ? text.data : (const uint8_t *)"abc"};
    size_t lens[1] = {3};
    float out[EMB_DIM];
    size_t counts[1] = {SENTINEL_SIZE};
    for (int i = 0; i < EMB_DIM; i++) out[i] = 7.0f;
#define OUT_UNTOUCHED (out[0] == 7.0f && out[EMB_DIM - 1] == 7.0f)

    /* Chunk batches whose arrays would span more than PTRDIFF_MAX bytes: LIMIT before
       any array is read. */
    for (size_t i = 0; i < N_HUGE; i++) {
        uint64_t one_id = 0;
        vpack_str t[1], m[1];
        if (!beyond_any_buffer(HUGE_SIZES[i], sizeof(vpack_str))) continue;
        ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                 vpack_index_chunks(g_pack, &one_id, HUGE_SIZES[i], t, m), 1);
    }

    /* Text counts above VPACK_MAX_TEXTS: LIMIT, checked before the arrays are read. */
    size_t counts_to_try[1 + N_HUGE];
    counts_to_try[0] = (size_t)VPACK_MAX_TEXTS + 1;
    for (size_t i = 0; i < N_HUGE; i++) counts_to_try[1 + i] = HUGE_SIZES[i];
    for (size_t i = 0; i < 1 + N_HUGE; i++) {
        size_t nt = counts_to_try[i];
        printf("  n = %zu\n", nt);
        ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                 vpack_embedder_embed(g_emb, texts, lens, nt, out, EMB_DIM), OUT_UNTOUCHED);
        ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                 vpack_embedder_embed(g_emb, texts, lens, nt, out, SIZE_MAX), OUT_UNTOUCHED);
        ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                 vpack_embedder_token_counts(g_emb, texts, lens, nt, counts),
                 counts[0] == SENTINEL_SIZE);
    }
    /* out_len that is not n * dimension: DIMENSION_MISMATCH (or LIMIT for a length no
     * buffer can have), nothing written. */
    for (size_t i = 0; i < N_HUGE; i++) {
        size_t ol = HUGE_SIZES[i];
        ISOLATED(30, VPACK_E_DIMENSION_MISMATCH,
                 beyond_any_buffer(ol, sizeof(float)) ? VPACK_E_LIMIT : NO_ALT,
                 vpack_embedder_embed(g_emb, texts, lens, 1, out, ol), OUT_UNTOUCHED);
    }
    /* A text length far beyond the buffer: above VPACK_MAX_INPUT_BYTES, so LIMIT, never a
     * read past the 3 bytes. */
    size_t input_sizes[1 + N_HUGE];
    input_sizes[0] = (size_t)VPACK_MAX_INPUT_BYTES + 1;
    for (size_t i = 0; i < N_HUGE; i++) input_sizes[1 + i] = HUGE_SIZES[i];
    for (size_t i = 0; i < 1 + N_HUGE && have_text; i++) {
        size_t big[1] = {input_sizes[i]};
        printf("  lens[0] = %zu\n", big[0]);
        ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                 vpack_embedder_embed(g_emb, texts, big, 1, out, EMB_DIM), OUT_UNTOUCHED);
        ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                 vpack_embedder_token_counts(g_emb, texts, big, 1, counts),
                 counts[0] == SENTINEL_SIZE);
    }

    /* builder_add: JSON lengths above VPACK_MAX_INPUT_BYTES, counts and dimensions. */
    for (size_t i = 0; i < 1 + N_HUGE && have_json; i++) {
        printf("  builder_add: chunks_json_len = %zu\n", input_sizes[i]);
        ISOLATED(30, VPACK_E_LIMIT, NO_ALT, add_with_lengths(json.data, input_sizes[i], 1, DIM),
                 1);
    }
    for (size_t i = 0; i < N_HUGE && have_json; i++) {
        size_t big = HUGE_SIZES[i];
        printf("  builder_add: n/dim = %zu\n", big);
        /* n larger than the batch: LIMIT when n * dim overflows, else the documented
         * chunk-count mismatch (INVALID_ARG); the vectors are never read. */
        ISOLATED(30, VPACK_E_LIMIT, VPACK_E_INVALID_ARG,
                 add_with_lengths(json.data, strlen(ONE_CHUNK), big, DIM), 1);
        ISOLATED(30, VPACK_E_DIMENSION_MISMATCH, NO_ALT,
                 add_with_lengths(json.data, strlen(ONE_CHUNK), 1, big), 1);
    }

    /* from_bytes with a length beyond the buffer (which holds a whole valid pack): the
     * pack's own header states its length, so CORRUPT (the codes vpack.h lists for
     * from_bytes are NULL_ARG, CORRUPT, UNSUPPORTED_VERSION), found from the first 64
     * bytes without allocating, copying or reading `len` bytes; LIMIT only for a length
     * no buffer can have. */
    for (size_t i = 0; i < N_HUGE && have_pack; i++) {
        size_t big = HUGE_SIZES[i];
        vpack_index *x = SENTINEL_PTR;
        printf("  from_bytes: len = %zu\n", big);
        ISOLATED(30, VPACK_E_CORRUPT, beyond_any_buffer(big, 1) ? VPACK_E_LIMIT : NO_ALT,
                 vpack_index_from_bytes(pack.data, big, &x), x == SENTINEL_PTR);
    }

    /* search: k above VPACK_MAX_K (LIMIT) and huge dims (DIMENSION_MISMATCH), with
     * arrays of 8; nothing written. */
    uint64_t ids[8];
    float scores[8];
    size_t n = SENTINEL_SIZE;
    for (int i = 0; i < 8; i++) ids[i] = 77;
    size_t ks[1 + N_HUGE];
    ks[0] = (size_t)VPACK_MAX_K + 1;
    for (size_t i = 0; i < N_HUGE; i++) ks[1 + i] = HUGE_SIZES[i];
    for (size_t i = 0; i < 1 + N_HUGE; i++) {
        size_t k = ks[i];
        printf("  search: k = %zu\n", k);
        ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                 vpack_index_search(g_pack, g_vecs, DIM, k, ids, scores, &n),
                 n == SENTINEL_SIZE && ids[0] == 77);
        ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                 vpack_index_search_filtered(g_pack, g_vecs, DIM, k, "{\"n\":{\"$gte\":0}}", ids,
                                             scores, &n),
                 n == SENTINEL_SIZE && ids[0] == 77);
    }
    for (size_t i = 0; i < N_HUGE; i++) {
        size_t d = HUGE_SIZES[i];
        vpack_status alt = beyond_any_buffer(d, sizeof(float)) ? VPACK_E_LIMIT : NO_ALT;
        printf("  search: dim = %zu\n", d);
        ISOLATED(30, VPACK_E_DIMENSION_MISMATCH, alt,
                 vpack_index_search(g_pack, g_vecs, d, 4, ids, scores, &n),
                 n == SENTINEL_SIZE && ids[0] == 77);
        ISOLATED(30, VPACK_E_DIMENSION_MISMATCH, alt,
                 vpack_index_search_filtered(g_pack, g_vecs, d, 4, NULL, ids, scores, &n),
                 n == SENTINEL_SIZE && ids[0] == 77);
    }
    /* search_ef, on the flat and the HNSW pack: the same k and dim limits. */
    const vpack_index *packs[2] = {g_pack, g_hnsw};
    for (int p = 0; p < 2; p++) {
        for (size_t i = 0; i < 1 + N_HUGE; i++) {
            size_t k = ks[i];
            printf("  search_ef (%s): k = %zu\n", p ? "hnsw" : "flat", k);
            ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                     vpack_index_search_ef(packs[p], g_vecs, DIM, k, NULL, 0, ids, scores, &n),
                     n == SENTINEL_SIZE && ids[0] == 77);
            ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                     vpack_index_search_ef(packs[p], g_vecs, DIM, k, "{\"n\":{\"$gte\":0}}", 64,
                                           ids, scores, &n),
                     n == SENTINEL_SIZE && ids[0] == 77);
        }
        for (size_t i = 0; i < N_HUGE; i++) {
            size_t d = HUGE_SIZES[i];
            vpack_status alt = beyond_any_buffer(d, sizeof(float)) ? VPACK_E_LIMIT : NO_ALT;
            printf("  search_ef (%s): dim = %zu\n", p ? "hnsw" : "flat", d);
            ISOLATED(30, VPACK_E_DIMENSION_MISMATCH, alt,
                     vpack_index_search_ef(packs[p], g_vecs, d, 4, NULL, 0, ids, scores, &n),
                     n == SENTINEL_SIZE && ids[0] == 77);
        }
    }

    /* search_batch. Its queries (2 rows) sit right before an inaccessible page, so reading
     * a third row faults. k above VPACK_MAX_K: LIMIT; a huge dim: DIMENSION_MISMATCH (or
     * LIMIT for a length no buffer can have); n such that n * dim or n * k overflows, or
     * their arrays would exceed PTRDIFF_MAX bytes: LIMIT, before any array is read. (A huge
     * n whose arrays could exist is the caller's promise that they do: not tested.) Outputs
     * are undefined on error (vpack.h), so only the status is judged. */
    guarded q2;
    int have_q2 = guarded_new(&q2, g_vecs, 2 * DIM * sizeof(float));
    CHECK(have_q2);
    const float *rows2 = have_q2 ? (const float *)(const void *)q2.data : g_vecs;
    size_t bcounts[2];
    for (int p = 0; p < 2 && have_q2; p++) {
        const vpack_index *px = packs[p];
        for (size_t i = 0; i < 1 + N_HUGE; i++) {
            size_t k = ks[i];
            printf("  search_batch (%s): k = %zu\n", p ? "hnsw" : "flat", k);
            ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                     vpack_index_search_batch(px, rows2, 2, DIM, k, NULL, 0, 2, ids, scores,
                                              bcounts),
                     1);
        }
        for (size_t i = 0; i < N_HUGE; i++) {
            size_t d = HUGE_SIZES[i];
            vpack_status alt = beyond_any_buffer(d, sizeof(float)) ? VPACK_E_LIMIT : NO_ALT;
            printf("  search_batch (%s): dim = %zu\n", p ? "hnsw" : "flat", d);
            ISOLATED(30, VPACK_E_DIMENSION_MISMATCH, alt,
                     vpack_index_search_batch(px, rows2, 2, d, 4, NULL, 0, 2, ids, scores,
                                              bcounts),
                     1);
            ISOLATED(30, VPACK_E_DIMENSION_MISMATCH, alt,
                     vpack_index_search_batch(px, rows2, 1, d, 0, NULL, 0, 1, NULL, NULL,
                                              bcounts),
                     1);
        }
        /* n * dim overflows (n = 2^61, SIZE_MAX; dim 8), with k = 4 and k = 0. */
        for (size_t i = 1; i < N_HUGE; i++) {
            size_t big = HUGE_SIZES[i];
            printf("  search_batch (%s): n = %zu\n", p ? "hnsw" : "flat", big);
            ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                     vpack_index_search_batch(px, rows2, big, DIM, 4, NULL, 0, 2, ids, scores,
                                              bcounts),
                     1);
            ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                     vpack_index_search_batch(px, rows2, big, DIM, 0, NULL, 0, 2, NULL, NULL,
                                              bcounts),
                     1);
        }
        /* n = 2^40 (queries of 2^45 bytes, a size an array can have) with k = VPACK_MAX_K:
         * n * k ids would take 2^63 bytes. And n * k overflowing outright. */
        printf("  search_batch (%s): n = 2^40, k = VPACK_MAX_K\n", p ? "hnsw" : "flat");
        ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                 vpack_index_search_batch(px, rows2, P40, DIM, VPACK_MAX_K, NULL, 0, 2, ids,
                                          scores, bcounts),
                 1);
        ISOLATED(30, VPACK_E_LIMIT, NO_ALT,
                 vpack_index_search_batch(px, rows2, P40, DIM, VPACK_MAX_K, "{\"n\":1}", 64, 0,
                                          ids, scores, bcounts),
                 1);
        /* Huge thread bcounts are a request, not a promise to spawn that many: the results
         * of 2 queries equal those of one thread. */
        uint64_t ref_ids[8];
        float ref_scores[8];
        size_t ref_counts[2];
        CHECK_OK(vpack_index_search_batch(px, rows2, 2, DIM, 4, NULL, 0, 1, ref_ids, ref_scores,
                                          ref_counts));
        for (size_t i = 0; i < N_HUGE; i++) {
            size_t t = HUGE_SIZES[i];
            printf("  search_batch (%s): threads = %zu\n", p ? "hnsw" : "flat", t);
            ISOLATED(30, VPACK_OK, NO_ALT,
                     vpack_index_search_batch(px, rows2, 2, DIM, 4, NULL, 0, t, ids, scores,
                                              bcounts),
                     bcounts[0] == ref_counts[0] && bcounts[1] == ref_counts[1] &&
                         memcmp(ids, ref_ids, sizeof ref_ids) == 0 &&
                         memcmp(scores, ref_scores, sizeof ref_scores) == 0);
        }
    }
    if (have_q2) guarded_free(&q2);
    for (int i = 0; i < 8; i++) ids[i] = 77;
    n = SENTINEL_SIZE;

    /* Chunk ids far beyond len: NOT_FOUND. */
    static const uint64_t bad_ids[] = {5, (uint64_t)1 << 40, (uint64_t)1 << 61, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        vpack_str t = {SENTINEL_PTR, 0}, m = {SENTINEL_PTR, 0};
        CHECK_STATUS(vpack_index_chunk(g_pack, bad_ids[i], &t, &m), VPACK_E_NOT_FOUND);
        CHECK(t.data == SENTINEL_PTR && m.data == SENTINEL_PTR);
    }
#undef OUT_UNTOUCHED
    if (have_text) guarded_free(&text);
    if (have_json) guarded_free(&json);
    if (have_pack) guarded_free(&pack);
    group_end();
}

static void test_k(void) {
    group_begin("k: 0, > count, = VPACK_MAX_K");
    uint64_t ids[8];
    float scores[8];
    size_t n = SENTINEL_SIZE;
    for (int i = 0; i < 8; i++) ids[i] = 77;
    CHECK_OK(vpack_index_search(g_pack, g_vecs, DIM, 0, NULL, NULL, &n));
    CHECK(n == 0);
    n = SENTINEL_SIZE;
    CHECK_OK(vpack_index_search_filtered(g_pack, g_vecs, DIM, 0, "{\"n\":1}", NULL, NULL, &n));
    CHECK(n == 0);
    CHECK_OK(vpack_index_search(g_pack, g_vecs, DIM, 1, ids, scores, &n));
    CHECK(n == 1 && ids[0] == 0 && ids[1] == 77);
    CHECK_OK(vpack_index_search(g_pack, g_vecs, DIM, 5, ids, scores, &n));
    CHECK(n == 5 && ids[5] == 77);
    CHECK_OK(vpack_index_search(g_pack, g_vecs, DIM, 8, ids, scores, &n));
    CHECK(n == 5 && ids[5] == 77 && ids[7] == 77);
    /* Filter keeps 2 of 5; k = 8 -> 2 hits. */
    CHECK_OK(vpack_index_search_filtered(g_pack, g_vecs, DIM, 8, "{\"lang\":\"fr\"}", ids,
                                         scores, &n));
    CHECK(n == 2);
    /* k == VPACK_MAX_K exactly (arrays of that size, as the contract asks). */
    uint64_t *big_ids = malloc((size_t)VPACK_MAX_K * sizeof *big_ids);
    float *big_scores = malloc((size_t)VPACK_MAX_K * sizeof *big_scores);
    if (CHECK(big_ids != NULL && big_scores != NULL)) {
        CHECK_OK(vpack_index_search(g_pack, g_vecs, DIM, VPACK_MAX_K, big_ids, big_scores, &n));
        CHECK(n == 5);
        CHECK_STATUS(vpack_index_search(g_pack, g_vecs, DIM, (size_t)VPACK_MAX_K + 1, big_ids,
                                        big_scores, &n),
                     VPACK_E_LIMIT);
        CHECK(n == 5);
    }
    free(big_ids);
    free(big_scores);
    /* dim 0 and off-by-one. */
    CHECK_STATUS(vpack_index_search(g_pack, g_vecs, 0, 4, ids, scores, &n),
                 VPACK_E_DIMENSION_MISMATCH);
    CHECK_STATUS(vpack_index_search(g_pack, g_vecs, DIM + 1, 4, ids, scores, &n),
                 VPACK_E_DIMENSION_MISMATCH);
    CHECK_STATUS(vpack_index_search(g_pack, NULL, 0, 4, ids, scores, &n),
                 VPACK_E_DIMENSION_MISMATCH);

    /* The same through search_ef and search_batch, on the flat and the HNSW pack. */
    const vpack_index *packs[2] = {g_pack, g_hnsw};
    uint64_t *bids = malloc((size_t)VPACK_MAX_K * 2 * sizeof *bids);
    float *bscores = malloc((size_t)VPACK_MAX_K * 2 * sizeof *bscores);
    for (int p = 0; p < 2; p++) {
        const vpack_index *px = packs[p];
        for (int i = 0; i < 8; i++) ids[i] = 77;
        n = SENTINEL_SIZE;
        CHECK_OK(vpack_index_search_ef(px, g_vecs, DIM, 0, NULL, 0, NULL, NULL, &n));
        CHECK(n == 0);
        n = SENTINEL_SIZE;
        CHECK_OK(vpack_index_search_ef(px, g_vecs, DIM, 0, "{\"n\":1}", 300, NULL, NULL, &n));
        CHECK(n == 0);
        CHECK_OK(vpack_index_search_ef(px, g_vecs, DIM, 1, NULL, 0, ids, scores, &n));
        CHECK(n == 1 && ids[0] == 0 && ids[1] == 77);
        CHECK_OK(vpack_index_search_ef(px, g_vecs, DIM, 8, NULL, 1, ids, scores, &n));
        CHECK(n == 5 && ids[0] == 0 && ids[5] == 77 && ids[7] == 77);
        CHECK_OK(vpack_index_search_ef(px, g_vecs, DIM, 8, "{\"lang\":\"fr\"}", 0, ids, scores,
                                       &n));
        CHECK(n == 2);
        CHECK_STATUS(vpack_index_search_ef(px, g_vecs, DIM, (size_t)VPACK_MAX_K + 1, NULL, 0,
                                           ids, scores, &n),
                     VPACK_E_LIMIT);
        CHECK(n == 2);
        CHECK_STATUS(vpack_index_search_ef(px, g_vecs, DIM + 1, 4, NULL, 0, ids, scores, &n),
                     VPACK_E_DIMENSION_MISMATCH);
        CHECK_STATUS(vpack_index_search_ef(px, g_vecs, 0, 4, NULL, 0, ids, scores, &n),
                     VPACK_E_DIMENSION_MISMATCH);
        /* batch: k = 0 gives counts of 0; k above the pack's size gives all 5; the rows of
         * query i start at i * k whatever k. */
        size_t counts[3] = {SENTINEL_SIZE, SENTINEL_SIZE, SENTINEL_SIZE};
        CHECK_OK(vpack_index_search_batch(px, g_vecs, 3, DIM, 0, NULL, 0, 2, NULL, NULL, counts));
        CHECK(counts[0] == 0 && counts[1] == 0 && counts[2] == 0);
        uint64_t rows_ids[3 * 8];
        float rows_scores[3 * 8];
        CHECK_OK(vpack_index_search_batch(px, g_vecs, 3, DIM, 8, NULL, 0, 2, rows_ids,
                                          rows_scores, counts));
        CHECK(counts[0] == 5 && counts[1] == 5 && counts[2] == 5);
        CHECK(rows_ids[0] == 0 && rows_ids[8] == 1 && rows_ids[16] == 2);
        CHECK_OK(vpack_index_search_batch(px, g_vecs, 3, DIM, 8, "{\"lang\":\"fr\"}", 0, 1,
                                          rows_ids, rows_scores, counts));
        CHECK(counts[0] == 2 && counts[1] == 2 && counts[2] == 2 && rows_ids[8] == 1);
        /* k == VPACK_MAX_K exactly, 2 queries (arrays of 2 * VPACK_MAX_K), and one more. */
        if (CHECK(bids != NULL && bscores != NULL)) {
            CHECK_OK(vpack_index_search_batch(px, g_vecs, 2, DIM, VPACK_MAX_K, NULL, 0, 2, bids,
                                              bscores, counts));
            CHECK(counts[0] == 5 && counts[1] == 5 && bids[VPACK_MAX_K] == 1);
            CHECK_STATUS(vpack_index_search_batch(px, g_vecs, 1, DIM, (size_t)VPACK_MAX_K + 1,
                                                  NULL, 0, 2, bids, bscores, counts),
                         VPACK_E_LIMIT);
        }
        CHECK_STATUS(vpack_index_search_batch(px, g_vecs, 2, DIM + 1, 4, NULL, 0, 1, rows_ids,
                                              rows_scores, counts),
                     VPACK_E_DIMENSION_MISMATCH);
        CHECK_STATUS(vpack_index_search_batch(px, g_vecs, 2, 0, 4, NULL, 0, 1, rows_ids,
                                              rows_scores, counts),
                     VPACK_E_DIMENSION_MISMATCH);
    }
    free(bids);
    free(bscores);
    group_end();
}

/* ef: 0 is the pack's default, 1..=65536 a search effort, above it INVALID_ARG, on flat
 * packs (which ignore a valid ef) as on HNSW packs, checked before any work. */
static void test_ef(void) {
    group_begin("search effort ef");
    const vpack_index *packs[3] = {g_pack, g_hnsw, g_l2};
    static const size_t bad_ef[] = {65537, (size_t)1 << 20, (size_t)1 << 32, P40, P61, SIZE_MAX};
    uint64_t ids[8];
    float scores[8];
    size_t counts[2];
    for (int p = 0; p < 3; p++) {
        const vpack_index *px = packs[p];
        for (size_t i = 0; i < sizeof bad_ef / sizeof bad_ef[0]; i++) {
            size_t ef = bad_ef[i];
            size_t n = SENTINEL_SIZE;
            for (int j = 0; j < 8; j++) ids[j] = 77;
            int ok = CHECK_STATUS(vpack_index_search_ef(px, g_vecs, DIM, 4, NULL, ef, ids, scores,
                                                        &n),
                                  VPACK_E_INVALID_ARG);
            ok &= CHECK_STATUS(vpack_index_search_ef(px, g_vecs, DIM, 4, "{\"n\":{\"$gte\":1}}",
                                                     ef, ids, scores, &n),
                               VPACK_E_INVALID_ARG);
            ok &= CHECK(n == SENTINEL_SIZE && ids[0] == 77);
            /* ...whatever k: the arguments are checked before any work. */
            ok &= CHECK_STATUS(vpack_index_search_ef(px, g_vecs, DIM, 0, NULL, ef, NULL, NULL, &n),
                               VPACK_E_INVALID_ARG);
            ok &= CHECK(n == SENTINEL_SIZE);
            ok &= CHECK_STATUS(vpack_index_search_batch(px, g_vecs, 2, DIM, 4, NULL, ef, 1, ids,
                                                        scores, counts),
                               VPACK_E_INVALID_ARG);
            ok &= CHECK_STATUS(vpack_index_search_batch(px, g_vecs, 2, DIM, 4, "{\"n\":1}", ef, 2,
                                                        ids, scores, counts),
                               VPACK_E_INVALID_ARG);
            if (!ok) printf("  pack %d, ef %zu\n", p, ef);
        }
        /* The edges of the range, and 0: the same hits (5 chunks: every ef finds them). */
        static const size_t good_ef[] = {0, 1, 2, 64, 65536};
        uint64_t ref[5];
        size_t n = 0;
        CHECK_OK(vpack_index_search_ef(px, g_vecs, DIM, 5, NULL, 0, ref, scores, &n));
        for (size_t i = 0; i < sizeof good_ef / sizeof good_ef[0]; i++) {
            size_t m = 0;
            if (!CHECK_OK(vpack_index_search_ef(px, g_vecs, DIM, 5, NULL, good_ef[i], ids, scores,
                                                &m)) ||
                !CHECK(m == (p == 2 ? 2u : 5u) && m == n && memcmp(ids, ref, m * sizeof ids[0]) == 0)) {
                printf("  pack %d, ef %zu\n", p, good_ef[i]);
            }
            CHECK_OK(vpack_index_search_batch(px, g_vecs, 1, DIM, 5, NULL, good_ef[i], 1, ids,
                                              scores, counts));
            CHECK(counts[0] == n && memcmp(ids, ref, n * sizeof ids[0]) == 0);
        }
    }
    /* With k = 0 too: the batch promises the results (here: the status) of n calls of
     * search_ef, which check ef whatever k (above). */
    CHECK_STATUS(vpack_index_search_batch(g_hnsw, g_vecs, 2, DIM, 0, NULL, 65537, 1, NULL, NULL,
                                          counts),
                 VPACK_E_INVALID_ARG);
    CHECK_STATUS(vpack_index_search_batch(g_pack, g_vecs, 2, DIM, 0, "{}", SIZE_MAX, 2, NULL,
                                          NULL, counts),
                 VPACK_E_INVALID_ARG);
    group_end();
}

static void test_query_vectors(void) {
    group_begin("NaN / Inf / zero query vectors");
    volatile float zero = 0.0f;
    const float nan = zero / zero, inf = 1.0f / zero;
    const vpack_index *packs[3] = {g_pack, g_dot, g_l2};
    const char *names[3] = {"cosine", "dot", "l2"};
    uint64_t ids[4] = {77, 77, 77, 77};
    float scores[4];
    size_t n = SENTINEL_SIZE;
    for (int p = 0; p < 3; p++) {
        const float bad_values[3] = {nan, inf, -inf};
        for (int v = 0; v < 3; v++) {
            for (int pos = 0; pos < DIM; pos += DIM - 1) {
                float q[DIM];
                memcpy(q, g_vecs, sizeof q);
                q[pos] = bad_values[v];
                if (!CHECK_STATUS(vpack_index_search(packs[p], q, DIM, 4, ids, scores, &n),
                                  VPACK_E_INVALID_ARG) ||
                    !CHECK_STATUS(vpack_index_search_filtered(packs[p], q, DIM, 4, "{}", ids,
                                                              scores, &n),
                                  VPACK_E_INVALID_ARG)) {
                    printf("  %s pack, value %d at %d\n", names[p], v, pos);
                }
            }
        }
    }
    CHECK(n == SENTINEL_SIZE && ids[0] == 77);
    /* All-zero (and all negative-zero) queries cannot be ranked by cosine. */
    float zq[DIM] = {0};
    float nzq[DIM];
    for (int i = 0; i < DIM; i++) nzq[i] = -0.0f;
    CHECK_STATUS(vpack_index_search(g_pack, zq, DIM, 4, ids, scores, &n), VPACK_E_INVALID_ARG);
    CHECK_STATUS(vpack_index_search(g_pack, nzq, DIM, 4, ids, scores, &n), VPACK_E_INVALID_ARG);
    CHECK_STATUS(vpack_index_search_filtered(g_pack, zq, DIM, 4, "{\"n\":1}", ids, scores, &n),
                 VPACK_E_INVALID_ARG);
    /* ...also with k = 0 (the query is checked whatever k is). */
    CHECK_STATUS(vpack_index_search(g_pack, zq, DIM, 0, NULL, NULL, &n), VPACK_E_INVALID_ARG);
    CHECK(n == SENTINEL_SIZE);
    /* Extreme but finite magnitudes are fine: the self-match still wins with score ~1. */
    float huge_q[DIM], tiny_q[DIM];
    for (int i = 0; i < DIM; i++) {
        huge_q[i] = g_vecs[2 * DIM + i] * 3e38f;
        tiny_q[i] = g_vecs[2 * DIM + i] * 1e-38f;
    }
    CHECK_OK(vpack_index_search(g_pack, huge_q, DIM, 4, ids, scores, &n));
    CHECK(n == 4 && ids[0] == 2 && fabsf(scores[0] - 1.0f) < 1e-4f);
    CHECK_OK(vpack_index_search(g_pack, tiny_q, DIM, 4, ids, scores, &n));
    CHECK(n == 4 && ids[0] == 2 && fabsf(scores[0] - 1.0f) < 1e-4f);
    int finite = 1;
    for (size_t i = 0; i < n; i++) finite &= isfinite(scores[i]) != 0;
    CHECK(finite);

    /* search_ef on the HNSW pack checks the query the same way. */
    n = SENTINEL_SIZE;
    ids[0] = 77;
    float nan_q[DIM];
    memcpy(nan_q, g_vecs, sizeof nan_q);
    nan_q[3] = nan;
    CHECK_STATUS(vpack_index_search_ef(g_hnsw, nan_q, DIM, 4, NULL, 0, ids, scores, &n),
                 VPACK_E_INVALID_ARG);
    nan_q[3] = -inf;
    CHECK_STATUS(vpack_index_search_ef(g_hnsw, nan_q, DIM, 4, "{}", 100, ids, scores, &n),
                 VPACK_E_INVALID_ARG);
    CHECK_STATUS(vpack_index_search_ef(g_hnsw, zq, DIM, 4, NULL, 0, ids, scores, &n),
                 VPACK_E_INVALID_ARG);
    CHECK_STATUS(vpack_index_search_ef(g_hnsw, nzq, DIM, 0, NULL, 0, NULL, NULL, &n),
                 VPACK_E_INVALID_ARG);
    CHECK(n == SENTINEL_SIZE && ids[0] == 77);
    CHECK_OK(vpack_index_search_ef(g_hnsw, huge_q, DIM, 4, NULL, 0, ids, scores, &n));
    CHECK(n == 4 && ids[0] == 2 && fabsf(scores[0] - 1.0f) < 1e-4f);

    /* search_batch: a bad value in the first or the last of 3 rows, on 1 and on 2 threads
     * (the error of a worker thread reaches the caller's status and last error). */
    const vpack_index *all[4] = {g_pack, g_dot, g_l2, g_hnsw};
    const char *all_names[4] = {"cosine", "dot", "l2", "cosine hnsw"};
    uint64_t bids[3 * 4];
    float bscores[3 * 4];
    size_t counts[3];
    for (int p = 0; p < 4; p++) {
        const float bad_values[3] = {nan, inf, -inf};
        for (int v = 0; v < 3; v++) {
            for (int row = 0; row < 3; row += 2) {
                for (size_t threads = 1; threads <= 2; threads++) {
                    float rows[3 * DIM];
                    memcpy(rows, g_vecs, sizeof rows);
                    rows[row * DIM + DIM / 2] = bad_values[v];
                    if (!CHECK_STATUS(vpack_index_search_batch(all[p], rows, 3, DIM, 4, NULL, 0,
                                                               threads, bids, bscores, counts),
                                      VPACK_E_INVALID_ARG)) {
                        printf("  %s pack, value %d in row %d, %zu threads\n", all_names[p], v,
                               row, threads);
                    }
                }
            }
        }
        /* An all-zero row: INVALID_ARG for cosine, a fine query for dot and l2. */
        float rows[3 * DIM];
        memcpy(rows, g_vecs, sizeof rows);
        for (int i = 2 * DIM; i < 3 * DIM; i++) rows[i] = 0.0f;
        vpack_status s = vpack_index_search_batch(all[p], rows, 3, DIM, 4, "{}", 0, 2, bids,
                                                  bscores, counts);
        if (p == 1 || p == 2) {
            CHECK_OK(s);
            CHECK(counts[2] == 2);
        } else {
            CHECK_STATUS(s, VPACK_E_INVALID_ARG);
        }
    }
    /* With k = 0: n calls of search_ef would each refuse the NaN row (above). */
    float nan_rows[2 * DIM];
    memcpy(nan_rows, g_vecs, sizeof nan_rows);
    nan_rows[DIM] = nan;
    KNOWN_GAP_STATUS(vpack_index_search_batch(g_pack, nan_rows, 2, DIM, 0, NULL, 0, 1, NULL, NULL,
                                              counts),
                     VPACK_E_INVALID_ARG);
    group_end();
}

static void test_builder_vectors(void) {
    group_begin("NaN / Inf / zero vectors into vpack_builder_add");
    volatile float zero = 0.0f;
    const float nan = zero / zero, inf = 1.0f / zero;
    static const char *const metrics[3] = {"cosine", "dot", "l2"};
    static const char THREE[] = "[{\"text\":\"a\"},{\"text\":\"b\"},{\"text\":\"c\"}]";
    for (int m = 0; m < 3; m++) {
        char opts[64];
        snprintf(opts, sizeof opts, "{\"dimension\":8,\"metric\":\"%s\"}", metrics[m]);
        vpack_builder *b = new_builder(opts);
        if (!CHECK(b != NULL)) continue;
        size_t good = 0;
        CHECK_OK(vpack_builder_add(b, (const uint8_t *)ONE_CHUNK, strlen(ONE_CHUNK), ONE_VEC, 1,
                                   DIM));
        good++;
        const float bad_values[3] = {nan, inf, -inf};
        for (int v = 0; v < 3; v++) {
            /* A batch of three whose last row holds the bad value: nothing appended. */
            float rows[3 * DIM];
            memcpy(rows, g_vecs, sizeof rows);
            rows[3 * DIM - 1] = bad_values[v];
            if (!CHECK_STATUS(vpack_builder_add(b, (const uint8_t *)THREE, strlen(THREE), rows, 3,
                                                DIM),
                              VPACK_E_INVALID_ARG)) {
                printf("  metric %s, value %d\n", metrics[m], v);
            }
        }
        /* An all-zero row: a cosine builder cannot normalise it. */
        float rows[3 * DIM];
        memcpy(rows, g_vecs, sizeof rows);
        for (int i = DIM; i < 2 * DIM; i++) rows[i] = (m == 0 && i % 2) ? -0.0f : 0.0f;
        vpack_status s =
            vpack_builder_add(b, (const uint8_t *)THREE, strlen(THREE), rows, 3, DIM);
        if (m == 0) {
            CHECK_STATUS(s, VPACK_E_INVALID_ARG);
        } else {
            CHECK_OK(s); /* dot and l2 rank a zero vector fine */
            good += 3;
        }
        /* The builder is still usable after the errors. */
        CHECK_OK(vpack_builder_add(b, (const uint8_t *)ONE_CHUNK, strlen(ONE_CHUNK), ONE_VEC, 1,
                                   DIM));
        good++;
        size_t count = finish_count(b);
        if (!CHECK(count == good)) printf("  metric %s: %zu chunks, want %zu\n", metrics[m], count, good);
    }
    /* Extreme finite magnitudes normalise (cosine): stored and found at ~1. */
    vpack_builder *b = new_builder("{\"dimension\":8}");
    if (CHECK(b != NULL)) {
        float rows[2 * DIM];
        for (int i = 0; i < DIM; i++) {
            rows[i] = g_vecs[i] * 3e38f;
            rows[DIM + i] = g_vecs[DIM + i] * 1e-40f; /* subnormal */
        }
        CHECK_OK(vpack_builder_add(b, (const uint8_t *)"[{\"text\":\"big\"},{\"text\":\"tiny\"}]",
                                   strlen("[{\"text\":\"big\"},{\"text\":\"tiny\"}]"), rows, 2,
                                   DIM));
        vpack_index *idx = NULL;
        CHECK_OK(vpack_builder_finish(b, NULL, &idx));
        uint64_t ids[2];
        float scores[2];
        size_t n = 0;
        if (idx != NULL) {
            CHECK_OK(vpack_index_search(idx, &g_vecs[DIM], DIM, 2, ids, scores, &n));
            CHECK(n == 2 && ids[0] == 1 && fabsf(scores[0] - 1.0f) < 1e-4f);
            CHECK(n == 2 && isfinite(scores[1]));
        }
        vpack_index_free(idx);
    }
    group_end();
}

/* Invalid UTF-8 sequences: a lone continuation byte, an overlong '/', a UTF-16 surrogate,
 * a truncated 3-byte sequence, 0xFF, a code point above U+10FFFF. */
static const char *const BAD_UTF8[] = {
    "\x80", "\xc0\xaf", "\xed\xa0\x80", "\xe6\x97", "\xff", "\xf4\x90\x80\x80",
};
#define N_BAD_UTF8 (sizeof BAD_UTF8 / sizeof BAD_UTF8[0])

static void test_invalid_utf8(void) {
    group_begin("invalid UTF-8 in every string and text input");
    char buf[512];
    for (size_t i = 0; i < N_BAD_UTF8; i++) {
        const char *bad = BAD_UTF8[i];
        /* embedder config: inside a string value, and outside any string. */
        snprintf(buf, sizeof buf, "{\"kind\":\"hash\",\"dimension\":64,\"model_id\":\"m%s\"}", bad);
        embedder_new_is(buf, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        snprintf(buf, sizeof buf, "{\"kind\":\"hash\"}%s", bad);
        embedder_new_is(buf, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        /* builder options: a value, a key, temp_dir. */
        snprintf(buf, sizeof buf, "{\"dimension\":8,\"metric\":\"cos%sine\"}", bad);
        builder_new_is(buf, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        snprintf(buf, sizeof buf, "{\"dimension\":8,\"%s\":1}", bad);
        builder_new_is(buf, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        snprintf(buf, sizeof buf, "{\"dimension\":8,\"temp_dir\":\"/tmp/%s\"}", bad);
        builder_new_is(buf, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        snprintf(buf, sizeof buf, "{\"dimension\":8,\"index\":{\"kind\":\"hn%ssw\"}}", bad);
        builder_new_is(buf, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        snprintf(buf, sizeof buf, "{\"dimension\":8,\"index\":{\"%s\":16}}", bad);
        builder_new_is(buf, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        /* chunks JSON: text, metadata key, metadata value, at the very end. */
        snprintf(buf, sizeof buf, "[{\"text\":\"a%sb\"}]", bad);
        add_json_is(buf, strlen(buf), VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        snprintf(buf, sizeof buf, "[{\"text\":\"a\",\"metadata\":{\"%s\":1}}]", bad);
        add_json_is(buf, strlen(buf), VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        snprintf(buf, sizeof buf, "[{\"text\":\"a\",\"metadata\":{\"k\":[\"%s\"]}}]", bad);
        add_json_is(buf, strlen(buf), VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        snprintf(buf, sizeof buf, "[{\"text\":\"a\"}]%s", bad);
        add_json_is(buf, strlen(buf), VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        /* manifests (finish and finish_file). */
        snprintf(buf, sizeof buf, "{\"title\":\"%s\"}", bad);
        finish_is(buf, 0, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        finish_is(buf, 1, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        snprintf(buf, sizeof buf, "{\"%s\":{\"x\":1}}", bad);
        finish_is(buf, 0, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        /* filters: a glob, a key, an operand. */
        snprintf(buf, sizeof buf, "{\"lang\":\"e%s\"}", bad);
        filter_is(g_pack, buf, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        snprintf(buf, sizeof buf, "{\"%s\":1}", bad);
        filter_is(g_pack, buf, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        snprintf(buf, sizeof buf, "{\"lang\":{\"$in\":[\"en\",\"%s\"]}}", bad);
        filter_is(g_pack, buf, VPACK_E_INVALID_UTF8, NO_ALT, __LINE__);
        /* embed and token_counts: the bad text second, after a good one. */
        const uint8_t *texts[2] = {(const uint8_t *)"fine", (const uint8_t *)bad};
        size_t lens[2] = {4, strlen(bad)};
        float out[2 * EMB_DIM];
        size_t counts[2] = {SENTINEL_SIZE, SENTINEL_SIZE};
        for (int j = 0; j < 2 * EMB_DIM; j++) out[j] = 7.0f;
        if (!CHECK_STATUS(vpack_embedder_embed(g_emb, texts, lens, 2, out, 2 * EMB_DIM),
                          VPACK_E_INVALID_UTF8) ||
            !CHECK_STATUS(vpack_embedder_token_counts(g_emb, texts, lens, 2, counts),
                          VPACK_E_INVALID_UTF8)) {
            printf("  text bytes %s\n", printable(bad));
        }
        CHECK(out[0] == 7.0f && out[2 * EMB_DIM - 1] == 7.0f && counts[0] == SENTINEL_SIZE);
    }
    /* A text cut in the middle of a valid multi-byte character (length says so). */
    const uint8_t *cut[1] = {(const uint8_t *)"caf\xc3\xa9"};
    size_t cut_len[1] = {4};
    size_t cnt[1];
    CHECK_STATUS(vpack_embedder_token_counts(g_emb, cut, cut_len, 1, cnt), VPACK_E_INVALID_UTF8);
    /* A JSON escape of a lone surrogate is valid UTF-8 but not a Unicode scalar value:
     * serde rejects it as JSON. */
    ADD_JSON_IS("[{\"text\":\"\\ud800\"}]", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"model_id\":\"\\udfff\"}", VPACK_E_INVALID_JSON);

    /* Paths are bytes on Unix, not UTF-8: invalid UTF-8 in a path is a valid path. */
    char path[4200];
    snprintf(path, sizeof path, "%s/bad-\xff\xfe-utf8.vpack", g_dir);
    CHECK_OK(vpack_index_save(g_pack, path));
    vpack_index *opened = NULL;
    CHECK_OK(vpack_index_open(path, VPACK_OPEN_VERIFY, &opened));
    size_t len = 0;
    if (opened != NULL) CHECK_OK(vpack_index_len(opened, &len));
    CHECK(len == 5);
    vpack_index_free(opened);
    CHECK(unlink(path) == 0);
    vpack_builder *b = new_builder("{\"dimension\":8}");
    if (CHECK(b != NULL)) {
        vpack_index *f = NULL;
        CHECK_OK(vpack_builder_finish_file(b, NULL, path, &f));
        vpack_index_free(f);
        CHECK(unlink(path) == 0);
    }
    /* runtime_init with such a path that does not exist: RUNTIME, not a UTF-8 error. */
    CHECK_STATUS(vpack_runtime_init("/nonexistent-vpack/\xff\xfe/libonnxruntime.so"),
                 VPACK_E_RUNTIME);
    group_end();
}

/* Wrong-shape JSON values of the wrong type at the top level. */
static const char *const NOT_AN_OBJECT[] = {"[]", "42", "null", "\"x\"", "true", "[{}]", "-0.5"};
#define N_NOT_AN_OBJECT (sizeof NOT_AN_OBJECT / sizeof NOT_AN_OBJECT[0])

/* Malformed JSON. */
static const char *const MALFORMED[] = {
    "",          " ",        "{",           "}",         "{\"a\":1,}",  "{'a':1}",
    "{\"a\":1} x", "{\"a\" 1}", "{\"a\":01}", "{\"a\":NaN}", "{\"a\":.5}", "{\"a\":\"\x01\"}",
    "{\"a\":\"\\x\"}", "{\"a\":1e400}",
};
#define N_MALFORMED (sizeof MALFORMED / sizeof MALFORMED[0])

static void test_wrong_shape_json(void) {
    group_begin("wrong-shape and malformed JSON in every JSON input");
    char buf[256];
    for (size_t i = 0; i < N_NOT_AN_OBJECT; i++) {
        const char *j = NOT_AN_OBJECT[i];
        embedder_new_is(j, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
        builder_new_is(j, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
        finish_is(j, 0, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
        finish_is(j, 1, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
        filter_is(g_pack, j, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
        /* chunks JSON must be an array of objects: these are arrays only sometimes. */
        if (strcmp(j, "[]") != 0 && strcmp(j, "[{}]") != 0) {
            add_json_is(j, strlen(j), VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
        }
    }
    for (size_t i = 0; i < N_MALFORMED; i++) {
        const char *j = MALFORMED[i];
        embedder_new_is(j, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
        builder_new_is(j, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
        finish_is(j, 0, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
        finish_is(j, 1, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
        filter_is(g_pack, j, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
        add_json_is(j, strlen(j), VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
    }
    /* A valid batch followed by a NUL and more bytes within chunks_json_len. */
    add_json_is("[{\"text\":\"x\"}]\0garbage", sizeof "[{\"text\":\"x\"}]\0garbage" - 1,
                VPACK_E_INVALID_JSON, NO_ALT, __LINE__);

    /* Embedder config: missing or wrong-typed "kind", fields of the wrong type, unknown
     * keys. */
    EMBEDDER_NEW_IS("{}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"dimension\":64}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":5}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":null}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":[\"hash\"]}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":\"8\"}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":null}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":[8]}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":true}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":8.5}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":-1}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":18446744073709551616}",
                    VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"char_ngram\":\"3\"}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"model_id\":7}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"colour\":\"red\"}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":64,\"Dimension\":64}", VPACK_E_INVALID_JSON);
    EMBEDDER_NEW_IS("{\"kind\":\"no-such-kind\"}", VPACK_E_MODEL);

    /* Builder options. */
    BUILDER_NEW_IS("{}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"metric\":\"cosine\"}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":\"8\"}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":null}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8.5}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":-1}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":18446744073709551616}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"metric\":5}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"metric\":null}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"temp_dir\":[\"/tmp\"]}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"colour\":\"red\"}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"dimension\":9}", VPACK_E_INVALID_JSON);
    /* Builder index options: an unknown key, a wrong type, not an object. */
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"M\":4}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"kind\":\"hnsw\",\"ef\":64}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"m\":\"16\"}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"m\":16.5}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"m\":-16}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"m\":true}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"m\":18446744073709551616}}",
                   VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"kind\":5}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"kind\":[\"hnsw\"]}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"ef_construction\":\"200\"}}",
                   VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"ef_search\":[64]}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"threads\":\"2\"}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"threads\":-1}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"m\":4,\"m\":5}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":5}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":\"hnsw\"}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":null}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":true}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"codes\":5}}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":{\"rescore\":\"4\"}}", VPACK_E_INVALID_JSON);
    /* An array is not the object vpack.h describes (serde alone would read a struct from a
     * sequence of its fields in order). */
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":[]}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":[\"hnsw\",4]}", VPACK_E_INVALID_JSON);
    BUILDER_NEW_IS("{\"dimension\":8,\"index\":[{\"kind\":\"hnsw\"}]}", VPACK_E_INVALID_JSON);
    for (size_t i = 0; i < N_MALFORMED; i++) {
        if (MALFORMED[i][0] != '{' || strlen(MALFORMED[i]) < 2) continue;
        snprintf(buf, sizeof buf, "{\"dimension\":8,\"index\":%s}", MALFORMED[i]);
        builder_new_is(buf, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
    }

    /* Chunks JSON. */
    ADD_JSON_IS("{\"text\":\"x\"}", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[1]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[\"x\"]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[null]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[[]]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[{}]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[{\"metadata\":{}}]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[{\"text\":5}]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[{\"text\":null}]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[{\"text\":[\"x\"]}]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[{\"text\":\"x\",\"metadata\":[]}]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[{\"text\":\"x\",\"metadata\":5}]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[{\"text\":\"x\",\"metadata\":\"{}\"}]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[{\"text\":\"x\",\"colour\":1}]", VPACK_E_INVALID_JSON);
    ADD_JSON_IS("[{\"txt\":\"x\"}]", VPACK_E_INVALID_JSON);
    /* Right shape, wrong count (n = 1): INVALID_ARG as documented. */
    ADD_JSON_IS("[]", VPACK_E_INVALID_ARG);
    ADD_JSON_IS("[{\"text\":\"x\"},{\"text\":\"y\"}]", VPACK_E_INVALID_ARG);
    /* Odd but valid: a NUL inside a text. */
    ADD_JSON_IS("[{\"text\":\"a\\u0000b\"}]", VPACK_OK);

    /* Manifests: documented shapes (vpack-owned keys with a wrong value or type are
     * INVALID_ARG per the header of vpack_builder_finish). */
    FINISH_IS("{\"embedder\":5}", VPACK_E_INVALID_ARG);
    FINISH_IS("{\"embedder\":{\"kind\":\"hash\"}}", VPACK_E_INVALID_ARG);
    FINISH_IS("{\"embedder\":{\"kind\":\"hash\",\"dimension\":\"8\"}}", VPACK_E_INVALID_ARG);
    FINISH_IS("{\"dimension\":\"8\"}", VPACK_E_INVALID_ARG);
    FINISH_IS("{\"chunk_count\":1}", VPACK_E_INVALID_ARG);

    /* Filters: operators with an argument of the wrong JSON type, unknown operators. */
    static const char *const bad_filters[] = {
        "{\"$and\":5}",
        "{\"$and\":{}}",
        "{\"$or\":\"x\"}",
        "{\"$and\":[5]}",
        "{\"$or\":[[]]}",
        "{\"$not\":{}}",
        "{\"n\":{\"$in\":5}}",
        "{\"n\":{\"$nin\":\"a\"}}",
        "{\"n\":{\"$exists\":\"yes\"}}",
        "{\"n\":{\"$exists\":1}}",
        "{\"lang\":{\"$glob\":5}}",
        "{\"n\":{\"$gt\":true}}",
        "{\"n\":{\"$gte\":null}}",
        "{\"n\":{\"$lt\":[1]}}",
        "{\"n\":{\"$lte\":{}}}",
        "{\"n\":{\"$foo\":1}}",
        "{\"n\":{\"gt\":1}}",
    };
    for (size_t i = 0; i < sizeof bad_filters / sizeof bad_filters[0]; i++) {
        filter_is(g_pack, bad_filters[i], VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
    }
    /* Right types, wrong values for the data: a number compared with a string. */
    FILTER_IS("{\"n\":{\"$gt\":\"abc\"}}", VPACK_E_INVALID_ARG);
    FILTER_IS("{\"n\":{\"$lte\":\"5\"}}", VPACK_E_INVALID_ARG);
    FILTER_IS("{\"lang\":{\"$gt\":5}}", VPACK_E_INVALID_ARG);
    FILTER_IS("{\"n\":{\"$gte\":0,\"$lt\":\"z\"}}", VPACK_E_INVALID_ARG);
    /* Valid filters for comparison: no error. */
    FILTER_IS("{\"n\":{\"$gt\":1}}", VPACK_OK);
    FILTER_IS("{\"lang\":{\"$gt\":\"a\"}}", VPACK_OK);
    FILTER_IS("{\"missing\":{\"$gt\":\"a\"}}", VPACK_OK);
    FILTER_IS("{}", VPACK_OK);
    FILTER_IS("{\"$and\":[]}", VPACK_OK);
    /* A glob that would take exponential time with naive backtracking. */
    snprintf(buf, sizeof buf, "{\"lang\":\"%s\"}",
             "*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*e*x");
    double t0 = now_seconds();
    FILTER_IS(buf, VPACK_OK);
    CHECK(now_seconds() - t0 < 5.0);
    group_end();
}

/* Deeply nested JSON must be refused (INVALID_JSON), not overflow the stack. */
static void test_deep_json(void) {
    group_begin("deeply nested JSON");
    enum { DEPTH = 100000 };
    size_t cap = 2 * DEPTH + 64;
    char *arrays = keep_reachable(malloc(cap));
    char *objects = keep_reachable(malloc(8 * (size_t)DEPTH + 64));
    if (!CHECK(arrays != NULL && objects != NULL)) {
        release_reachable(arrays);
        release_reachable(objects);
        group_end();
        return;
    }
    /* [[[[...]]]] */
    size_t o = 0;
    for (int i = 0; i < DEPTH; i++) arrays[o++] = '[';
    for (int i = 0; i < DEPTH; i++) arrays[o++] = ']';
    arrays[o] = '\0';
    /* {"a":{"a":...{}...}} */
    o = 0;
    for (int i = 0; i < DEPTH; i++) {
        memcpy(objects + o, "{\"a\":", 5);
        o += 5;
    }
    objects[o++] = '1';
    for (int i = 0; i < DEPTH; i++) objects[o++] = '}';
    objects[o] = '\0';
    vpack_embedder *e = SENTINEL_PTR;
    vpack_builder *b = SENTINEL_PTR;
    vpack_index *x = SENTINEL_PTR;
    uint64_t ids[4], ids2[8];
    float scores[4], scores2[8];
    size_t n = SENTINEL_SIZE, counts2[2];
    const char *docs[2] = {arrays, objects};
    for (int d = 0; d < 2; d++) {
        const char *j = docs[d];
        ISOLATED(60, VPACK_E_INVALID_JSON, NO_ALT, vpack_embedder_new(j, &e), e == SENTINEL_PTR);
        ISOLATED(60, VPACK_E_INVALID_JSON, NO_ALT, vpack_builder_new(j, &b), b == SENTINEL_PTR);
        ISOLATED(60, VPACK_E_INVALID_JSON, NO_ALT,
                 vpack_index_search_filtered(g_pack, g_vecs, DIM, 4, j, ids, scores, &n),
                 n == SENTINEL_SIZE);
        ISOLATED(60, VPACK_E_INVALID_JSON, NO_ALT,
                 vpack_index_search_ef(g_hnsw, g_vecs, DIM, 4, j, 0, ids, scores, &n),
                 n == SENTINEL_SIZE);
        ISOLATED(60, VPACK_E_INVALID_JSON, NO_ALT,
                 vpack_index_search_batch(g_hnsw, g_vecs, 2, DIM, 4, j, 0, 2, ids2, scores2,
                                          counts2),
                 1);
        ISOLATED(60, VPACK_E_INVALID_JSON, NO_ALT,
                 add_with_lengths((const uint8_t *)j, strlen(j), 1, DIM), 1);
        vpack_builder *fb = new_builder("{\"dimension\":8}");
        ISOLATED(60, VPACK_E_INVALID_JSON, NO_ALT, vpack_builder_finish(fb, j, &x),
                 x == SENTINEL_PTR);
        vpack_builder_free(fb); /* the parent's copy: the child consumed its own */
    }
    /* Nested deeply inside otherwise valid chunk metadata. */
    size_t mlen = strlen(objects) + 64;
    char *chunk = keep_reachable(malloc(mlen));
    if (CHECK(chunk != NULL)) {
        snprintf(chunk, mlen, "[{\"text\":\"x\",\"metadata\":%s}]", objects);
        ISOLATED(60, VPACK_E_INVALID_JSON, NO_ALT,
                 add_with_lengths((const uint8_t *)chunk, strlen(chunk), 1, DIM), 1);
    }
    /* A $and chain nested 50 deep (100 JSON levels) is a valid filter. */
    char *chain = keep_reachable(malloc(50 * 12 + 64));
    if (CHECK(chain != NULL)) {
        o = 0;
        for (int i = 0; i < 50; i++) {
            memcpy(chain + o, "{\"$and\":[", 9);
            o += 9;
        }
        memcpy(chain + o, "{\"n\":1}", 7);
        o += 7;
        for (int i = 0; i < 50; i++) {
            memcpy(chain + o, "]}", 2);
            o += 2;
        }
        chain[o] = '\0';
        ISOLATED(60, VPACK_OK, NO_ALT,
                 vpack_index_search_filtered(g_pack, g_vecs, DIM, 4, chain, ids, scores, &n),
                 n == 1 && ids[0] == 1);
        ISOLATED(60, VPACK_OK, NO_ALT,
                 vpack_index_search_ef(g_hnsw, g_vecs, DIM, 4, chain, 0, ids, scores, &n),
                 n == 1 && ids[0] == 1);
        ISOLATED(60, VPACK_OK, NO_ALT,
                 vpack_index_search_batch(g_hnsw, g_vecs, 2, DIM, 4, chain, 0, 2, ids2, scores2,
                                          counts2),
                 counts2[0] == 1 && counts2[1] == 1 && ids2[0] == 1 && ids2[4] == 1);
    }
    release_reachable(chain);
    release_reachable(chunk);
    release_reachable(arrays);
    release_reachable(objects);
    group_end();
}

static void test_out_of_range(void) {
    group_begin("right type, out of range");
    BUILDER_NEW_IS("{\"dimension\":0}", VPACK_E_INVALID_ARG);
    BUILDER_NEW_IS("{\"dimension\":65537}", VPACK_E_INVALID_ARG);
    BUILDER_NEW_IS("{\"dimension\":1099511627776}", VPACK_E_INVALID_ARG);
    BUILDER_NEW_IS("{\"dimension\":18446744073709551615}", VPACK_E_INVALID_ARG);
    BUILDER_NEW_IS("{\"dimension\":8,\"metric\":\"manhattan\"}", VPACK_E_INVALID_ARG);
    BUILDER_NEW_IS("{\"dimension\":8,\"metric\":\"\"}", VPACK_E_INVALID_ARG);
    BUILDER_NEW_IS("{\"dimension\":65536}", VPACK_OK);
    BUILDER_NEW_IS("{\"dimension\":1}", VPACK_OK);
    /* Index options: right types, out of range. */
    static const char *const bad_index[] = {
        "{\"kind\":\"ivf\"}",
        "{\"kind\":\"HNSW\"}",
        "{\"kind\":\"\"}",
        "{\"kind\":\"hnsw\",\"m\":0}",
        "{\"kind\":\"hnsw\",\"m\":1}",
        "{\"kind\":\"hnsw\",\"m\":257}",
        "{\"kind\":\"hnsw\",\"m\":18446744073709551615}",
        "{\"kind\":\"hnsw\",\"ef_construction\":0}",
        "{\"kind\":\"hnsw\",\"ef_construction\":65537}",
        "{\"kind\":\"hnsw\",\"ef_search\":0}",
        "{\"kind\":\"hnsw\",\"ef_search\":65537}",
        "{\"kind\":\"hnsw\",\"ef_search\":18446744073709551615}",
        "{\"kind\":\"auto\",\"m\":1}",
        "{\"codes\":\"f8\"}",
        "{\"codes\":\"F16\"}",
        "{\"codes\":\"\"}",
        "{\"rescore\":0}",
        "{\"rescore\":1025}",
        "{\"codes\":\"int8\",\"rescore\":18446744073709551615}",
        "{\"codes_only\":true}",
        "{\"codes\":\"f32\",\"codes_only\":true}",
        "{\"codes\":\"int8\",\"codes_only\":true,\"kind\":\"hnsw\"}",
        "{\"codes\":\"int8\",\"codes_only\":true,\"kind\":\"auto\"}",
        "{\"codes\":\"f16\",\"codes_only\":true,\"rescore\":4}",
    };
    char opts[256];
    for (size_t i = 0; i < sizeof bad_index / sizeof bad_index[0]; i++) {
        snprintf(opts, sizeof opts, "{\"dimension\":8,\"index\":%s}", bad_index[i]);
        builder_new_is(opts, VPACK_E_INVALID_ARG, NO_ALT, __LINE__);
    }
    /* ...and the edges of the ranges. */
    static const char *const good_index[] = {
        "{}",
        "{\"kind\":\"flat\"}",
        "{\"kind\":\"auto\"}",
        "{\"kind\":\"hnsw\"}",
        "{\"kind\":\"hnsw\",\"m\":2,\"ef_construction\":1,\"ef_search\":1,\"threads\":1}",
        "{\"kind\":\"hnsw\",\"m\":256,\"ef_construction\":65536,\"ef_search\":65536}",
        "{\"kind\":\"hnsw\",\"threads\":18446744073709551615}",
        "{\"codes\":\"f32\"}",
        "{\"codes\":\"f16\",\"rescore\":1}",
        "{\"codes\":\"int8\",\"rescore\":1024}",
        "{\"codes\":\"int8\",\"codes_only\":true}",
        "{\"codes\":\"f16\",\"codes_only\":false,\"rescore\":2}",
    };
    for (size_t i = 0; i < sizeof good_index / sizeof good_index[0]; i++) {
        snprintf(opts, sizeof opts, "{\"dimension\":8,\"index\":%s}", good_index[i]);
        builder_new_is(opts, VPACK_OK, NO_ALT, __LINE__);
    }
    /* The smallest graph settings and a huge thread count build and search fine. */
    vpack_index *tiny = build("{\"dimension\":8,\"index\":{\"kind\":\"hnsw\",\"m\":2,"
                              "\"ef_construction\":1,\"ef_search\":1,"
                              "\"threads\":18446744073709551615}}",
                              PACK_CHUNKS, g_vecs, 5);
    if (CHECK(tiny != NULL)) {
        uint64_t ids[5];
        float scores[5];
        size_t n = 0;
        CHECK_OK(vpack_index_search_ef(tiny, &g_vecs[3 * DIM], DIM, 5, NULL, 0, ids, scores, &n));
        CHECK(n >= 1 && ids[0] == 3);
        CHECK_OK(vpack_index_verify(tiny));
        vpack_index_free(tiny);
    }
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":0}", VPACK_E_INVALID_ARG);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":65537}", VPACK_E_INVALID_ARG);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":1099511627776}", VPACK_E_INVALID_ARG);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"dimension\":18446744073709551615}",
                    VPACK_E_INVALID_ARG);
    EMBEDDER_NEW_IS("{\"kind\":\"hash\",\"char_ngram\":9}", VPACK_E_INVALID_ARG);
    /* Open flags. */
    char path[4200];
    snprintf(path, sizeof path, "%s/flags.vpack", g_dir);
    CHECK_OK(vpack_index_save(g_pack, path));
    static const uint32_t bad_flags[] = {2, 3, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
        vpack_index *x = SENTINEL_PTR;
        CHECK_STATUS(vpack_index_open(path, bad_flags[i], &x), VPACK_E_INVALID_ARG);
        CHECK(x == SENTINEL_PTR);
    }
    unlink(path);
    /* Empty paths. */
    vpack_index *x = SENTINEL_PTR;
    CHECK_STATUS(vpack_index_open("", 0, &x), VPACK_E_INVALID_ARG);
    CHECK_STATUS(vpack_index_save(g_pack, ""), VPACK_E_INVALID_ARG);
    CHECK_STATUS(vpack_runtime_init(""), VPACK_E_INVALID_ARG);
    vpack_builder *b = new_builder("{\"dimension\":8}");
    if (CHECK(b != NULL)) CHECK_STATUS(vpack_builder_finish_file(b, NULL, "", &x), VPACK_E_INVALID_ARG);
    CHECK(x == SENTINEL_PTR);
    group_end();
}

/* Writes the dummy onnx model folder (not a real model) used to reach option checks. */
static int write_dummy_model(const char *dir) {
    static const char *const files[] = {"model.onnx", "tokenizer.json", "config.json",
                                        "special_tokens_map.json", "tokenizer_config.json"};
    char p[4300];
    int ok = 1;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        ok &= write_file(p, i == 0 ? "not an onnx model\n" : "{}", i == 0 ? 18 : 2);
    }
    return ok;
}

static void remove_dummy_model(const char *dir) {
    static const char *const files[] = {"model.onnx", "tokenizer.json", "config.json",
                                        "special_tokens_map.json", "tokenizer_config.json"};
    char p[4300];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
}

static void test_onnx_config_shapes(void) {
    group_begin("onnx embedder config: types vs values");
    if (!g_have_onnx) {
        printf("  (this library has no onnx embedder: skipped)\n");
        group_end();
        return;
    }
    char model[4200];
    snprintf(model, sizeof model, "%s/model", g_dir);
    if (!CHECK(mkdir(model, 0700) == 0) || !CHECK(write_dummy_model(model))) {
        group_end();
        return;
    }
    char cfg[8400];
    /* With a complete (dummy) model folder every option is reached. Wrong JSON types and
     * unknown keys: INVALID_JSON. */
    static const char *const wrong_type[] = {
        "\"model_id\":5",       "\"model_file\":[]",      "\"tokenizer_dir\":1",
        "\"sha256\":42",        "\"pooling\":1",          "\"normalize\":\"true\"",
        "\"normalize\":1",      "\"max_tokens\":\"256\"", "\"batch_size\":true",
        "\"threads\":\"2\"",    "\"dimension\":\"384\"",  "\"dimension\":null",
        "\"max_tokens\":1.5",   "\"colour\":\"red\"",
    };
    for (size_t i = 0; i < sizeof wrong_type / sizeof wrong_type[0]; i++) {
        snprintf(cfg, sizeof cfg, "{\"kind\":\"onnx\",\"model_dir\":\"%s\",%s}", model,
                 wrong_type[i]);
        embedder_new_is(cfg, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
    }
    snprintf(cfg, sizeof cfg, "{\"kind\":\"onnx\",\"model_dir\":7}");
    EMBEDDER_NEW_IS(cfg, VPACK_E_INVALID_JSON);
    /* The shape of the config does not depend on whether the model is on this machine. */
    static const char *const wrong_type_missing_model[] = {
        "\"sha256\":42", "\"dimension\":\"384\"", "\"pooling\":1", "\"colour\":\"red\"",
    };
    for (size_t i = 0; i < sizeof wrong_type_missing_model / sizeof wrong_type_missing_model[0];
         i++) {
        snprintf(cfg, sizeof cfg, "{\"kind\":\"onnx\",\"model_dir\":\"%s/absent\",%s}", g_dir,
                 wrong_type_missing_model[i]);
        embedder_new_is(cfg, VPACK_E_INVALID_JSON, NO_ALT, __LINE__);
    }
    /* Right types, bad values: INVALID_ARG. */
    static const char *const bad_value[] = {
        "\"pooling\":\"max\"", "\"normalize\":false", "\"max_tokens\":0",
        "\"batch_size\":0",    "\"threads\":0",       "\"max_tokens\":1000000",
    };
    for (size_t i = 0; i < sizeof bad_value / sizeof bad_value[0]; i++) {
        snprintf(cfg, sizeof cfg, "{\"kind\":\"onnx\",\"model_dir\":\"%s\",%s}", model,
                 bad_value[i]);
        embedder_new_is(cfg, VPACK_E_INVALID_ARG, NO_ALT, __LINE__);
    }
    remove_dummy_model(model);
    CHECK(rmdir(model) == 0);
    group_end();
}

static void test_empty_pack(void) {
    group_begin("empty packs (0 chunks)");
    static const char *const metrics[3] = {"cosine", "dot", "l2"};
    char path[4200];
    snprintf(path, sizeof path, "%s/empty.vpack", g_dir);
    /* Each metric with a flat index, then with an HNSW one (a graph of no nodes). */
    for (int m = 0; m < 6; m++) {
        char opts[128];
        const char *kind = m < 3 ? "flat" : "hnsw";
        snprintf(opts, sizeof opts, "{\"dimension\":8,\"metric\":\"%s\",\"index\":{\"kind\":\"%s\"}}",
                 metrics[m % 3], kind);
        vpack_builder *b = new_builder(opts);
        vpack_index *mem = NULL, *file = NULL, *opened = NULL, *copy = NULL;
        if (!CHECK(b != NULL)) continue;
        CHECK_OK(vpack_builder_add(b, (const uint8_t *)"[]", 2, NULL, 0, DIM)); /* empty add */
        CHECK_OK(vpack_builder_finish(b, "{\"title\":\"empty\"}", &mem));
        b = new_builder(opts);
        if (CHECK(b != NULL)) CHECK_OK(vpack_builder_finish_file(b, NULL, path, &file));
        if (mem == NULL || file == NULL) {
            vpack_index_free(mem);
            vpack_index_free(file);
            continue;
        }
        CHECK_OK(vpack_index_verify(mem));
        CHECK_OK(vpack_index_save(mem, path));
        CHECK_OK(vpack_index_open(path, 0, &opened));
        vpack_bytes bytes = {NULL, 0};
        CHECK_OK(vpack_index_to_bytes(mem, &bytes));
        CHECK_OK(vpack_index_from_bytes(bytes.data, bytes.len, &copy));
        vpack_bytes_free(&bytes);
        vpack_index *all[4] = {mem, file, opened, copy};
        for (int h = 0; h < 4; h++) {
            if (!CHECK(all[h] != NULL)) continue;
            size_t len = 99, dim = 0, n = SENTINEL_SIZE;
            uint64_t ids[10];
            float scores[10];
            CHECK_OK(vpack_index_len(all[h], &len));
            CHECK_OK(vpack_index_dimension(all[h], &dim));
            CHECK(len == 0 && dim == DIM);
            CHECK_OK(vpack_index_verify(all[h]));
            CHECK_OK(vpack_index_search(all[h], g_vecs, DIM, 10, ids, scores, &n));
            CHECK(n == 0);
            n = SENTINEL_SIZE;
            CHECK_OK(vpack_index_search_filtered(all[h], g_vecs, DIM, 10, "{\"n\":1}", ids,
                                                 scores, &n));
            CHECK(n == 0);
            n = SENTINEL_SIZE;
            CHECK_OK(vpack_index_search(all[h], g_vecs, DIM, 0, NULL, NULL, &n));
            CHECK(n == 0);
            /* The query is still checked on an empty pack. */
            CHECK_STATUS(vpack_index_search(all[h], g_vecs, DIM - 1, 10, ids, scores, &n),
                         VPACK_E_DIMENSION_MISMATCH);
            CHECK_STATUS(vpack_index_search(all[h], g_vecs, DIM, (size_t)VPACK_MAX_K + 1, ids,
                                            scores, &n),
                         VPACK_E_LIMIT);
            CHECK_STATUS(vpack_index_search_filtered(all[h], g_vecs, DIM, 10, "{\"n\":", ids,
                                                     scores, &n),
                         VPACK_E_INVALID_JSON);
            vpack_str t = {SENTINEL_PTR, 0}, md = {SENTINEL_PTR, 0};
            CHECK_STATUS(vpack_index_chunk(all[h], 0, &t, &md), VPACK_E_NOT_FOUND);
            CHECK(t.data == SENTINEL_PTR);
            vpack_embedder *e = SENTINEL_PTR;
            CHECK_STATUS(vpack_index_embedder(all[h], &e), VPACK_E_NOT_FOUND);
            CHECK(e == SENTINEL_PTR);
            vpack_str man = {NULL, 0};
            CHECK_OK(vpack_index_manifest(all[h], &man));
            CHECK(man.len > 2 && man.data[0] == '{');
            char want_kind[40];
            int wl = snprintf(want_kind, sizeof want_kind, "\"kind\":\"%s\"", kind);
            int has_kind = 0;
            for (size_t i = 0; i + (size_t)wl <= man.len; i++) {
                if (memcmp(man.data + i, want_kind, (size_t)wl) == 0) has_kind = 1;
            }
            CHECK(has_kind);
            /* search_ef, search_batch, vectors. */
            n = SENTINEL_SIZE;
            CHECK_OK(vpack_index_search_ef(all[h], g_vecs, DIM, 10, NULL, 0, ids, scores, &n));
            CHECK(n == 0);
            n = SENTINEL_SIZE;
            CHECK_OK(vpack_index_search_ef(all[h], g_vecs, DIM, 10, "{\"n\":1}", 65536, ids,
                                           scores, &n));
            CHECK(n == 0);
            CHECK_STATUS(vpack_index_search_ef(all[h], g_vecs, DIM, 10, NULL, 65537, ids, scores,
                                               &n),
                         VPACK_E_INVALID_ARG);
            CHECK_STATUS(vpack_index_search_ef(all[h], g_vecs, DIM + 1, 10, NULL, 0, ids, scores,
                                               &n),
                         VPACK_E_DIMENSION_MISMATCH);
            size_t counts[2] = {SENTINEL_SIZE, SENTINEL_SIZE};
            uint64_t bids[20];
            float bscores[20];
            CHECK_OK(vpack_index_search_batch(all[h], g_vecs, 2, DIM, 10, NULL, 0, 2, bids,
                                              bscores, counts));
            CHECK(counts[0] == 0 && counts[1] == 0);
            counts[0] = counts[1] = SENTINEL_SIZE;
            CHECK_OK(vpack_index_search_batch(all[h], g_vecs, 2, DIM, 10, "{\"n\":1}", 7, 1, bids,
                                              bscores, counts));
            CHECK(counts[0] == 0 && counts[1] == 0);
            CHECK_STATUS(vpack_index_search_batch(all[h], g_vecs, 2, DIM, 10, "{\"n\":", 0, 1,
                                                  bids, bscores, counts),
                         VPACK_E_INVALID_JSON);
            CHECK_STATUS(vpack_index_search_batch(all[h], g_vecs, 2, DIM, 10, NULL, 65537, 1, bids,
                                                  bscores, counts),
                         VPACK_E_INVALID_ARG);
            CHECK_STATUS(vpack_index_search_batch(all[h], g_vecs, 2, DIM - 1, 10, NULL, 0, 1, bids,
                                                  bscores, counts),
                         VPACK_E_DIMENSION_MISMATCH);
            if (m % 3 == 0) {
                float zero_rows[2 * DIM] = {0};
                CHECK_STATUS(vpack_index_search_batch(all[h], zero_rows, 2, DIM, 10, NULL, 0, 1,
                                                      bids, bscores, counts),
                             VPACK_E_INVALID_ARG);
            }
            const float *data = SENTINEL_PTR;
            size_t count = SENTINEL_SIZE, vdim = SENTINEL_SIZE;
            CHECK_OK(vpack_index_vectors(all[h], &data, &count, &vdim));
            CHECK(count == 0 && vdim == DIM && data != SENTINEL_PTR);
        }
        vpack_index_free(mem);
        vpack_index_free(file);
        vpack_index_free(opened);
        vpack_index_free(copy);
    }
    unlink(path);
    group_end();
}

static void test_files_that_are_not_packs(void) {
    group_begin("opening things that are not packs");
    char dir[4200], fifo[4200], empty[4200], ten[4200], header_only[4200], loop[4200],
        missing[4200];
    snprintf(dir, sizeof dir, "%s/a-directory", g_dir);
    snprintf(fifo, sizeof fifo, "%s/a-fifo", g_dir);
    snprintf(empty, sizeof empty, "%s/empty", g_dir);
    snprintf(ten, sizeof ten, "%s/ten-bytes", g_dir);
    snprintf(header_only, sizeof header_only, "%s/header-only", g_dir);
    snprintf(loop, sizeof loop, "%s/loop", g_dir);
    snprintf(missing, sizeof missing, "%s/missing.vpack", g_dir);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK(write_file(empty, "", 0));
    CHECK(write_file(ten, g_pack_bytes.data, 10));
    CHECK(write_file(header_only, g_pack_bytes.data, 64));
    CHECK(symlink(loop, loop) == 0);

    static const uint32_t flags[2] = {0, VPACK_OPEN_VERIFY};
    for (int f = 0; f < 2; f++) {
        vpack_index *x = SENTINEL_PTR;
        uint32_t fl = flags[f];
        CHECK_STATUS(vpack_index_open(dir, fl, &x), VPACK_E_IO);
        /* A FIFO: IO at once, never a blocking open or read (alarm-guarded child). */
        ISOLATED(10, VPACK_E_IO, NO_ALT, vpack_index_open(fifo, fl, &x), x == SENTINEL_PTR);
        if (!CHECK(g_last_elapsed < 5.0)) printf("  FIFO open took %.1f s\n", g_last_elapsed);
        CHECK_STATUS(vpack_index_open(empty, fl, &x), VPACK_E_CORRUPT);
        CHECK_STATUS(vpack_index_open(ten, fl, &x), VPACK_E_CORRUPT);
        CHECK_STATUS(vpack_index_open(header_only, fl, &x), VPACK_E_CORRUPT);
        CHECK_STATUS(vpack_index_open(loop, fl, &x), VPACK_E_IO);
        CHECK_STATUS(vpack_index_open(missing, fl, &x), VPACK_E_IO);
        /* Character devices: "any other non-regular file" is IO, refused at once. */
        ISOLATED(10, VPACK_E_IO, NO_ALT, vpack_index_open("/dev/null", fl, &x),
                 x == SENTINEL_PTR);
        ISOLATED(10, VPACK_E_IO, NO_ALT, vpack_index_open("/dev/zero", fl, &x),
                 x == SENTINEL_PTR);
        CHECK(x == SENTINEL_PTR);
    }
    /* A path longer than PATH_MAX: IO. */
    char *long_path = malloc(8192);
    if (CHECK(long_path != NULL)) {
        memset(long_path, 'a', 8191);
        long_path[0] = '/';
        long_path[8191] = '\0';
        vpack_index *x = SENTINEL_PTR;
        CHECK_STATUS(vpack_index_open(long_path, 0, &x), VPACK_E_IO);
        CHECK_STATUS(vpack_index_save(g_pack, long_path), VPACK_E_IO);
        CHECK(x == SENTINEL_PTR);
        free(long_path);
    }
    /* The same from bytes: 0, 10, 63 and 64 bytes of a real pack's start. */
    static const size_t cut[] = {0, 1, 10, 63, 64};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        vpack_index *x = SENTINEL_PTR;
        if (!CHECK_STATUS(vpack_index_from_bytes(g_pack_bytes.data, cut[i], &x),
                          VPACK_E_CORRUPT)) {
            printf("  from_bytes of %zu bytes\n", cut[i]);
        }
        CHECK(x == SENTINEL_PTR);
    }
    /* Saving onto a directory or into a missing one: IO, the directory untouched. */
    CHECK_STATUS(vpack_index_save(g_pack, dir), VPACK_E_IO);
    char in_missing[4300];
    snprintf(in_missing, sizeof in_missing, "%s/no-such-dir/x.vpack", g_dir);
    CHECK_STATUS(vpack_index_save(g_pack, in_missing), VPACK_E_IO);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));

    CHECK(rmdir(dir) == 0);
    CHECK(unlink(fifo) == 0);
    CHECK(unlink(empty) == 0);
    CHECK(unlink(ten) == 0);
    CHECK(unlink(header_only) == 0);
    CHECK(unlink(loop) == 0);
    group_end();
}

/* ------------------------------------------------------------------------------------ */
/* Writes that fail (file size limit), in a child                                       */
/* ------------------------------------------------------------------------------------ */

static int count_entries(const char *dir) {
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

static int file_is(const char *path, const char *want) {
    char buf[256];
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return n == strlen(want) && memcmp(buf, want, n) == 0;
}

/* Lowers this process's file size limit (soft only, so it can be restored); writes past it
 * fail with EFBIG instead of raising SIGXFSZ. */
static struct rlimit g_old_fsize;

static void limit_file_size(rlim_t bytes) {
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &g_old_fsize);
    struct rlimit small = {bytes, g_old_fsize.rlim_max};
    setrlimit(RLIMIT_FSIZE, &small);
}

static void restore_file_size(void) {
    setrlimit(RLIMIT_FSIZE, &g_old_fsize); /* valgrind's log of this child must be complete */
}

/* A builder whose spool writes start failing: the failing add is IO, then the builder
 * refuses further use (INVALID_ARG), and finishing it fails without a crash. */
static vpack_status spool_write_fails(void) {
    enum { BATCH = 256 };
    vpack_builder *b = new_builder("{\"dimension\":8}");
    size_t cap = BATCH * 40 + 8, o = 0;
    char *json = malloc(cap);
    float *vecs = malloc(BATCH * DIM * sizeof *vecs);
    if (b == NULL || json == NULL || vecs == NULL) return -200;
    json[o++] = '[';
    for (int i = 0; i < BATCH; i++) {
        o += (size_t)snprintf(json + o, cap - o, "%s{\"text\":\"spooled text %04d\"}", i ? "," : "", i);
    }
    json[o++] = ']';
    json[o] = '\0';
    for (int i = 0; i < BATCH * DIM; i++) vecs[i] = (float)(i % 7) + 1.0f;
    limit_file_size(32 * 1024);
    vpack_status s = VPACK_OK;
    for (int round = 0; round < 200 && s == VPACK_OK; round++) {
        s = vpack_builder_add(b, (const uint8_t *)json, o, vecs, BATCH, DIM);
    }
    capture(s);
    vpack_status again = vpack_builder_add(b, (const uint8_t *)ONE_CHUNK, strlen(ONE_CHUNK),
                                           ONE_VEC, 1, DIM);
    int refused = again == VPACK_E_INVALID_ARG && vpack_last_error_code() == VPACK_E_INVALID_ARG;
    vpack_index *out = SENTINEL_PTR;
    vpack_status fin = vpack_builder_finish(b, NULL, &out);
    restore_file_size();
    g_helper_post_ok = refused && (fin == VPACK_E_IO || fin == VPACK_E_INVALID_ARG) &&
                       out == SENTINEL_PTR;
    free(json);
    free(vecs);
    return s;
}

/* vpack_index_save / vpack_builder_finish_file over an existing file, failing for lack of
 * room: IO, the old file unchanged, no temporary file left beside it. */
static vpack_status save_fails(const char *dir, const char *path, int via_builder) {
    vpack_builder *b = NULL;
    if (via_builder) {
        b = new_builder("{\"dimension\":8}");
        if (b == NULL || vpack_builder_add(b, (const uint8_t *)PACK_CHUNKS, strlen(PACK_CHUNKS),
                                           g_vecs, 5, DIM) != VPACK_OK) {
            return -200;
        }
    }
    limit_file_size(g_pack_bytes.len / 2);
    vpack_index *out = SENTINEL_PTR;
    vpack_status s = capture(via_builder ? vpack_builder_finish_file(b, NULL, path, &out)
                                         : vpack_index_save(g_pack, path));
    restore_file_size();
    g_helper_post_ok = out == SENTINEL_PTR && file_is(path, "precious\n") &&
                       count_entries(dir) == 1;
    return s;
}

static void test_failing_writes(void) {
    group_begin("writes that fail (file size limit)");
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/full", g_dir);
    snprintf(path, sizeof path, "%s/pack.vpack", dir);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(write_file(path, "precious\n", 9));
    CHECK(g_pack_bytes.len >= 512); /* the limit below is half of it */
    ISOLATED(60, VPACK_E_IO, NO_ALT, spool_write_fails(), 1);
    ISOLATED(60, VPACK_E_IO, NO_ALT, save_fails(dir, path, 0), 1);
    ISOLATED(60, VPACK_E_IO, NO_ALT, save_fails(dir, path, 1), 1);
    CHECK(file_is(path, "precious\n") && count_entries(dir) == 1);
    CHECK(unlink(path) == 0 && rmdir(dir) == 0);
    group_end();
}

int main(void) {
    /* No ONNX Runtime or model lookups from the environment. */
    unsetenv("ORT_DYLIB_PATH");
    unsetenv("VPACK_MODEL_PATH");
    group_begin("setup");
    int ready = CHECK(setup());
    group_end();
    if (ready) {
        test_no_argument_functions();
        test_last_error_buffers();
        test_free_null();
        test_null_pointers();
        test_huge_lengths();
        test_k();
        test_ef();
        test_query_vectors();
        test_builder_vectors();
        test_invalid_utf8();
        test_wrong_shape_json();
        test_deep_json();
        test_out_of_range();
        test_onnx_config_shapes();
        test_empty_pack();
        test_files_that_are_not_packs();
        test_failing_writes();
    }
    teardown();
    if (g_dir[0] != '\0' && rmdir(g_dir) != 0) {
        printf("FAIL: temporary directory %s is not empty at the end\n", g_dir);
        g_failed++;
    }
    return finish_report();
}
