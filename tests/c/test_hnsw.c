/*
 * HNSW packs from C: the builder's "index" option, the manifest's record of it, recall
 * against an exact (flat) pack of the same vectors, vpack_index_search_ef,
 * vpack_index_search_batch (equal to one vpack_index_search_ef call per query),
 * vpack_index_vectors, and a saved HNSW pack opened without VPACK_OPEN_VERIFY (its first
 * searches run the lazy block checks) answering exactly like the in-memory one.
 *
 * Build (see tests/c/run.sh, which runs it under valgrind with --quick and, built with
 * -fsanitize=address,undefined, natively in full):
 *   cc -std=c11 -Wall -Wextra -Werror -pedantic -I include tests/c/test_hnsw.c \
 *      -L<libdir> -lvpack -Wl,-rpath,<libdir> -lm
 *
 * Data: COUNT clustered vectors of dimension 32 (CLUSTERS centres, each row a centre plus
 * noise; row i belongs to cluster i % CLUSTERS), metadata {"c": cluster, "i": i}, and
 * queries drawn the same way but not stored. The HNSW pack uses m 12 and the default
 * ef_construction (200) and ef_search (64).
 *
 * With --quick (under valgrind, ~50x slower) COUNT is 600, ef_construction 40 and
 * there are 12 queries instead of 4,000 rows and 100 queries; every group still runs.
 *
 * Ends with "N passed, M failed"; exits 1 when any check failed.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIM 32
#define K 10
#define CLUSTERS 40
#define BATCH 500
#define MAX_QUERIES 100
#define NOISE 0.35f

static int g_quick;
static size_t g_count = 4000;    /* rows in the main packs */
static size_t g_nq = MAX_QUERIES; /* queries */
static int g_ef_construction = 200;

static float *g_vectors; /* g_count x DIM, as added */
static float *g_queries; /* g_nq x DIM */
static size_t g_query_cluster[MAX_QUERIES];

static vpack_index *g_flat;   /* cosine, flat */
static vpack_index *g_hnsw;   /* cosine, hnsw m 12, built on 1 thread */
static vpack_bytes g_hnsw_bytes;
static char g_dir[4096];
static char g_path[4200]; /* the saved hnsw pack */
/* Matches the first 4 and the last 6 rows: 10 chunks spread over 10 clusters. */
static char g_tail_filter[96];

/* The filters the comparisons use: none, a broad one (half the clusters) and a selective
 * one (g_tail_filter), which the walk of an hnsw search cannot satisfy, so its exact
 * filtered scan answers. That scan reads the metadata of every chunk, so selective
 * searches use the first g_nq_selective queries only. */
#define N_FILTERS 3
static const char *g_filters[N_FILTERS];
static size_t g_filter_nq[N_FILTERS];
static size_t g_nq_selective = 10;

/* ------------------------------------------------------------------------------------ */
/* Helpers                                                                              */
/* ------------------------------------------------------------------------------------ */

/* Rows of `n` clustered vectors (row i in cluster i % CLUSTERS) from `centres`. */
static void clustered_rows(float *out, size_t n, const float *centres, uint64_t *seed) {
    for (size_t i = 0; i < n; i++) {
        const float *c = &centres[(i % CLUSTERS) * DIM];
        for (size_t d = 0; d < DIM; d++) out[i * DIM + d] = c[d] + NOISE * rand_unit(seed);
    }
}

/* JSON for chunks [from, to): {"text":"chunk i","metadata":{"c":i%CLUSTERS,"i":i}}. */
static char *chunks_json(size_t from, size_t to) {
    size_t cap = (to - from) * 64 + 16, o = 0;
    char *s = malloc(cap);
    if (s == NULL) return NULL;
    s[o++] = '[';
    for (size_t i = from; i < to; i++) {
        o += (size_t)snprintf(s + o, cap - o,
                              "%s{\"text\":\"chunk %zu\",\"metadata\":{\"c\":%zu,\"i\":%zu}}",
                              i > from ? "," : "", i, i % CLUSTERS, i);
    }
    s[o++] = ']';
    s[o] = '\0';
    return s;
}

/* A builder with `options` holding rows [0, n) of `vecs` (dimension `dim`). */
static vpack_builder *filled(const char *options, const float *vecs, size_t n, size_t dim) {
    vpack_builder *b = NULL;
    if (vpack_builder_new(options, &b) != VPACK_OK) return NULL;
    for (size_t from = 0; from < n; from += BATCH) {
        size_t to = from + BATCH < n ? from + BATCH : n;
        char *json = chunks_json(from, to);
        vpack_status s = json == NULL ? VPACK_E_LIMIT
                                      : vpack_builder_add(b, (const uint8_t *)json, strlen(json),
                                                          &vecs[from * dim], to - from, dim);
        free(json);
        if (s != VPACK_OK) {
            vpack_builder_free(b);
            return NULL;
        }
    }
    return b;
}

/* The pack of `filled(options, ...)`, finished in memory; NULL on any failure. */
static vpack_index *build(const char *options, const float *vecs, size_t n, size_t dim) {
    vpack_builder *b = filled(options, vecs, n, dim);
    vpack_index *idx = NULL;
    if (b == NULL || vpack_builder_finish(b, NULL, &idx) != VPACK_OK) return NULL;
    return idx;
}

/* Options for the main hnsw pack (m 12) built on `threads` threads. */
static void hnsw_options(char *buf, size_t cap, const char *metric, int threads) {
    if (g_ef_construction == 200) {
        snprintf(buf, cap,
                 "{\"dimension\":%d,\"metric\":\"%s\",\"index\":{\"kind\":\"hnsw\",\"m\":12,"
                 "\"threads\":%d}}",
                 DIM, metric, threads);
    } else {
        snprintf(buf, cap,
                 "{\"dimension\":%d,\"metric\":\"%s\",\"index\":{\"kind\":\"hnsw\",\"m\":12,"
                 "\"ef_construction\":%d,\"threads\":%d}}",
                 DIM, metric, g_ef_construction, threads);
    }
}

