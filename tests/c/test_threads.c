/*
 * Concurrency from C: one vpack_index searched by 8 threads at once, and one vpack_embedder
 * shared by 8 threads, every result compared bit for bit with the serial one.
 *
 * Build (see tests/c/run.sh, which runs it under valgrind and under ASan+UBSan):
 *   cc -std=c11 -Wall -Wextra -Werror -pedantic -pthread -I include tests/c/test_threads.c \
 *      -L<libdir> -lvpack -Wl,-rpath,<libdir>
 *
 * What runs concurrently (all threads released together by a barrier):
 *   - search: a 5,000 x 64 cosine pack (fixed seed), 200 queries at k = 10 plus 50
 *     filtered ones, each thread doing all 250 (starting at a different query) and reading
 *     every hit's chunk, while also provoking an error of its own every few queries and
 *     checking that its thread-local last error is its own. Twice: first on a handle just
 *     opened from the file without VPACK_OPEN_VERIFY, so the threads race through the
 *     lazy first-use block checks of vectors and chunks, then on the in-memory index;
 *   - embed: one shared hash embedder handle; each thread embeds 400 texts in batches of a
 *     different size and counts their tokens; all threads also create the same new
 *     embedder config at the same moment (the process-wide cache's first-insert race);
 *   - build: each thread builds the same small pack with its own builder and compares the
 *     bytes with the serial build; and opens the saved big pack (mmap) and searches it.
 *   - HNSW: a 3,000-row pack of the same vectors with an HNSW graph (m 12), saved and
 *     opened again without VPACK_OPEN_VERIFY; the threads race through its first-use
 *     block checks with vpack_index_search_ef (ef 0, 24 and 128, plain and filtered, every
 *     hit's chunk read back) and vpack_index_search_batch (batches of 6 on 2 threads of
 *     their own), all compared bit for bit with the serial vpack_index_search_ef answers.
 *
 * With the argument --quick (used under valgrind, which runs one thread at a time and
 * ~50x slower, so it checks memory errors rather than interleavings) the same runs with 48
 * queries plus 12 filtered ones, each thread doing half of them, and only on the freshly
 * opened handle; the HNSW pack then has 600 rows (ef_construction 40).
 *
 * Ends with "N passed, M failed"; exits 1 when any check failed. Checks are counted in the
 * main thread from what the workers record.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 8
#define DIM 64
#define COUNT 5000
#define BATCH 500
#define QUERIES 200
#define FILTERED 50
#define SEARCHES (QUERIES + FILTERED)
#define K 10
#define TEXTS 400
#define SMALL 200 /* chunks in each thread's own pack */
#define EMB_CONFIG "{\"kind\":\"hash\",\"dimension\":64}"
#define RACE_CONFIG "{\"kind\":\"hash\",\"dimension\":32,\"char_ngram\":4}"

static const char *const FILTERS[] = {
    "{\"g\":3}",
    "{\"g\":{\"$lt\":2}}",
    "{\"t\":\"tag1\"}",
    "{\"$or\":[{\"g\":1},{\"t\":\"tag2\"}]}",
    "{\"i\":{\"$gte\":4000},\"t\":{\"$in\":[\"tag0\",\"tag2\"]}}",
};
#define N_FILTERS (sizeof FILTERS / sizeof FILTERS[0])

static float *g_vectors;  /* COUNT x DIM */
static float *g_queries;  /* QUERIES x DIM */
static vpack_index *g_index;  /* built in memory: the serial reference */
static vpack_index *g_shared; /* the handle the threads search */
static char g_pack_path[4200];

/* Serial answers. */
static uint64_t g_ids[SEARCHES][K];
static float g_scores[SEARCHES][K];
static size_t g_n[SEARCHES];

static vpack_embedder *g_emb;
static char *g_texts[TEXTS];
static size_t g_lens[TEXTS];
static float *g_emb_serial; /* TEXTS x DIM */
static size_t g_tokens_serial[TEXTS];
static float g_race_serial[32];

