/*
 * Pack sets from C: vpack_set_write, vpack_index_open of a set file, and every index
 * function on the set handle. A set of flat shards must answer exactly like one flat pack
 * built from the same chunks in shard order (ids and score bits, every k tried, filters,
 * search_ef, search_batch), map global chunk ids to the right shard, and report what
 * vpack.h says differs (vectors, to_bytes, save). Refusals: NULL and out-of-range
 * arguments, a missing shard, shards that disagree (named in the message).
 *
 * Build (see tests/c/run.sh, which runs it under valgrind and, built with
 * -fsanitize=address,undefined, natively):
 *   cc -std=c11 -Wall -Wextra -Werror -pedantic -I include tests/c/test_sets.c \
 *      -L<libdir> -lvpack -Wl,-rpath,<libdir>
 *
 * Data: COUNT rows of dimension DIM, every 7th row a copy of an earlier one (ties across
 * shards), metadata {"g": i % 3}; and a second set of BIG_COUNT rows of BIG_DIM (16 MiB of
 * vectors, so its queries fan out over the library's worker pool).
 *
 * Ends with "N passed, M failed"; exits 1 when any check failed.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIM 32
#define COUNT 9000
#define NSHARDS 5
#define NQ 4
#define BATCH 1000
#define MANIFEST "{\"embedder\":{\"kind\":\"hash\",\"dimension\":32}}"

#define BIG_DIM 256
#define BIG_COUNT 16400
static const size_t g_cuts[NSHARDS + 1] = {0, 1500, 4000, 4000, 7100, COUNT};
static float *g_vectors;
static float g_queries[NQ * DIM];
static char g_dir[4096];
static char g_one[4200];
static char g_set[4200];
static char g_shards[NSHARDS][4200];
static char g_odd[4200]; /* a pack of another dimension */
static vpack_index *g_pack;
static vpack_index *g_setx;

/* JSON for chunks [from, to): {"text":"chunk i word<i%7> tag<i%13>","metadata":{"g":i%3}}. */
static char *chunks_json(size_t from, size_t to) {
    size_t cap = 64 + (to - from) * 64, len = 0;
    char *json = malloc(cap);
    if (json == NULL) return NULL;
    json[len++] = '[';
    for (size_t i = from; i < to; i++) {
        len += (size_t)snprintf(json + len, cap - len, "%s{\"text\":\"chunk %zu word%zu tag%zu\",\"metadata\":{\"g\":%zu}}",
                                i > from ? "," : "", i, i % 7, i % 13, i % 3);
    }
    json[len++] = ']';
    json[len] = '\0';
    return json;
}

/* Writes rows [from, to) of `vecs` (dimension `dim`) as a flat pack at `path`. */
static int write_pack(const char *path, const float *vecs, size_t from, size_t to, size_t dim,
                      const char *manifest) {
    char options[128];
    snprintf(options, sizeof options,
             "{\"dimension\":%zu,\"metric\":\"cosine\",\"index\":{\"kind\":\"flat\",\"lexical\":{}}}",
             dim);
    vpack_builder *b = NULL;
    if (vpack_builder_new(options, &b) != VPACK_OK) return 0;
    for (size_t at = from; at < to; at += BATCH) {
        size_t end = at + BATCH < to ? at + BATCH : to;
        char *json = chunks_json(at, end);
        vpack_status s = json == NULL ? VPACK_E_LIMIT
                                      : vpack_builder_add(b, (const uint8_t *)json, strlen(json),
                                                          &vecs[at * dim], end - at, dim);
        free(json);
        if (s != VPACK_OK) {
            vpack_builder_free(b);
            return 0;
        }
    }
    vpack_index *idx = NULL;
    if (vpack_builder_finish_file(b, manifest, path, &idx) != VPACK_OK) return 0;
    vpack_index_free(idx);
    return 1;
}