/* Results of n searches: hits of query i at [i * K], their number at counts[i]. */
typedef struct {
    uint64_t ids[MAX_QUERIES * K];
    float scores[MAX_QUERIES * K];
    size_t counts[MAX_QUERIES];
} results;

/* One vpack_index_search_ef call per query (k = K); the first failing status, else OK.
 * Slots past a query's count hold id UINT64_MAX and score 0 (for memcmp). */
static vpack_status search_each(const vpack_index *idx, const float *queries, size_t n,
                                const char *filter, size_t ef, results *r) {
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < MAX_QUERIES * K; i++) r->ids[i] = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        vpack_status s = vpack_index_search_ef(idx, &queries[i * DIM], DIM, K, filter, ef,
                                               &r->ids[i * K], &r->scores[i * K], &r->counts[i]);
        if (s != VPACK_OK) return s;
    }
    return VPACK_OK;
}

/* The same queries through one vpack_index_search_batch call (k = K). */
static vpack_status search_batch(const vpack_index *idx, const float *queries, size_t n,
                                 const char *filter, size_t ef, size_t threads, results *r) {
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < MAX_QUERIES * K; i++) r->ids[i] = UINT64_MAX;
    vpack_status s = vpack_index_search_batch(idx, queries, n, DIM, K, filter, ef, threads,
                                              r->ids, r->scores, r->counts);
    /* Unused slots past each count are not defined by the header: normalise them. */
    for (size_t i = 0; i < n && s == VPACK_OK; i++) {
        for (size_t j = r->counts[i] < K ? r->counts[i] : K; j < K; j++) {
            r->ids[i * K + j] = UINT64_MAX;
            r->scores[i * K + j] = 0.0f;
        }
    }
    return s;
}

static int same_results(const results *a, const results *b, size_t n) {
    return memcmp(a->counts, b->counts, n * sizeof a->counts[0]) == 0 &&
           memcmp(a->ids, b->ids, n * K * sizeof a->ids[0]) == 0 &&
           memcmp(a->scores, b->scores, n * K * sizeof a->scores[0]) == 0;
}

/* Mean fraction of the exact top K found by `got` over n queries. */
static double recall(const results *got, const results *exact, size_t n) {
    size_t found = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        total += exact->counts[i];
        for (size_t a = 0; a < exact->counts[i]; a++) {
            for (size_t b = 0; b < got->counts[i]; b++) {
                if (got->ids[i * K + b] == exact->ids[i * K + a]) {
                    found++;
                    break;
                }
            }
        }
    }
    return total == 0 ? 0.0 : (double)found / (double)total;
}

/* Every query has `want` hits, best first, distinct ids below `len`. */
static int well_formed(const results *r, size_t n, size_t want, size_t len) {
    for (size_t i = 0; i < n; i++) {
        if (r->counts[i] != want) return 0;
        for (size_t j = 0; j < r->counts[i]; j++) {
            if (r->ids[i * K + j] >= len) return 0;
            if (j > 0 && r->scores[i * K + j] > r->scores[i * K + j - 1]) return 0;
            for (size_t h = 0; h < j; h++) {
                if (r->ids[i * K + h] == r->ids[i * K + j]) return 0;
            }
        }
    }
    return 1;
}

/* Metadata of chunk `id` reads {"c":id%CLUSTERS,"i":id}. */
static int chunk_is(const vpack_index *idx, uint64_t id) {
    vpack_str text = {NULL, 0}, meta = {NULL, 0};
    char want[64];
    int ml = snprintf(want, sizeof want, "{\"c\":%d,\"i\":%d}", (int)(id % CLUSTERS), (int)id);
    return vpack_index_chunk(idx, id, &text, &meta) == VPACK_OK && meta.len == (size_t)ml &&
           memcmp(meta.data, want, meta.len) == 0;
}

static int manifest_has(const vpack_index *idx, const char *needle) {
    vpack_str m = {NULL, 0};
    if (vpack_index_manifest(idx, &m) != VPACK_OK) return 0;
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= m.len; i++) {
        if (memcmp(m.data + i, needle, nl) == 0) return 1;
    }
    return 0;
}

static uint8_t *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = size > 0 ? malloc((size_t)size) : NULL;
    if (data != NULL && fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *len = data != NULL ? (size_t)size : 0;
    return data;
}

/* ------------------------------------------------------------------------------------ */
/* Groups                                                                               */
/* ------------------------------------------------------------------------------------ */

static int setup(void) {
    uint64_t seed = 0x484E5357; /* "HNSW" */
    float centres[CLUSTERS * DIM];
    for (size_t i = 0; i < CLUSTERS * DIM; i++) centres[i] = rand_unit(&seed);
    g_vectors = malloc(g_count * DIM * sizeof *g_vectors);
    g_queries = malloc(MAX_QUERIES * DIM * sizeof *g_queries);
    if (g_vectors == NULL || g_queries == NULL) return 0;
    clustered_rows(g_vectors, g_count, centres, &seed);
    for (size_t q = 0; q < g_nq; q++) {
        size_t c = (size_t)(splitmix64(&seed) % CLUSTERS);
        g_query_cluster[q] = c;
        for (size_t d = 0; d < DIM; d++) {
            g_queries[q * DIM + d] = centres[c * DIM + d] + NOISE * rand_unit(&seed);
        }
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/vpack-hnsw-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(g_dir) == NULL) {
        g_dir[0] = '\0';
        return 0;
    }
    snprintf(g_path, sizeof g_path, "%s/hnsw.vpack", g_dir);
    snprintf(g_tail_filter, sizeof g_tail_filter,
             "{\"$or\":[{\"i\":{\"$lt\":4}},{\"i\":{\"$gt\":%zu}}]}", g_count - 7);
    g_filters[0] = NULL;
    g_filters[1] = "{\"c\":{\"$lt\":20}}";
    g_filters[2] = g_tail_filter;
    g_filter_nq[0] = g_nq;
    g_filter_nq[1] = g_nq;
    g_filter_nq[2] = g_nq_selective < g_nq ? g_nq_selective : g_nq;
    return 1;
}