static vpack_bytes g_small_serial;

/* HNSW: a pack of the first g_hnsw_count rows of g_vectors (m 12), and the serial answers
 * of every search at each of HNSW_EFS (ef 0 is the pack's ef_search, 64). */
#define HNSW_COUNT 3000
#define HNSW_BATCH 6 /* queries per vpack_index_search_batch call */
static const size_t HNSW_EFS[] = {0, 24, 128};
#define N_EFS (sizeof HNSW_EFS / sizeof HNSW_EFS[0])
static int g_hnsw_count = HNSW_COUNT, g_hnsw_ef_construction = 100;
static vpack_index *g_hnsw;
static char g_hnsw_path[4200];
static uint64_t g_hids[N_EFS][SEARCHES][K];
static float g_hscores[N_EFS][SEARCHES][K];
static size_t g_hn[N_EFS][SEARCHES];

static pthread_barrier_t g_barrier;

/* Searches in use (g_queries plain ones, then g_filtered filtered ones), and how many of
 * them each thread runs. */
static int g_nq = QUERIES, g_nf = FILTERED, g_per_thread = SEARCHES, g_quick;
#define N_SEARCHES (g_nq + g_nf)

/* Search i: plain query i; after the g_nq plain ones, filtered ones. */
static const char *search_filter(int i) {
    return i < g_nq ? NULL : FILTERS[(size_t)(i - g_nq) % N_FILTERS];
}

static const float *search_query(int i) {
    return &g_queries[(size_t)(i < g_nq ? i : (i - g_nq) * 4 % g_nq) * DIM];
}

/* JSON for chunks [from, to): {"text":"chunk i","metadata":{"g":i%7,"i":i,"t":"tagN"}}. */
static char *chunks_json(int from, int to) {
    size_t cap = (size_t)(to - from) * 96 + 16, o = 0;
    char *s = malloc(cap);
    if (s == NULL) return NULL;
    s[o++] = '[';
    for (int i = from; i < to; i++) {
        o += (size_t)snprintf(s + o, cap - o,
                              "%s{\"text\":\"chunk %d\",\"metadata\":{\"g\":%d,\"i\":%d,"
                              "\"t\":\"tag%d\"}}",
                              i > from ? "," : "", i, i % 7, i, i % 3);
    }
    s[o++] = ']';
    s[o] = '\0';
    return s;
}

/* A builder with `options` holding chunks [0, n) with g_vectors. */
static vpack_builder *builder_with_options(const char *options, int n) {
    vpack_builder *b = NULL;
    if (vpack_builder_new(options, &b) != VPACK_OK) return NULL;
    for (int from = 0; from < n; from += BATCH) {
        int to = from + BATCH < n ? from + BATCH : n;
        char *json = chunks_json(from, to);
        if (json == NULL ||
            vpack_builder_add(b, (const uint8_t *)json, strlen(json),
                              &g_vectors[(size_t)from * DIM], (size_t)(to - from), DIM) != VPACK_OK) {
            free(json);
            vpack_builder_free(b);
            return NULL;
        }
        free(json);
    }
    return b;
}

/* A flat cosine builder holding chunks [0, n) with g_vectors. */
static vpack_builder *builder_with(int n) {
    return builder_with_options("{\"dimension\":64,\"metric\":\"cosine\"}", n);
}

static const char *const WORDS[] = {
    "vector", "pack",  "search", "thread", "memory", "index", "query",  "embed",
    "token",  "rust",  "cosine", "filter", "chunk",  "file",  "header", "naïve",
    "café",   "日本語", "map",    "shard",  "build",  "score", "model",  "cache",
};
#define N_WORDS (sizeof WORDS / sizeof WORDS[0])