static int setup(void) {
    uint64_t seed = 0x53455453; /* "SETS" */
    g_vectors = malloc((size_t)COUNT * DIM * sizeof *g_vectors);
    if (g_vectors == NULL) return 0;
    for (size_t i = 0; i < COUNT; i++) {
        for (size_t d = 0; d < DIM; d++) {
            g_vectors[i * DIM + d] =
                i % 7 == 6 ? g_vectors[(i / 2) * DIM + d] : rand_unit(&seed) + 0.01f;
        }
    }
    for (size_t i = 0; i < NQ * DIM; i++) g_queries[i] = rand_unit(&seed);
    /* Query 0 is a stored row that has a copy: a tie across shards. */
    memcpy(g_queries, &g_vectors[(6 / 2) * DIM], DIM * sizeof(float));
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/vpack-sets-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(g_dir) == NULL) {
        g_dir[0] = '\0';
        return 0;
    }
    snprintf(g_one, sizeof g_one, "%s/one.vpack", g_dir);
    snprintf(g_set, sizeof g_set, "%s/all.vpackset", g_dir);
    snprintf(g_odd, sizeof g_odd, "%s/odd.vpack", g_dir);
    if (!write_pack(g_one, g_vectors, 0, COUNT, DIM, MANIFEST)) return 0;
    for (size_t s = 0; s < NSHARDS; s++) {
        snprintf(g_shards[s], sizeof g_shards[s], "%s/part-%zu.vpack", g_dir, s);
        if (!write_pack(g_shards[s], g_vectors, g_cuts[s], g_cuts[s + 1], DIM, MANIFEST)) return 0;
    }
    if (!write_pack(g_odd, g_vectors, 0, 10, 16, NULL)) return 0;
    return vpack_index_open(g_one, 0, &g_pack) == VPACK_OK;
}

static void test_write_and_open(void) {
    group_begin("sets: vpack_set_write and vpack_index_open");
    const char *paths[NSHARDS];
    for (size_t s = 0; s < NSHARDS; s++) paths[s] = g_shards[s];
    CHECK_OK(vpack_set_write(g_set, paths, NSHARDS));
    CHECK_OK(vpack_index_open(g_set, 0, &g_setx));
    if (g_setx == NULL) {
        group_end();
        return;
    }
    size_t len = 0, dim = 0;
    CHECK_OK(vpack_index_len(g_setx, &len));
    CHECK(len == COUNT);
    CHECK_OK(vpack_index_dimension(g_setx, &dim));
    CHECK(dim == DIM);
    vpack_str m = {0};
    CHECK_OK(vpack_index_manifest(g_setx, &m));
    char *text = malloc(m.len + 1);
    if (CHECK(text != NULL)) {
        memcpy(text, m.data, m.len);
        text[m.len] = '\0';
        CHECK(strstr(text, "\"chunk_count\":9000") != NULL);
        CHECK(strstr(text, "\"set\":{") != NULL);
        CHECK(strstr(text, "\"path\":\"part-2.vpack\"") != NULL);
        free(text);
    }
    CHECK_OK(vpack_index_verify(g_setx));
    vpack_index *verified = NULL;
    CHECK_OK(vpack_index_open(g_set, VPACK_OPEN_VERIFY, &verified));
    vpack_index_free(verified);
    vpack_embedder *e = NULL;
    CHECK_OK(vpack_index_embedder(g_setx, &e));
    vpack_embedder_free(e);
    group_end();
}

static int same_hits(const uint64_t *ia, const float *sa, size_t na, const uint64_t *ib,
                     const float *sb, size_t nb) {
    return na == nb && memcmp(ia, ib, na * sizeof *ia) == 0 && memcmp(sa, sb, na * sizeof *sa) == 0;
}

