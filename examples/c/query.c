/* query: search a .vpack pack from C.
 *
 *   query PACK "question" [K]
 *
 * Embeds the question with the embedder the pack records (the same model that embedded
 * its chunks) and prints the K best chunks (default 3): score, path and text. Every call
 * is checked; a failure prints the library's message ("CODE|message") and exits 1.
 *
 * A pack built with a model needs ONNX Runtime and the model's files:
 *   eval "$(vpack config --runtime PACK)"   # sets ORT_DYLIB_PATH and VPACK_MODEL_PATH
 * A pack built with --embedder hash needs neither.
 *
 * Build against an installed vpack (pip install vpack-search): see Makefile and
 * CMakeLists.txt beside this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpack.h"

/* Prints what failed and the calling thread's last error, then returns 1. */
static int fail(const char *what, vpack_status status) {
    char msg[1024];
    vpack_last_error_message(msg, sizeof msg); /* truncated to fit; always NUL-terminated */
    fprintf(stderr, "query: %s failed: %s (%s)\n", what, msg, vpack_status_str(status));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s PACK \"question\" [K]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1], *question = argv[2];
    size_t k = argc == 4 ? (size_t)strtoul(argv[3], NULL, 10) : 3;
    if (k == 0 || k > 100) {
        fprintf(stderr, "query: K must be 1..100\n");
        return 2;
    }
    if (vpack_abi_version() != VPACK_ABI_VERSION) {
        fprintf(stderr, "query: libvpack ABI %u, vpack.h ABI %u\n", (unsigned)vpack_abi_version(),
                (unsigned)VPACK_ABI_VERSION);
        return 1;
    }

    int rc = 1;
    vpack_index *pack = NULL;
    vpack_embedder *emb = NULL;
    float *vec = NULL;
    uint64_t ids[100];
    float scores[100];
    size_t dim = 0, n = 0;
    vpack_status st;

    if ((st = vpack_index_open(path, 0, &pack)) != VPACK_OK) {
        rc = fail("vpack_index_open", st);
        goto done;
    }
    if ((st = vpack_index_dimension(pack, &dim)) != VPACK_OK) {
        rc = fail("vpack_index_dimension", st);
        goto done;
    }
    /* The pack's recorded embedder: for a model, found through VPACK_MODEL_PATH, run by
     * the ONNX Runtime that ORT_DYLIB_PATH names (or vpack_runtime_init was given). */
    if ((st = vpack_index_embedder(pack, &emb)) != VPACK_OK) {
        rc = fail("vpack_index_embedder", st);
        goto done;
    }
    if ((vec = malloc(dim * sizeof *vec)) == NULL) {
        fprintf(stderr, "query: out of memory\n");
        goto done;
    }
    const uint8_t *texts[] = {(const uint8_t *)question};
    size_t lens[] = {strlen(question)};
    if ((st = vpack_embedder_embed(emb, texts, lens, 1, vec, dim)) != VPACK_OK) {
        rc = fail("vpack_embedder_embed", st);
        goto done;
    }
    if ((st = vpack_index_search(pack, vec, dim, k, ids, scores, &n)) != VPACK_OK) {
        rc = fail("vpack_index_search", st);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        vpack_str text, meta; /* borrowed: valid while the pack is open */
        if ((st = vpack_index_chunk(pack, ids[i], &text, &meta)) != VPACK_OK) {
            rc = fail("vpack_index_chunk", st);
            goto done;
        }
        int shown = text.len > 70 ? 70 : (int)text.len; /* bytes; may cut a UTF-8 sequence */
        printf("%.3f  %.*s\n       %.*s%s\n", scores[i], (int)meta.len, (const char *)meta.data, shown,
               (const char *)text.data, (size_t)shown < text.len ? "..." : "");
    }
    rc = 0;

done:
    free(vec);
    vpack_embedder_free(emb); /* NULL is fine */
    vpack_index_free(pack);
    return rc;
}