static void teardown(void) {
    vpack_index_free(g_flat);
    vpack_index_free(g_hnsw);
    vpack_bytes_free(&g_hnsw_bytes);
    free(g_vectors);
    free(g_queries);
    if (g_path[0] != '\0') unlink(g_path);
}

static void test_build(void) {
    group_begin("hnsw build: 1 and 2 threads give the same bytes");
    char opts[256];
    snprintf(opts, sizeof opts, "{\"dimension\":%d,\"index\":{\"kind\":\"flat\"}}", DIM);
    g_flat = build(opts, g_vectors, g_count, DIM);
    CHECK(g_flat != NULL);
    hnsw_options(opts, sizeof opts, "cosine", 1);
    g_hnsw = build(opts, g_vectors, g_count, DIM);
    hnsw_options(opts, sizeof opts, "cosine", 2);
    vpack_index *two = build(opts, g_vectors, g_count, DIM);
    if (!CHECK(g_hnsw != NULL && two != NULL)) {
        vpack_index_free(two);
        group_end();
        return;
    }
    vpack_bytes b2 = {NULL, 0}, flat = {NULL, 0};
    CHECK_OK(vpack_index_to_bytes(g_hnsw, &g_hnsw_bytes));
    CHECK_OK(vpack_index_to_bytes(two, &b2));
    CHECK_OK(vpack_index_to_bytes(g_flat, &flat));
    CHECK(g_hnsw_bytes.len > 0 && g_hnsw_bytes.len == b2.len &&
          memcmp(g_hnsw_bytes.data, b2.data, b2.len) == 0);
    /* The graph is a section of its own: the hnsw pack is the larger. */
    CHECK(g_hnsw_bytes.len > flat.len);
    vpack_bytes_free(&b2);
    vpack_bytes_free(&flat);
    vpack_index_free(two);

    /* Streamed to a file (vpack_builder_finish_file, 2 threads): the same bytes again,
     * and the handle it returns (mmap) answers like the in-memory one. */
    vpack_builder *b = filled(opts, g_vectors, g_count, DIM);
    vpack_index *from_file = NULL;
    if (CHECK(b != NULL)) CHECK_OK(vpack_builder_finish_file(b, NULL, g_path, &from_file));
    size_t len = 0;
    uint8_t *data = read_whole(g_path, &len);
    CHECK(data != NULL && len == g_hnsw_bytes.len && memcmp(data, g_hnsw_bytes.data, len) == 0);
    free(data);
    if (from_file != NULL) {
        static results a, c;
        CHECK_OK(search_each(g_hnsw, g_queries, g_nq, NULL, 0, &a));
        CHECK_OK(search_each(from_file, g_queries, g_nq, NULL, 0, &c));
        CHECK(same_results(&a, &c, g_nq));
    }
    vpack_index_free(from_file);
    size_t n = 0, dim = 0;
    CHECK_OK(vpack_index_len(g_hnsw, &n));
    CHECK_OK(vpack_index_dimension(g_hnsw, &dim));
    CHECK(n == g_count && dim == DIM);
    CHECK_OK(vpack_index_verify(g_hnsw));
    group_end();
}

static void test_manifest(void) {
    group_begin("the manifest records the index");
    char want[160];
    snprintf(want, sizeof want,
             "\"index\":{\"ef_construction\":%d,\"ef_search\":64,\"kind\":\"hnsw\",\"m\":12}",
             g_ef_construction);
    if (!CHECK(manifest_has(g_hnsw, want))) {
        vpack_str m = {NULL, 0};
        vpack_index_manifest(g_hnsw, &m);
        printf("  manifest: %.*s\n  want: %s\n", (int)m.len, (const char *)m.data, want);
    }
    CHECK(!manifest_has(g_hnsw, "threads")); /* build threads do not change the bytes */
    CHECK(manifest_has(g_flat, "\"index\":{\"kind\":\"flat\"}"));
    /* No index option: flat. */
    char opts[128];
    snprintf(opts, sizeof opts, "{\"dimension\":%d}", DIM);
    vpack_index *plain = build(opts, g_vectors, 50, DIM);
    if (CHECK(plain != NULL)) CHECK(manifest_has(plain, "\"index\":{\"kind\":\"flat\"}"));
    vpack_index_free(plain);
    /* auto below 50,000 chunks: flat, and the manifest says why. */
    snprintf(opts, sizeof opts, "{\"dimension\":%d,\"index\":{\"kind\":\"auto\"}}", DIM);
    vpack_index *autop = build(opts, g_vectors, 50, DIM);
    if (CHECK(autop != NULL)) {
        CHECK(manifest_has(autop, "\"kind\":\"flat\""));
        CHECK(manifest_has(autop, "\"chosen_by\":\"auto"));
        CHECK(!manifest_has(autop, "\"kind\":\"hnsw\""));
    }
    vpack_index_free(autop);
    /* Explicit parameters are recorded as given, and ef_search is the search default. */
    snprintf(opts, sizeof opts,
             "{\"dimension\":%d,\"index\":{\"kind\":\"hnsw\",\"m\":6,\"ef_construction\":40,"
             "\"ef_search\":17,\"threads\":2}}",
             DIM);
    vpack_index *custom = build(opts, g_vectors, 500, DIM);
    if (CHECK(custom != NULL)) {
        CHECK(manifest_has(custom, "\"index\":{\"ef_construction\":40,\"ef_search\":17,"
                                   "\"kind\":\"hnsw\",\"m\":6}"));
        static results d0, d17, d200, plain_search;
        CHECK_OK(search_each(custom, g_queries, g_nq, NULL, 0, &d0));
        CHECK_OK(search_each(custom, g_queries, g_nq, NULL, 17, &d17));
        CHECK_OK(search_each(custom, g_queries, g_nq, NULL, 200, &d200));
        CHECK(same_results(&d0, &d17, g_nq));
        CHECK(well_formed(&d200, g_nq, K, 500));
        memset(&plain_search, 0, sizeof plain_search);
        for (size_t i = 0; i < MAX_QUERIES * K; i++) plain_search.ids[i] = UINT64_MAX;
        int ok = 1;
        for (size_t q = 0; q < g_nq; q++) {
            ok &= vpack_index_search(custom, &g_queries[q * DIM], DIM, K, &plain_search.ids[q * K],
                                     &plain_search.scores[q * K],
                                     &plain_search.counts[q]) == VPACK_OK;
        }
        CHECK(ok && same_results(&d0, &plain_search, g_nq));
    }
    vpack_index_free(custom);
    group_end();
}