static void test_searches(void) {
    group_begin("sets: searches equal one pack of the same chunks");
    static const size_t ks[] = {0, 1, 2, 3, 10, 100, COUNT, COUNT + 3};
    static const char *filters[] = {NULL, "{\"g\":1}", "{\"g\":{\"$in\":[0,2]}}", "{\"g\":9}"};
    size_t cap = COUNT + 3;
    uint64_t *ia = malloc(cap * sizeof *ia), *ib = malloc(cap * sizeof *ib);
    float *sa = malloc(cap * sizeof *sa), *sb = malloc(cap * sizeof *sb);
    if (!CHECK(ia && ib && sa && sb)) goto out;
    for (size_t q = 0; q < NQ; q++) {
        for (size_t f = 0; f < sizeof filters / sizeof *filters; f++) {
            for (size_t x = 0; x < sizeof ks / sizeof *ks; x++) {
                size_t na = 0, nb = 0, k = ks[x];
                CHECK_OK(vpack_index_search_ef(g_pack, &g_queries[q * DIM], DIM, k, filters[f], 0,
                                               ia, sa, &na));
                CHECK_OK(vpack_index_search_ef(g_setx, &g_queries[q * DIM], DIM, k, filters[f],
                                               0, ib, sb, &nb));
                if (!CHECK(same_hits(ia, sa, na, ib, sb, nb))) {
                    printf("  query %zu filter %s k %zu differs\n", q, filters[f] ? filters[f] : "none", k);
                }
            }
        }
        size_t na = 0, nb = 0;
        CHECK_OK(vpack_index_search(g_pack, &g_queries[q * DIM], DIM, 10, ia, sa, &na));
        CHECK_OK(vpack_index_search(g_setx, &g_queries[q * DIM], DIM, 10, ib, sb, &nb));
        CHECK(same_hits(ia, sa, na, ib, sb, nb));
        CHECK_OK(vpack_index_search_filtered(g_setx, &g_queries[q * DIM], DIM, 10, "{\"g\":2}", ib,
                                             sb, &nb));
        CHECK_OK(vpack_index_search_filtered(g_pack, &g_queries[q * DIM], DIM, 10, "{\"g\":2}", ia,
                                             sa, &na));
        CHECK(same_hits(ia, sa, na, ib, sb, nb));
    }
    /* Ties go to the lower global id: query 0 is row 3, which rows 6, 13, 27, ... copy
     * (row i % 7 == 6 copies row i / 2), in shards 0, 1 and 3. */
    static const uint64_t tied[] = {3, 6, 13, 27, 55, 111, 223, 447, 895, 1791, 3583, 7167};
    size_t n = 0;
    CHECK_OK(vpack_index_search(g_setx, g_queries, DIM, 12, ib, sb, &n));
    CHECK(n == 12 && memcmp(ib, tied, sizeof tied) == 0);
    for (size_t i = 1; i < n; i++) CHECK(sb[i] == sb[0]);
    /* Batches: equal to single searches. */
    uint64_t bi[NQ * 20];
    float bs[NQ * 20];
    size_t counts[NQ];
    CHECK_OK(vpack_index_search_batch(g_setx, g_queries, NQ, DIM, 20, "{\"g\":0}", 0, 2, bi, bs,
                                      counts));
    for (size_t q = 0; q < NQ; q++) {
        size_t na = 0;
        CHECK_OK(vpack_index_search_filtered(g_pack, &g_queries[q * DIM], DIM, 20, "{\"g\":0}", ia,
                                             sa, &na));
        CHECK(same_hits(ia, sa, na, &bi[q * 20], &bs[q * 20], counts[q]));
    }
    /* The query checks of a single pack. */
    float zero[DIM] = {0};
    CHECK_STATUS(vpack_index_search(g_setx, zero, DIM, 3, ib, sb, &n), VPACK_E_INVALID_ARG);
    CHECK_STATUS(vpack_index_search(g_setx, g_queries, DIM - 1, 3, ib, sb, &n),
                 VPACK_E_DIMENSION_MISMATCH);
    CHECK_STATUS(vpack_index_search_ef(g_setx, g_queries, DIM, 3, NULL, 70000, ib, sb, &n),
                 VPACK_E_INVALID_ARG);
    CHECK_STATUS(vpack_index_search_filtered(g_setx, g_queries, DIM, 3, "{\"g\":", ib, sb, &n),
                 VPACK_E_INVALID_JSON);
out:
    free(ia);
    free(ib);
    free(sa);
    free(sb);
    group_end();
}