static int setup(void) {
    uint64_t seed = 0x5EED;
    g_vectors = malloc((size_t)COUNT * DIM * sizeof *g_vectors);
    g_queries = malloc((size_t)QUERIES * DIM * sizeof *g_queries);
    g_emb_serial = malloc((size_t)TEXTS * DIM * sizeof *g_emb_serial);
    if (g_vectors == NULL || g_queries == NULL || g_emb_serial == NULL) return 0;
    for (size_t i = 0; i < (size_t)COUNT * DIM; i++) g_vectors[i] = rand_unit(&seed);
    for (size_t i = 0; i < (size_t)QUERIES * DIM; i++) g_queries[i] = rand_unit(&seed);
    /* Texts of 1 to 40 words. */
    for (int t = 0; t < TEXTS; t++) {
        int words = 1 + (int)(splitmix64(&seed) % 40);
        size_t cap = (size_t)words * 12 + 1, o = 0;
        g_texts[t] = malloc(cap);
        if (g_texts[t] == NULL) return 0;
        for (int w = 0; w < words; w++) {
            const char *word = WORDS[splitmix64(&seed) % N_WORDS];
            o += (size_t)snprintf(g_texts[t] + o, cap - o, "%s%s", w ? " " : "", word);
        }
        g_lens[t] = o; /* texts are passed by length; the NUL is not part of them */
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(g_pack_path, sizeof g_pack_path, "%s/vpack-threads-%ld.vpack",
             tmp && tmp[0] ? tmp : "/tmp", (long)getpid());
    snprintf(g_hnsw_path, sizeof g_hnsw_path, "%s/vpack-threads-hnsw-%ld.vpack",
             tmp && tmp[0] ? tmp : "/tmp", (long)getpid());
    return 1;
}

static void teardown(void) {
    vpack_index_free(g_index);
    vpack_embedder_free(g_emb);
    vpack_bytes_free(&g_small_serial);
    free(g_vectors);
    free(g_queries);
    free(g_emb_serial);
    for (int t = 0; t < TEXTS; t++) free(g_texts[t]);
    unlink(g_pack_path);
    vpack_index_free(g_hnsw);
    if (g_hnsw_path[0] != '\0') unlink(g_hnsw_path);
}

/* ------------------------------------------------------------------------------------ */
/* Workers                                                                              */
/* ------------------------------------------------------------------------------------ */

typedef struct {
    int id;
    /* search */
    int searches, search_mismatch, search_errors, own_error_bad;
    char first_mismatch[160];
    /* file handle */
    int file_ok, file_mismatch;
    /* embed */
    int embed_calls, embed_mismatch, token_mismatch, embed_errors;
    int race_ok;
    /* build */
    int build_ok;
    /* hnsw: single searches (search_ef) and batches (search_batch on 2 threads) */
    int hnsw_searches, hnsw_batches, hnsw_mismatch, hnsw_errors;
} worker;

static void note(worker *w, const char *what, int i) {
    if (w->first_mismatch[0] == '\0') {
        snprintf(w->first_mismatch, sizeof w->first_mismatch, "thread %d: %s at %d", w->id, what,
                 i);
    }
}

/* Chunk `id` of the test pack reads back as written. */
static int chunk_matches(const vpack_index *idx, uint64_t id) {
    vpack_str text = {NULL, 0}, meta = {NULL, 0};
    char want_text[32], want_meta[96];
    int tl = snprintf(want_text, sizeof want_text, "chunk %d", (int)id);
    int ml = snprintf(want_meta, sizeof want_meta, "{\"g\":%d,\"i\":%d,\"t\":\"tag%d\"}",
                      (int)id % 7, (int)id, (int)id % 3);
    return vpack_index_chunk(idx, id, &text, &meta) == VPACK_OK && text.len == (size_t)tl &&
           memcmp(text.data, want_text, text.len) == 0 && meta.len == (size_t)ml &&
           memcmp(meta.data, want_meta, meta.len) == 0;
}

/* Runs search i on `idx` and compares with the serial answer; 1 when identical. */
static int search_matches(const vpack_index *idx, int i, int *error) {
    uint64_t ids[K];
    float scores[K];
    size_t n = 0;
    const char *filter = search_filter(i);
    vpack_status s = filter == NULL
                         ? vpack_index_search(idx, search_query(i), DIM, K, ids, scores, &n)
                         : vpack_index_search_filtered(idx, search_query(i), DIM, K, filter, ids,
                                                       scores, &n);
    if (s != VPACK_OK || vpack_last_error_code() != VPACK_OK) {
        *error = 1;
        return 0;
    }
    return n == g_n[i] && memcmp(ids, g_ids[i], n * sizeof ids[0]) == 0 &&
           memcmp(scores, g_scores[i], n * sizeof scores[0]) == 0;
}

/* search_matches, then every hit's chunk. */
static int search_and_chunks_match(const vpack_index *idx, int i, int *error) {
    if (!search_matches(idx, i, error)) return 0;
    for (size_t h = 0; h < g_n[i]; h++) {
        if (!chunk_matches(idx, g_ids[i][h])) {
            *error = 1;
            return 0;
        }
    }
    return 1;
}

static void *search_worker(void *arg) {
    worker *w = arg;
    pthread_barrier_wait(&g_barrier);
    for (int j = 0; j < g_per_thread; j++) {
        int i = (j + w->id * 31) % N_SEARCHES;
        int error = 0;
        if (!search_and_chunks_match(g_shared, i, &error)) {
            if (error) {
                w->search_errors++;
                note(w, "search error", i);
            } else {
                w->search_mismatch++;
                note(w, "search result differs", i);
            }
        }
        w->searches++;
        /* Every 7th search, an error of this thread's own: the last error must be it,
         * whatever the other threads are doing. */
        if (j % 7 == w->id % 7) {
            uint64_t id;
            float score;
            size_t n;
            char msg[256];
            vpack_status s =
                vpack_index_search(g_shared, search_query(i), DIM - 1 - (size_t)w->id, 1, &id,
                                   &score, &n);
            vpack_last_error_message(msg, sizeof msg);
            if (s != VPACK_E_DIMENSION_MISMATCH ||
                vpack_last_error_code() != VPACK_E_DIMENSION_MISMATCH ||
                strncmp(msg, "5|", 2) != 0) {
                w->own_error_bad++;
            }
        }
    }
    /* The same pack through a handle of its own, opened from the file (mmap). */
    vpack_index *mine = NULL;
    if (vpack_index_open(g_pack_path, w->id % 2 ? VPACK_OPEN_VERIFY : 0, &mine) == VPACK_OK) {
        w->file_ok = 1;
        for (int j = 0; j < g_per_thread / 10; j++) {
            int i = (j * 10 + w->id) % N_SEARCHES, error = 0;
            if (!search_matches(mine, i, &error)) {
                w->file_mismatch++;
                note(w, error ? "file search error" : "file search differs", i);
            }
        }
        vpack_index_free(mine);
    }
    return NULL;
}

/* HNSW search i at HNSW_EFS[e] on `idx` matches the serial answer (and its chunks read
 * back): 1; a mismatch: 0; an error: sets *error. */
static int hnsw_search_matches(const vpack_index *idx, int i, size_t e, int *error) {
    uint64_t ids[K];
    float scores[K];
    size_t n = 0;
    if (vpack_index_search_ef(idx, search_query(i), DIM, K, search_filter(i), HNSW_EFS[e], ids,
                              scores, &n) != VPACK_OK ||
        vpack_last_error_code() != VPACK_OK) {
        *error = 1;
        return 0;
    }
    if (n != g_hn[e][i] || memcmp(ids, g_hids[e][i], n * sizeof ids[0]) != 0 ||
        memcmp(scores, g_hscores[e][i], n * sizeof scores[0]) != 0) {
        return 0;
    }
    for (size_t h = 0; h < n; h++) {
        if (!chunk_matches(idx, ids[h])) {
            *error = 1;
            return 0;
        }
    }
    return 1;
}

/* One vpack_index_search_batch call (2 threads) over HNSW_BATCH searches that share a
 * filter, starting at search `first` (plain ones are consecutive; filtered ones step by
 * N_FILTERS, so they share the filter), at HNSW_EFS[e]; compared row by row. */
static int hnsw_batch_matches(const vpack_index *idx, int first, size_t e, int *error) {
    float rows[HNSW_BATCH * DIM];
    uint64_t ids[HNSW_BATCH * K];
    float scores[HNSW_BATCH * K];
    size_t counts[HNSW_BATCH];
    int which[HNSW_BATCH];
    int step = first < g_nq ? 1 : (int)N_FILTERS;
    int limit = first < g_nq ? g_nq : N_SEARCHES;
    for (int r = 0; r < HNSW_BATCH; r++) {
        int i = first + r * step;
        if (i >= limit) i = first < g_nq ? i % g_nq : g_nq + (i - g_nq) % (int)N_FILTERS;
        which[r] = i;
        memcpy(&rows[(size_t)r * DIM], search_query(i), DIM * sizeof rows[0]);
    }
    if (vpack_index_search_batch(idx, rows, HNSW_BATCH, DIM, K, search_filter(first),
                                 HNSW_EFS[e], 2, ids, scores, counts) != VPACK_OK ||
        vpack_last_error_code() != VPACK_OK) {
        *error = 1;
        return 0;
    }
    for (int r = 0; r < HNSW_BATCH; r++) {
        int i = which[r];
        size_t n = counts[r];
        if (search_filter(i) != search_filter(first) || n != g_hn[e][i] ||
            memcmp(&ids[(size_t)r * K], g_hids[e][i], n * sizeof ids[0]) != 0 ||
            memcmp(&scores[(size_t)r * K], g_hscores[e][i], n * sizeof scores[0]) != 0) {
            return 0;
        }
    }
    return 1;
}

static void *hnsw_worker(void *arg) {
    worker *w = arg;
    pthread_barrier_wait(&g_barrier);
    for (int j = 0; j < g_per_thread; j++) {
        int i = (j + w->id * 31) % N_SEARCHES, error = 0;
        size_t e = (size_t)(j + w->id) % N_EFS;
        if (!hnsw_search_matches(g_shared, i, e, &error)) {
            if (error) {
                w->hnsw_errors++;
                note(w, "hnsw search error", i);
            } else {
                w->hnsw_mismatch++;
                note(w, "hnsw search differs", i);
            }
        }
        w->hnsw_searches++;
        /* Every 4th search, also a batch of searches starting there, on 2 threads. */
        if (j % 4 == w->id % 4) {
            error = 0;
            if (!hnsw_batch_matches(g_shared, i, e, &error)) {
                if (error) {
                    w->hnsw_errors++;
                    note(w, "hnsw batch error", i);
                } else {
                    w->hnsw_mismatch++;
                    note(w, "hnsw batch differs", i);
                }
            }
            w->hnsw_batches++;
        }
    }
    return NULL;
}

static void *embed_worker(void *arg) {
    worker *w = arg;
    size_t batch = 1 + (size_t)w->id * 7; /* 1, 8, 15, ... texts per call */
    float *out = malloc(batch * DIM * sizeof *out);
    size_t *counts = malloc(batch * sizeof *counts);
    const uint8_t **ptrs = malloc(batch * sizeof *ptrs);
    pthread_barrier_wait(&g_barrier);
    /* All threads create the same new config at once: the cache's first insert. */
    vpack_embedder *race = NULL;
    if (vpack_embedder_new(RACE_CONFIG, &race) == VPACK_OK) {
        float v[32];
        const uint8_t *p = (const uint8_t *)g_texts[0];
        w->race_ok = vpack_embedder_embed(race, &p, &g_lens[0], 1, v, 32) == VPACK_OK &&
                     memcmp(v, g_race_serial, sizeof v) == 0;
        vpack_embedder_free(race);
    }
    if (out == NULL || counts == NULL || ptrs == NULL) {
        w->embed_errors++;
    } else {
        for (size_t from = 0; from < TEXTS; from += batch) {
            size_t n = from + batch <= TEXTS ? batch : TEXTS - from;
            for (size_t i = 0; i < n; i++) ptrs[i] = (const uint8_t *)g_texts[from + i];
            if (vpack_embedder_embed(g_emb, ptrs, &g_lens[from], n, out, n * DIM) != VPACK_OK ||
                vpack_embedder_token_counts(g_emb, ptrs, &g_lens[from], n, counts) != VPACK_OK) {
                w->embed_errors++;
                note(w, "embed error", (int)from);
                continue;
            }
            w->embed_calls++;
            if (memcmp(out, &g_emb_serial[from * DIM], n * DIM * sizeof *out) != 0) {
                w->embed_mismatch++;
                note(w, "embedding differs", (int)from);
            }
            if (memcmp(counts, &g_tokens_serial[from], n * sizeof *counts) != 0) {
                w->token_mismatch++;
                note(w, "token counts differ", (int)from);
            }
        }
    }
    free(out);
    free(counts);
    free(ptrs);
    /* A builder per thread: the same small pack, byte for byte. */
    vpack_builder *b = builder_with(SMALL);
    vpack_index *small = NULL;
    vpack_bytes bytes = {NULL, 0};
    if (b != NULL && vpack_builder_finish(b, "{\"title\":\"small\"}", &small) == VPACK_OK &&
        vpack_index_to_bytes(small, &bytes) == VPACK_OK) {
        w->build_ok = bytes.len == g_small_serial.len &&
                      memcmp(bytes.data, g_small_serial.data, bytes.len) == 0;
    }
    vpack_bytes_free(&bytes);
    vpack_index_free(small);
    return NULL;
}

static void run_threads(void *(*fn)(void *), worker *ws) {
    pthread_t th[THREADS];
    int started = 0;
    if (!CHECK(pthread_barrier_init(&g_barrier, NULL, THREADS) == 0)) return;
    for (int t = 0; t < THREADS; t++) {
        memset(&ws[t], 0, sizeof ws[t]);
        ws[t].id = t;
        if (pthread_create(&th[t], NULL, fn, &ws[t]) == 0) started++;
    }
    CHECK(started == THREADS); /* otherwise the barrier never opens: fail loudly */
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    pthread_barrier_destroy(&g_barrier);
}

/* ------------------------------------------------------------------------------------ */
/* Groups                                                                               */
/* ------------------------------------------------------------------------------------ */

static void test_serial(void) {
    group_begin("serial reference");
    vpack_builder *b = builder_with(COUNT);
    if (CHECK(b != NULL)) CHECK_OK(vpack_builder_finish(b, "{\"title\":\"threads\"}", &g_index));
    size_t len = 0;
    if (g_index != NULL) CHECK_OK(vpack_index_len(g_index, &len));
    CHECK(len == COUNT);
    if (g_index != NULL) CHECK_OK(vpack_index_save(g_index, g_pack_path));
    int filtered_hits = 0, ok = 1;
    for (int i = 0; i < N_SEARCHES && g_index != NULL; i++) {
        const char *filter = search_filter(i);
        vpack_status s =
            filter == NULL
                ? vpack_index_search(g_index, search_query(i), DIM, K, g_ids[i], g_scores[i],
                                     &g_n[i])
                : vpack_index_search_filtered(g_index, search_query(i), DIM, K, filter, g_ids[i],
                                              g_scores[i], &g_n[i]);
        if (s != VPACK_OK || g_n[i] != K) {
            printf("  search %d: status %d, n %zu\n", i, s, g_n[i]);
            ok = 0;
        }
        if (filter != NULL) filtered_hits += (int)g_n[i];
        /* A second serial run is identical (determinism on one thread). */
        int error = 0;
        if (!g_quick && !search_and_chunks_match(g_index, i, &error)) ok = 0;
    }
    CHECK(ok);
    CHECK(filtered_hits == g_nf * K);

    CHECK_OK(vpack_embedder_new(EMB_CONFIG, &g_emb));
    int emb_ok = g_emb != NULL;
    for (int t = 0; t < TEXTS && emb_ok; t++) {
        const uint8_t *p = (const uint8_t *)g_texts[t];
        emb_ok = vpack_embedder_embed(g_emb, &p, &g_lens[t], 1, &g_emb_serial[(size_t)t * DIM],
                                      DIM) == VPACK_OK &&
                 vpack_embedder_token_counts(g_emb, &p, &g_lens[t], 1, &g_tokens_serial[t]) ==
                     VPACK_OK;
    }
    CHECK(emb_ok);
    vpack_embedder *race = NULL;
    CHECK_OK(vpack_embedder_new(RACE_CONFIG, &race));
    const uint8_t *p0 = (const uint8_t *)g_texts[0];
    if (race != NULL) CHECK_OK(vpack_embedder_embed(race, &p0, &g_lens[0], 1, g_race_serial, 32));
    vpack_embedder_free(race);

    vpack_builder *sb = builder_with(SMALL);
    vpack_index *small = NULL;
    if (CHECK(sb != NULL)) CHECK_OK(vpack_builder_finish(sb, "{\"title\":\"small\"}", &small));
    if (small != NULL) CHECK_OK(vpack_index_to_bytes(small, &g_small_serial));
    vpack_index_free(small);
    group_end();
}

static void test_concurrent_search(const char *name, vpack_index *idx) {
    group_begin(name);
    worker ws[THREADS];
    g_shared = idx;
    run_threads(search_worker, ws);
    int searches = 0;
    for (int t = 0; t < THREADS; t++) {
        searches += ws[t].searches;
        if (!CHECK(ws[t].search_mismatch == 0 && ws[t].search_errors == 0 &&
                   ws[t].own_error_bad == 0 && ws[t].file_ok && ws[t].file_mismatch == 0)) {
            printf("  thread %d: %d differ, %d errors, %d wrong own errors, file %d/%d; %s\n", t,
                   ws[t].search_mismatch, ws[t].search_errors, ws[t].own_error_bad, ws[t].file_ok,
                   ws[t].file_mismatch, ws[t].first_mismatch);
        }
    }
    CHECK(searches == THREADS * g_per_thread);
    printf("  %d concurrent searches (of %d plain and %d filtered) matched the serial results\n",
           searches, g_nq, g_nf);
    /* The handle is intact afterwards: it verifies, and the main thread's last error is
     * untouched by the workers' errors. */
    CHECK(vpack_last_error_code() == VPACK_OK);
    CHECK_OK(vpack_index_verify(idx));
    group_end();
}

static void test_concurrent_embed(void) {
    group_begin("8 threads sharing one vpack_embedder");
    worker ws[THREADS];
    run_threads(embed_worker, ws);
    for (int t = 0; t < THREADS; t++) {
        if (!CHECK(ws[t].embed_mismatch == 0 && ws[t].token_mismatch == 0 &&
                   ws[t].embed_errors == 0 && ws[t].embed_calls > 0 && ws[t].race_ok &&
                   ws[t].build_ok)) {
            printf("  thread %d: %d calls, %d differ, %d token differ, %d errors, race %d, "
                   "build %d; %s\n",
                   t, ws[t].embed_calls, ws[t].embed_mismatch, ws[t].token_mismatch,
                   ws[t].embed_errors, ws[t].race_ok, ws[t].build_ok, ws[t].first_mismatch);
        }
    }
    group_end();
}

/* The HNSW pack, built in memory (2 build threads), saved, and searched serially. */
static void test_hnsw_serial(void) {
    group_begin("serial reference (HNSW pack)");
    char opts[192];
    snprintf(opts, sizeof opts,
             "{\"dimension\":64,\"metric\":\"cosine\",\"index\":{\"kind\":\"hnsw\",\"m\":12,"
             "\"ef_construction\":%d,\"threads\":2}}",
             g_hnsw_ef_construction);
    vpack_builder *b = builder_with_options(opts, g_hnsw_count);
    if (CHECK(b != NULL)) CHECK_OK(vpack_builder_finish(b, "{\"title\":\"hnsw\"}", &g_hnsw));
    if (g_hnsw == NULL) {
        group_end();
        return;
    }
    CHECK_OK(vpack_index_save(g_hnsw, g_hnsw_path));
    int ok = 1;
    for (size_t e = 0; e < N_EFS; e++) {
        for (int i = 0; i < N_SEARCHES; i++) {
            vpack_status s = vpack_index_search_ef(g_hnsw, search_query(i), DIM, K,
                                                   search_filter(i), HNSW_EFS[e], g_hids[e][i],
                                                   g_hscores[e][i], &g_hn[e][i]);
            /* Filters matching fewer than K chunks of this pack give fewer hits. */
            if (s != VPACK_OK || (search_filter(i) == NULL && g_hn[e][i] != K)) {
                printf("  search %d at ef %zu: status %d, n %zu\n", i, HNSW_EFS[e], s,
                       g_hn[e][i]);
                ok = 0;
            }
        }
    }
    CHECK(ok);
    /* One thread, the batch path: the same answers (the workers compare against these). */
    int batch_ok = 1, error = 0;
    for (int i = 0; i < N_SEARCHES; i += 7) {
        for (size_t e = 0; e < N_EFS; e++) batch_ok &= hnsw_batch_matches(g_hnsw, i, e, &error);
    }
    CHECK(batch_ok && !error);
    group_end();
}

static void test_concurrent_hnsw(vpack_index *idx) {
    group_begin("8 threads searching one freshly opened HNSW vpack_index");
    worker ws[THREADS];
    g_shared = idx;
    run_threads(hnsw_worker, ws);
    int searches = 0, batches = 0;
    for (int t = 0; t < THREADS; t++) {
        searches += ws[t].hnsw_searches;
        batches += ws[t].hnsw_batches;
        if (!CHECK(ws[t].hnsw_mismatch == 0 && ws[t].hnsw_errors == 0 && ws[t].hnsw_batches > 0)) {
            printf("  thread %d: %d differ, %d errors, %d batches; %s\n", t, ws[t].hnsw_mismatch,
                   ws[t].hnsw_errors, ws[t].hnsw_batches, ws[t].first_mismatch);
        }
    }
    CHECK(searches == THREADS * g_per_thread);
    printf("  %d concurrent vpack_index_search_ef calls (ef 0, 24, 128) and %d batches of %d "
           "(2 threads each) matched the serial results\n",
           searches, batches, HNSW_BATCH);
    CHECK(vpack_last_error_code() == VPACK_OK);
    CHECK_OK(vpack_index_verify(idx));
    group_end();
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        g_nq = 48;
        g_nf = 12;
        g_per_thread = (g_nq + g_nf) / 2;
        g_quick = 1;
        g_hnsw_count = 600;
        g_hnsw_ef_construction = 40;
    }
    group_begin("setup");
    int ready = CHECK(setup());
    group_end();
    if (ready) {
        test_serial();
        if (g_index != NULL && g_emb != NULL && g_small_serial.data != NULL) {
            vpack_index *lazy = NULL;
            group_begin("open the saved pack without VPACK_OPEN_VERIFY");
            CHECK_OK(vpack_index_open(g_pack_path, 0, &lazy));
            group_end();
            if (lazy != NULL) {
                test_concurrent_search("8 threads searching one freshly opened vpack_index", lazy);
            }
            vpack_index_free(lazy);
            if (!g_quick) {
                test_concurrent_search("8 threads searching one in-memory vpack_index", g_index);
            }
            test_concurrent_embed();
        }
        test_hnsw_serial();
        if (g_hnsw != NULL) {
            vpack_index *lazy = NULL;
            group_begin("open the saved HNSW pack without VPACK_OPEN_VERIFY");
            CHECK_OK(vpack_index_open(g_hnsw_path, 0, &lazy));
            group_end();
            if (lazy != NULL) test_concurrent_hnsw(lazy);
            vpack_index_free(lazy);
        }
    }
    teardown();
    return finish_report();
}