static void test_recall(void) {
    group_begin("recall@10 against the flat pack");
    static results exact, low, def, ef64, ef256, plain, flat_ef1, flat_ef_max;
    CHECK_OK(search_each(g_flat, g_queries, g_nq, NULL, 0, &exact));
    CHECK_OK(search_each(g_hnsw, g_queries, g_nq, NULL, 10, &low));
    CHECK_OK(search_each(g_hnsw, g_queries, g_nq, NULL, 0, &def));
    CHECK_OK(search_each(g_hnsw, g_queries, g_nq, NULL, 64, &ef64));
    CHECK_OK(search_each(g_hnsw, g_queries, g_nq, NULL, 256, &ef256));
    CHECK(well_formed(&exact, g_nq, K, g_count));
    CHECK(well_formed(&def, g_nq, K, g_count));
    CHECK(well_formed(&ef256, g_nq, K, g_count));
    double r_low = recall(&low, &exact, g_nq), r_def = recall(&def, &exact, g_nq),
           r_256 = recall(&ef256, &exact, g_nq);
    printf("  recall@10 over %zu queries: %.4f at ef 10, %.4f at the default ef (64), %.4f at "
           "ef 256\n",
           g_nq, r_low, r_def, r_256);
    CHECK(r_def >= 0.9);
    CHECK(r_256 >= r_def && (r_256 > r_def || r_def == 1.0));
    CHECK(r_256 >= 0.99);
    /* ef is the effort: a small one finds less (with 4,000 rows; the --quick pack is too
     * small for ef 10 to miss anything). */
    CHECK(r_low <= r_def);
    if (!g_quick) CHECK(r_low < r_256);
    /* ef 0 is the manifest's ef_search (64); vpack_index_search is ef 0. */
    CHECK(same_results(&def, &ef64, g_nq));
    memset(&plain, 0, sizeof plain);
    for (size_t i = 0; i < MAX_QUERIES * K; i++) plain.ids[i] = UINT64_MAX;
    int ok = 1;
    for (size_t q = 0; q < g_nq; q++) {
        ok &= vpack_index_search(g_hnsw, &g_queries[q * DIM], DIM, K, &plain.ids[q * K],
                                 &plain.scores[q * K], &plain.counts[q]) == VPACK_OK;
    }
    CHECK(ok && same_results(&def, &plain, g_nq));
    /* A flat pack is exact whatever ef. */
    CHECK_OK(search_each(g_flat, g_queries, g_nq, NULL, 1, &flat_ef1));
    CHECK_OK(search_each(g_flat, g_queries, g_nq, NULL, 65536, &flat_ef_max));
    CHECK(same_results(&exact, &flat_ef1, g_nq) && same_results(&exact, &flat_ef_max, g_nq));
    /* Every hnsw score is the cosine of the query and that row (as the flat pack scores
     * it), within float rounding. */
    const float *rows = NULL;
    size_t count = 0, dim = 0;
    CHECK_OK(vpack_index_vectors(g_flat, &rows, &count, &dim));
    int scores_ok = rows != NULL && count == g_count && dim == DIM;
    for (size_t q = 0; q < g_nq && scores_ok; q++) {
        const float *qv = &g_queries[q * DIM];
        double norm = 0;
        for (size_t d = 0; d < DIM; d++) norm += (double)qv[d] * qv[d];
        norm = sqrt(norm);
        for (size_t j = 0; j < ef256.counts[q]; j++) {
            const float *row = &rows[ef256.ids[q * K + j] * DIM];
            double dot = 0;
            for (size_t d = 0; d < DIM; d++) dot += (double)qv[d] * row[d];
            if (fabs(dot / norm - ef256.scores[q * K + j]) > 1e-4) {
                printf("  query %zu hit %zu: score %.6f, cosine %.6f\n", q, j,
                       ef256.scores[q * K + j], dot / norm);
                scores_ok = 0;
                break;
            }
        }
    }
    CHECK(scores_ok);
    /* Most hits of a query lie in its own cluster (the data is clustered). */
    size_t own = 0;
    for (size_t q = 0; q < g_nq; q++) {
        for (size_t j = 0; j < def.counts[q]; j++) {
            own += def.ids[q * K + j] % CLUSTERS == g_query_cluster[q];
        }
    }
    CHECK(own * 10 >= g_nq * K * 9);
    group_end();
}