/* Lexical and hybrid on the set: BM25 with the statistics of all shards, so the one
 * pack's ids and score bits. */
static void test_modes(void) {
    group_begin("sets: vpack_index_search_mode, lexical and hybrid");
    const char *texts[] = {"word3", "tag5 word1", "chunk", "tag12 tag12 word6", "absent"};
    const char *filters[] = {NULL, "{\"g\":2}"};
    const uint32_t modes[] = {VPACK_MODE_LEXICAL, VPACK_MODE_HYBRID};
    const size_t ks[] = {1, 10, 150};
    uint64_t ia[150], ib[150];
    float sa[150], sb[150];
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        for (size_t m = 0; m < 2; m++) {
            for (size_t f = 0; f < 2; f++) {
                for (size_t j = 0; j < 3; j++) {
                    size_t na = 0, nb = 0;
                    const float *q = &g_queries[(t % NQ) * DIM];
                    CHECK_OK(vpack_index_search_mode(g_pack, modes[m], q, DIM, (const uint8_t *)texts[t],
                                                     strlen(texts[t]), ks[j], filters[f], 0, ia,
                                                     sa, &na));
                    CHECK_OK(vpack_index_search_mode(g_setx, modes[m], q, DIM, (const uint8_t *)texts[t],
                                                     strlen(texts[t]), ks[j], filters[f], 0, ib,
                                                     sb, &nb));
                    CHECK(same_hits(ia, sa, na, ib, sb, nb));
                    CHECK(t == 4 && m == 0 ? na == 0 : na == ks[j]);
                }
            }
        }
    }
    group_end();
}

static void test_chunks_and_differences(void) {
    group_begin("sets: global chunk ids, and what differs from one pack");
    static const uint64_t ids[] = {0, 1499, 1500, 3999, 4000, 7099, 7100, COUNT - 1};
    size_t n = sizeof ids / sizeof *ids;
    vpack_str ta[8], ma[8], tb[8], mb[8];
    CHECK_OK(vpack_index_chunks(g_pack, ids, n, ta, ma));
    CHECK_OK(vpack_index_chunks(g_setx, ids, n, tb, mb));
    for (size_t i = 0; i < n; i++) {
        CHECK(ta[i].len == tb[i].len && memcmp(ta[i].data, tb[i].data, ta[i].len) == 0);
        CHECK(ma[i].len == mb[i].len && memcmp(ma[i].data, mb[i].data, ma[i].len) == 0);
        vpack_str t, m;
        CHECK_OK(vpack_index_chunk(g_setx, ids[i], &t, &m));
        CHECK(t.len == ta[i].len && memcmp(t.data, ta[i].data, t.len) == 0);
    }
    vpack_str t, m;
    CHECK_STATUS(vpack_index_chunk(g_setx, COUNT, &t, &m), VPACK_E_NOT_FOUND);
    const float *data = NULL;
    size_t count = 0, dim = 0;
    CHECK_STATUS(vpack_index_vectors(g_setx, &data, &count, &dim), VPACK_E_NOT_FOUND);
    /* ... but the rows of any chunks, by global id, across shards. */
    CHECK_OK(vpack_index_vectors(g_pack, &data, &count, &dim));
    float rows[8 * DIM];
    CHECK_OK(vpack_index_rows(g_setx, ids, n, rows, n * DIM));
    for (size_t i = 0; i < n; i++) {
        CHECK(memcmp(&rows[i * DIM], &data[ids[i] * DIM], DIM * sizeof(float)) == 0);
    }
    const uint64_t past[] = {3, COUNT};
    CHECK_STATUS(vpack_index_rows(g_setx, past, 2, rows, 2 * DIM), VPACK_E_NOT_FOUND);
    CHECK_STATUS(vpack_index_rows(g_setx, ids, n, rows, n * DIM - 1), VPACK_E_INVALID_ARG);
    CHECK_STATUS(vpack_index_rows(g_setx, NULL, n, rows, n * DIM), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_index_rows(NULL, ids, n, rows, n * DIM), VPACK_E_NULL_ARG);
    CHECK_OK(vpack_index_rows(g_setx, NULL, 0, NULL, 0));
    vpack_bytes bytes = {0};
    CHECK_STATUS(vpack_index_to_bytes(g_setx, &bytes), VPACK_E_INVALID_ARG);
    CHECK(bytes.data == NULL);
    char copy[4300];
    snprintf(copy, sizeof copy, "%s/copy.vpack", g_dir);
    CHECK_STATUS(vpack_index_save(g_setx, copy), VPACK_E_INVALID_ARG);
    CHECK(access(copy, F_OK) != 0);
    /* A set of one shard has its shard's rows. */
    char single[4300];
    snprintf(single, sizeof single, "%s/single.vpackset", g_dir);
    const char *one[] = {g_shards[1]};
    CHECK_OK(vpack_set_write(single, one, 1));
    vpack_index *s1 = NULL;
    if (CHECK_OK(vpack_index_open(single, 0, &s1))) {
        const float *all = NULL;
        size_t all_count = 0;
        CHECK_OK(vpack_index_vectors(g_pack, &all, &all_count, &dim));
        CHECK_OK(vpack_index_vectors(s1, &data, &count, &dim));
        CHECK(count == 2500 && dim == DIM && all != NULL && data != NULL &&
              memcmp(data, &all[1500 * DIM], 2500 * DIM * sizeof(float)) == 0);
    }
    vpack_index_free(s1);
    unlink(single);
    group_end();
}