/* Filters on the hnsw pack; their expected hits come from the flat pack. */
static void test_filters(void) {
    group_begin("filtered searches on the hnsw pack");
    static results h, f;
    char filter[64];
    /* The query's own cluster: plenty of candidates in the walk. */
    int in_cluster = 1, ok = 1;
    for (size_t q = 0; q < g_nq; q++) {
        uint64_t ids[K];
        float scores[K];
        size_t n = 0;
        snprintf(filter, sizeof filter, "{\"c\":%zu}", g_query_cluster[q]);
        ok &= vpack_index_search_ef(g_hnsw, &g_queries[q * DIM], DIM, K, filter, 0, ids, scores,
                                    &n) == VPACK_OK;
        ok &= n == K;
        for (size_t j = 0; j < n; j++) in_cluster &= ids[j] % CLUSTERS == g_query_cluster[q];
    }
    CHECK(ok && in_cluster);
    /* Selective filters: fewer than k candidates of the walk pass, so the exact filtered
     * scan answers: the same hits as the flat pack, k of them whenever k chunks match. */
    const char *const selective[] = {
        "{\"i\":{\"$lt\":15}}",
        "{\"i\":{\"$in\":[3,999,7,500,42,1,2,4,5,6,8]}}",
        g_tail_filter,
    };
    size_t nq = g_filter_nq[2];
    for (size_t s = 0; s < sizeof selective / sizeof selective[0]; s++) {
        CHECK_OK(search_each(g_hnsw, g_queries, nq, selective[s], 0, &h));
        CHECK_OK(search_each(g_flat, g_queries, nq, selective[s], 0, &f));
        if (!CHECK(same_results(&h, &f, nq) && well_formed(&h, nq, K, g_count))) {
            printf("  filter %s\n", selective[s]);
        }
    }
    /* Fewer matches than k: all of them; none: no hit. */
    CHECK_OK(search_each(g_hnsw, g_queries, nq, "{\"i\":{\"$lt\":5}}", 256, &h));
    CHECK_OK(search_each(g_flat, g_queries, nq, "{\"i\":{\"$lt\":5}}", 256, &f));
    CHECK(same_results(&h, &f, nq) && well_formed(&h, nq, 5, 5));
    CHECK_OK(search_each(g_hnsw, g_queries, nq, "{\"c\":\"none\"}", 0, &h));
    CHECK(well_formed(&h, nq, 0, 0));
    /* A broad filter (half the clusters): k hits, each passing, each read back. */
    CHECK_OK(search_each(g_hnsw, g_queries, g_nq, "{\"c\":{\"$lt\":20}}", 0, &h));
    int pass = well_formed(&h, g_nq, K, g_count);
    for (size_t q = 0; q < g_nq && pass; q++) {
        for (size_t j = 0; j < h.counts[q]; j++) {
            pass &= h.ids[q * K + j] % CLUSTERS < 20 && chunk_is(g_hnsw, h.ids[q * K + j]);
        }
    }
    CHECK(pass);
    group_end();
}

static void test_batch(void) {
    group_begin("vpack_index_search_batch equals one vpack_index_search_ef per query");
    static const size_t efs[] = {0, 256};
    static const size_t threads[] = {1, 2, 0, 7};
    const vpack_index *packs[2] = {g_flat, g_hnsw};
    static const char *const names[2] = {"flat", "hnsw"};
    static results each, batch;
    for (int p = 0; p < 2; p++) {
        for (size_t f = 0; f < N_FILTERS; f++) {
            size_t nq = g_filter_nq[f];
            for (size_t e = 0; e < sizeof efs / sizeof efs[0]; e++) {
                CHECK_OK(search_each(packs[p], g_queries, nq, g_filters[f], efs[e], &each));
                for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
                    if (g_quick && t >= 2) break;
                    vpack_status s = search_batch(packs[p], g_queries, nq, g_filters[f], efs[e],
                                                  threads[t], &batch);
                    if (!CHECK_OK(s) || !CHECK(same_results(&each, &batch, nq))) {
                        printf("  %s pack, filter %s, ef %zu, threads %zu\n", names[p],
                               g_filters[f] ? g_filters[f] : "NULL", efs[e], threads[t]);
                    }
                }
            }
        }
    }
    /* n = 1, and queries that are rows of the pack (each finds itself first). */
    CHECK_OK(search_batch(g_hnsw, g_queries, 1, NULL, 0, 2, &batch));
    CHECK_OK(search_each(g_hnsw, g_queries, 1, NULL, 0, &each));
    CHECK(same_results(&each, &batch, 1));
    CHECK_OK(search_batch(g_hnsw, g_vectors, 20, NULL, 0, 2, &batch));
    int self = 1;
    for (size_t i = 0; i < 20; i++) self &= batch.counts[i] == K && batch.ids[i * K] == i;
    CHECK(self);
    /* k other than K (rows of k entries), and k above the pack's size. */
    enum { N = 6, K2 = 3 };
    uint64_t ids[N * K2];
    float scores[N * K2];
    size_t counts[N];
    CHECK_OK(vpack_index_search_batch(g_hnsw, g_queries, N, DIM, K2, NULL, 0, 2, ids, scores,
                                      counts));
    int rows_ok = 1;
    for (size_t i = 0; i < N; i++) {
        uint64_t one_ids[K2];
        float one_scores[K2];
        size_t n = 0;
        rows_ok &= vpack_index_search_ef(g_hnsw, &g_queries[i * DIM], DIM, K2, NULL, 0, one_ids,
                                         one_scores, &n) == VPACK_OK;
        rows_ok &= counts[i] == n && n == K2 &&
                   memcmp(&ids[i * K2], one_ids, sizeof one_ids) == 0 &&
                   memcmp(&scores[i * K2], one_scores, sizeof one_scores) == 0;
    }
    CHECK(rows_ok);
    /* k = 0: every count 0, the arrays may be NULL. */
    size_t zero_counts[N] = {9, 9, 9, 9, 9, 9};
    CHECK_OK(vpack_index_search_batch(g_hnsw, g_queries, N, DIM, 0, NULL, 0, 2, NULL, NULL,
                                      zero_counts));
    CHECK(zero_counts[0] == 0 && zero_counts[N - 1] == 0);
    /* n = 0: nothing to do, every array may be NULL. */
    CHECK_OK(vpack_index_search_batch(g_hnsw, NULL, 0, DIM, K, NULL, 0, 0, NULL, NULL, NULL));
    group_end();
}