/* A set of 16 MiB of vectors fans each query out over the worker pool (threads that stay
 * alive until the process exits): still the same answers as one pack. */
static void test_fan_out(void) {
    group_begin("sets: a large set fans out and still answers as one pack");
    static const size_t cuts[] = {0, 4000, 9000, 12000, BIG_COUNT};
    float *rows = malloc((size_t)BIG_COUNT * BIG_DIM * sizeof *rows);
    char one[4300] = "", set[4300] = "", parts[4][4300];
    const char *paths[4];
    vpack_index *a = NULL, *b = NULL;
    if (!CHECK(rows != NULL)) goto out;
    uint64_t seed = 0x42494753; /* "BIGS" */
    for (size_t i = 0; i < (size_t)BIG_COUNT * BIG_DIM; i++) rows[i] = rand_unit(&seed);
    snprintf(one, sizeof one, "%s/big.vpack", g_dir);
    snprintf(set, sizeof set, "%s/big.vpackset", g_dir);
    CHECK(write_pack(one, rows, 0, BIG_COUNT, BIG_DIM, NULL));
    for (size_t s = 0; s < 4; s++) {
        snprintf(parts[s], sizeof parts[s], "%s/big-%zu.vpack", g_dir, s);
        CHECK(write_pack(parts[s], rows, cuts[s], cuts[s + 1], BIG_DIM, NULL));
        paths[s] = parts[s];
    }
    CHECK_OK(vpack_set_write(set, paths, 4));
    CHECK_OK(vpack_index_open(one, 0, &a));
    CHECK_OK(vpack_index_open(set, 0, &b));
    if (a != NULL && b != NULL) {
        uint64_t ia[50], ib[50];
        float sa[50], sb[50];
        for (size_t q = 0; q < 3; q++) {
            const float *query = &rows[(q * 5000 + 17) * BIG_DIM];
            const char *filter = q == 2 ? "{\"g\":1}" : NULL;
            size_t na = 0, nb = 0;
            CHECK_OK(vpack_index_search_filtered(a, query, BIG_DIM, 50, filter, ia, sa, &na));
            CHECK_OK(vpack_index_search_filtered(b, query, BIG_DIM, 50, filter, ib, sb, &nb));
            CHECK(na == 50 && same_hits(ia, sa, na, ib, sb, nb));
            CHECK(q == 2 || ib[0] == q * 5000 + 17);
        }
    }
out:
    vpack_index_free(a);
    vpack_index_free(b);
    free(rows);
    if (one[0] != '\0') unlink(one);
    if (set[0] != '\0') unlink(set);
    for (size_t s = 0; s < 4; s++) {
        snprintf(parts[s], sizeof parts[s], "%s/big-%zu.vpack", g_dir, s);
        unlink(parts[s]);
    }
    group_end();
}