static void test_vectors(void) {
    group_begin("vpack_index_vectors");
    /* Cosine packs store each row L2-normalised. */
    const float *rows = NULL;
    size_t count = 0, dim = 0;
    CHECK_OK(vpack_index_vectors(g_hnsw, &rows, &count, &dim));
    int same = rows != NULL && count == g_count && dim == DIM;
    for (size_t i = 0; i < g_count && same; i++) {
        double norm = 0;
        for (size_t d = 0; d < DIM; d++) norm += (double)g_vectors[i * DIM + d] * g_vectors[i * DIM + d];
        norm = sqrt(norm);
        for (size_t d = 0; d < DIM; d++) {
            if (fabs(rows[i * DIM + d] - g_vectors[i * DIM + d] / norm) > 1e-6) same = 0;
        }
    }
    CHECK(same);
    const float *flat_rows = NULL;
    CHECK_OK(vpack_index_vectors(g_flat, &flat_rows, &count, &dim));
    CHECK(flat_rows != NULL && count == g_count &&
          memcmp(flat_rows, rows, g_count * DIM * sizeof *rows) == 0);
    /* The pointer stays valid, and the rows unchanged, while the handle lives: a copy taken
     * now still matches after searches, a batch, serialisation and verification, and a
     * second call gives the same pointer. */
    float *copy = malloc(g_count * DIM * sizeof *copy);
    if (CHECK(copy != NULL) && rows != NULL) {
        memcpy(copy, rows, g_count * DIM * sizeof *copy);
        static results r;
        CHECK_OK(search_each(g_hnsw, g_queries, g_nq, "{\"c\":3}", 0, &r));
        CHECK_OK(search_batch(g_hnsw, g_queries, g_nq, NULL, 256, 2, &r));
        vpack_bytes bytes = {NULL, 0};
        CHECK_OK(vpack_index_to_bytes(g_hnsw, &bytes));
        vpack_bytes_free(&bytes);
        CHECK_OK(vpack_index_verify(g_hnsw));
        const float *again = NULL;
        CHECK_OK(vpack_index_vectors(g_hnsw, &again, &count, &dim));
        CHECK(again == rows);
        CHECK(memcmp(copy, rows, g_count * DIM * sizeof *copy) == 0);
    }
    free(copy);
    /* l2 and dot packs store the rows as given. */
    static const char *const metrics[2] = {"l2", "dot"};
    for (int m = 0; m < 2; m++) {
        char opts[160];
        snprintf(opts, sizeof opts,
                 "{\"dimension\":%d,\"metric\":\"%s\",\"index\":{\"kind\":\"hnsw\",\"m\":8,"
                 "\"ef_construction\":32}}",
                 DIM, metrics[m]);
        vpack_index *idx = build(opts, g_vectors, 300, DIM);
        if (!CHECK(idx != NULL)) continue;
        const float *r = NULL;
        CHECK_OK(vpack_index_vectors(idx, &r, &count, &dim));
        CHECK(r != NULL && count == 300 && dim == DIM &&
              memcmp(r, g_vectors, 300 * DIM * sizeof *r) == 0);
        vpack_index_free(idx);
    }
    /* A codes-only pack stores no f32 rows: NOT_FOUND, outputs untouched, and it still
       answers (row 7's own vector finds row 7 first). */
    vpack_index *only = build("{\"dimension\":32,"
                              "\"index\":{\"codes\":\"int8\",\"codes_only\":true}}",
                              g_vectors, 300, DIM);
    if (CHECK(only != NULL)) {
        const float *r = (const float *)&count;
        size_t c = 77, d = 77;
        CHECK(vpack_index_vectors(only, &r, &c, &d) == VPACK_E_NOT_FOUND);
        CHECK(r == (const float *)&count && c == 77 && d == 77);
        uint64_t ids[3];
        float scores[3];
        size_t n = 0;
        CHECK_OK(vpack_index_search(only, &g_vectors[7 * DIM], DIM, 3, ids, scores, &n));
        CHECK(n == 3 && ids[0] == 7);
        CHECK_OK(vpack_index_verify(only));
        vpack_index_free(only);
    }
    group_end();
}

/* g_hnsw's answers for each of g_filters at ef 0 and ef 256, filled by test_saved. */
static results g_reference[N_FILTERS][2];

/* `idx` answers every query at ef 0 and 256, with each of g_filters, as g_hnsw did. */
static int answers_like_memory(const vpack_index *idx) {
    static results a;
    int ok = 1;
    for (size_t f = 0; f < N_FILTERS; f++) {
        for (size_t e = 0; e < 2; e++) {
            ok &= search_each(idx, g_queries, g_filter_nq[f], g_filters[f], e * 256, &a) ==
                  VPACK_OK;
            ok &= same_results(&a, &g_reference[f][e], g_filter_nq[f]);
        }
    }
    return ok;
}

static void test_saved(void) {
    group_begin("a saved hnsw pack opened lazily answers like the in-memory one");
    for (size_t f = 0; f < N_FILTERS; f++) {
        for (size_t e = 0; e < 2; e++) {
            CHECK_OK(search_each(g_hnsw, g_queries, g_filter_nq[f], g_filters[f], e * 256,
                                 &g_reference[f][e]));
        }
    }
    CHECK_OK(vpack_index_save(g_hnsw, g_path));
    size_t len = 0;
    uint8_t *data = read_whole(g_path, &len);
    CHECK(data != NULL && len == g_hnsw_bytes.len && memcmp(data, g_hnsw_bytes.data, len) == 0);
    free(data);
    /* Open without VPACK_OPEN_VERIFY: the first searches check the blocks they use. */
    vpack_index *lazy = NULL;
    CHECK_OK(vpack_index_open(g_path, 0, &lazy));
    if (lazy != NULL) {
        CHECK(answers_like_memory(lazy));
        static results a;
        CHECK_OK(search_batch(lazy, g_queries, g_nq, NULL, 0, 2, &a));
        CHECK(same_results(&a, &g_reference[0][0], g_nq));
        for (size_t j = 0; j < a.counts[0]; j++) CHECK(chunk_is(lazy, a.ids[j]));
        char want[160];
        snprintf(want, sizeof want, "\"ef_search\":64,\"kind\":\"hnsw\",\"m\":12}");
        CHECK(manifest_has(lazy, want));
        CHECK_OK(vpack_index_verify(lazy));
    }
    vpack_index_free(lazy);
    /* A fresh handle whose first call is a batch on 2 threads (they meet the unchecked
     * blocks together), then vectors. */
    lazy = NULL;
    CHECK_OK(vpack_index_open(g_path, 0, &lazy));
    if (lazy != NULL) {
        static results a;
        CHECK_OK(search_batch(lazy, g_queries, g_nq, g_filters[1], 256, 2, &a));
        CHECK(same_results(&a, &g_reference[1][1], g_nq));
        const float *m = NULL, *r = NULL;
        size_t c1 = 0, c2 = 0, d1 = 0, d2 = 0;
        CHECK_OK(vpack_index_vectors(lazy, &m, &c1, &d1));
        CHECK_OK(vpack_index_vectors(g_hnsw, &r, &c2, &d2));
        CHECK(m != NULL && r != NULL && c1 == c2 && d1 == d2 &&
              memcmp(m, r, c1 * d1 * sizeof *m) == 0);
    }
    vpack_index_free(lazy);
    /* A fresh handle whose first call is vpack_index_vectors. */
    lazy = NULL;
    CHECK_OK(vpack_index_open(g_path, 0, &lazy));
    if (lazy != NULL) {
        const float *m = NULL;
        size_t c = 0, d = 0;
        CHECK_OK(vpack_index_vectors(lazy, &m, &c, &d));
        CHECK(m != NULL && c == g_count && d == DIM);
        CHECK(answers_like_memory(lazy));
    }
    vpack_index_free(lazy);
    /* VPACK_OPEN_VERIFY checks everything up front, the graph included. */
    vpack_index *verified = NULL;
    CHECK_OK(vpack_index_open(g_path, VPACK_OPEN_VERIFY, &verified));
    if (verified != NULL) CHECK(answers_like_memory(verified));
    vpack_index_free(verified);
    /* From bytes (copied and fully verified). */
    vpack_index *copy = NULL;
    CHECK_OK(vpack_index_from_bytes(g_hnsw_bytes.data, g_hnsw_bytes.len, &copy));
    if (copy != NULL) {
        CHECK(answers_like_memory(copy));
        vpack_bytes again = {NULL, 0};
        CHECK_OK(vpack_index_to_bytes(copy, &again));
        CHECK(again.len == g_hnsw_bytes.len &&
              memcmp(again.data, g_hnsw_bytes.data, again.len) == 0);
        vpack_bytes_free(&again);
    }
    vpack_index_free(copy);
    group_end();
}