/* The last error's text contains `needle`. */
static int last_error_has(const char *needle) {
    char msg[1024];
    vpack_last_error_message(msg, sizeof msg);
    return strstr(msg, needle) != NULL;
}

static void test_refusals(void) {
    group_begin("sets: refusals");
    const char *paths[NSHARDS];
    for (size_t s = 0; s < NSHARDS; s++) paths[s] = g_shards[s];
    char other[4300];
    snprintf(other, sizeof other, "%s/other.vpackset", g_dir);
    CHECK_STATUS(vpack_set_write(NULL, paths, 1), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_set_write(other, NULL, 1), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_set_write(other, NULL, 0), VPACK_E_INVALID_ARG);
    CHECK_STATUS(vpack_set_write("", paths, 1), VPACK_E_INVALID_ARG);
    const char *with_null[] = {g_shards[0], NULL};
    CHECK_STATUS(vpack_set_write(other, with_null, 2), VPACK_E_NULL_ARG);
    CHECK_STATUS(vpack_set_write(other, paths, (size_t)VPACK_MAX_SHARDS + 1), VPACK_E_LIMIT);
    CHECK_STATUS(vpack_set_write(other, paths, SIZE_MAX), VPACK_E_LIMIT);
    const char *twice[] = {g_shards[0], g_shards[0]};
    CHECK_STATUS(vpack_set_write(other, twice, 2), VPACK_E_INVALID_ARG);
    const char *mixed[] = {g_shards[0], g_odd};
    CHECK_STATUS(vpack_set_write(other, mixed, 2), VPACK_E_INVALID_ARG);
    CHECK(last_error_has("odd.vpack") && last_error_has("dimension"));
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/missing.vpack", g_dir);
    const char *gone[] = {g_shards[0], missing};
    CHECK_STATUS(vpack_set_write(other, gone, 2), VPACK_E_IO);
    CHECK(last_error_has("missing.vpack"));
    CHECK(access(other, F_OK) != 0);
    /* A shard missing at open is named; back in place, the set opens again. */
    char moved[4300];
    snprintf(moved, sizeof moved, "%s/moved.vpack", g_dir);
    CHECK(rename(g_shards[3], moved) == 0);
    vpack_index *idx = NULL;
    CHECK_STATUS(vpack_index_open(g_set, 0, &idx), VPACK_E_IO);
    CHECK(idx == NULL && last_error_has("part-3.vpack"));
    CHECK(rename(moved, g_shards[3]) == 0);
    CHECK_OK(vpack_index_open(g_set, 0, &idx));
    vpack_index_free(idx);
    CHECK_STATUS(vpack_index_open(g_set, 2, &idx), VPACK_E_INVALID_ARG);
    group_end();
}

int main(void) {
    group_begin("setup");
    int ready = CHECK(setup());
    group_end();
    if (ready) {
        test_write_and_open();
        if (g_setx != NULL) {
            test_searches();
            test_modes();
            test_chunks_and_differences();
        }
        test_fan_out();
        test_refusals();
    }
    vpack_index_free(g_setx);
    vpack_index_free(g_pack);
    free(g_vectors);
    if (g_dir[0] != '\0') {
        unlink(g_one);
        unlink(g_set);
        unlink(g_odd);
        for (size_t s = 0; s < NSHARDS; s++) unlink(g_shards[s]);
        if (rmdir(g_dir) != 0) {
            printf("FAIL: temporary directory %s is not empty at the end\n", g_dir);
            g_failed++;
        }
    }
    return finish_report();
}