static void test_small_packs(void) {
    group_begin("small and degenerate hnsw packs");
    char opts[192];
    snprintf(opts, sizeof opts, "{\"dimension\":%d,\"index\":{\"kind\":\"hnsw\",\"m\":4}}", DIM);
    static const size_t sizes[] = {0, 1, 2, 9};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        vpack_index *idx = build(opts, g_vectors, n, DIM);
        if (!CHECK(idx != NULL)) continue;
        CHECK(manifest_has(idx, "\"kind\":\"hnsw\""));
        static results r, e;
        CHECK_OK(search_each(idx, g_queries, 5, NULL, 0, &r));
        CHECK(well_formed(&r, 5, n < K ? n : K, n));
        CHECK_OK(search_batch(idx, g_queries, 5, "{\"c\":{\"$gte\":0}}", 3, 2, &e));
        CHECK(well_formed(&e, 5, n < K ? n : K, n));
        CHECK_OK(search_each(idx, g_queries, 5, "{\"c\":{\"$gte\":0}}", 3, &r));
        CHECK(same_results(&r, &e, 5));
        const float *rows = NULL;
        size_t count = 99, dim = 0;
        CHECK_OK(vpack_index_vectors(idx, &rows, &count, &dim));
        CHECK(count == n && dim == DIM && (n == 0 || rows != NULL));
        CHECK_OK(vpack_index_verify(idx));
        vpack_bytes bytes = {NULL, 0};
        vpack_index *copy = NULL;
        CHECK_OK(vpack_index_to_bytes(idx, &bytes));
        CHECK_OK(vpack_index_from_bytes(bytes.data, bytes.len, &copy));
        if (copy != NULL) {
            CHECK_OK(search_each(copy, g_queries, 5, "{\"c\":{\"$gte\":0}}", 3, &e));
            CHECK(same_results(&r, &e, 5));
        }
        vpack_index_free(copy);
        vpack_bytes_free(&bytes);
        vpack_index_free(idx);
    }
    /* Duplicate rows: n_out is min(k, len) (vpack.h, vpack_index_search) whatever the
     * vectors, so k distinct ids with equal scores (up to rounding). */
    static const size_t copies[][2] = {{30, 1}, {200, 1}, {600, 10}}; /* rows, distinct */
    for (size_t c = 0; c < sizeof copies / sizeof copies[0]; c++) {
        size_t rows = copies[c][0], distinct = copies[c][1];
        float *dup = malloc(rows * DIM * sizeof *dup);
        if (!CHECK(dup != NULL)) continue;
        for (size_t i = 0; i < rows; i++) {
            memcpy(&dup[i * DIM], &g_vectors[(i % distinct) * DIM], DIM * sizeof *dup);
        }
        vpack_index *idx = build(opts, dup, rows, DIM);
        if (CHECK(idx != NULL)) {
            static results r;
            CHECK_OK(search_each(idx, g_queries, g_nq, NULL, 0, &r));
            size_t short_of_k = 0, fewest = K;
            for (size_t q = 0; q < g_nq; q++) {
                if (r.counts[q] < K) short_of_k++;
                if (r.counts[q] < fewest) fewest = r.counts[q];
            }
            char note[200];
            snprintf(note, sizeof note,
                     "hnsw m 4, %zu rows (%zu distinct vectors): %zu of %zu queries got fewer "
                     "than k = %d hits (as few as %zu)",
                     rows, distinct, short_of_k, g_nq, K, fewest);
            KNOWN_GAP(short_of_k == 0, note);
            int tied = 1;
            for (size_t q = 0; q < g_nq && distinct == 1; q++) {
                if (r.counts[q] > 0) {
                    tied &= fabsf(r.scores[q * K] - r.scores[q * K + r.counts[q] - 1]) < 1e-6f;
                }
            }
            CHECK(tied);
        }
        vpack_index_free(idx);
        free(dup);
    }
    /* m = 2 (the smallest) still finds most of the exact top k. */
    snprintf(opts, sizeof opts,
             "{\"dimension\":%d,\"index\":{\"kind\":\"hnsw\",\"m\":2,\"ef_construction\":64}}",
             DIM);
    vpack_index *thin = build(opts, g_vectors, 600, DIM);
    snprintf(opts, sizeof opts, "{\"dimension\":%d}", DIM);
    vpack_index *exact = build(opts, g_vectors, 600, DIM);
    if (CHECK(thin != NULL && exact != NULL)) {
        static results h, f;
        CHECK_OK(search_each(thin, g_queries, g_nq, NULL, 512, &h));
        CHECK_OK(search_each(exact, g_queries, g_nq, NULL, 0, &f));
        double r = recall(&h, &f, g_nq);
        printf("  m 2, 600 rows: recall@10 %.4f at ef 512\n", r);
        CHECK(well_formed(&h, g_nq, K, 600) && r >= 0.8);
    }
    vpack_index_free(thin);
    vpack_index_free(exact);
    group_end();
}

/* l2 and dot metrics: recall against their own flat packs. */
static void test_metrics(void) {
    group_begin("hnsw with the l2 and dot metrics");
    size_t n = g_count < 2000 ? g_count : 2000;
    static const char *const metrics[2] = {"l2", "dot"};
    for (int m = 0; m < 2; m++) {
        char opts[192];
        hnsw_options(opts, sizeof opts, metrics[m], 2);
        vpack_index *h = build(opts, g_vectors, n, DIM);
        snprintf(opts, sizeof opts, "{\"dimension\":%d,\"metric\":\"%s\"}", DIM, metrics[m]);
        vpack_index *f = build(opts, g_vectors, n, DIM);
        if (CHECK(h != NULL && f != NULL)) {
            static results hr, fr, hb;
            CHECK_OK(search_each(h, g_queries, g_nq, NULL, 0, &hr));
            CHECK_OK(search_each(f, g_queries, g_nq, NULL, 0, &fr));
            double r = recall(&hr, &fr, g_nq);
            printf("  %s, %zu rows: recall@10 %.4f at the default ef\n", metrics[m], n, r);
            CHECK(well_formed(&hr, g_nq, K, n) && r >= 0.9);
            CHECK_OK(search_batch(h, g_queries, g_nq, NULL, 0, 2, &hb));
            CHECK(same_results(&hr, &hb, g_nq));
        }
        vpack_index_free(h);
        vpack_index_free(f);
    }
    group_end();
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        g_quick = 1;
        g_count = 600;
        g_nq = 12;
        g_ef_construction = 40;
        g_nq_selective = 4;
    }
    group_begin("setup");
    int ready = CHECK(setup());
    group_end();
    if (ready) {
        test_build();
        if (g_flat != NULL && g_hnsw != NULL && g_hnsw_bytes.data != NULL) {
            test_manifest();
            test_recall();
            test_filters();
            test_batch();
            test_vectors();
            test_saved();
        }
        test_small_packs();
        test_metrics();
    }
    teardown();
    if (g_dir[0] != '\0' && rmdir(g_dir) != 0) {
        printf("FAIL: temporary directory %s is not empty at the end\n", g_dir);
        g_failed++;
    }
    return finish_report();
}
