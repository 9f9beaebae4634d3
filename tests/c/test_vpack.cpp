// C++ consumer test for libvpack: the C header used from C++17 with RAII wrappers.
//
// Build (see tests/c/run.sh):
//   c++ -std=c++17 -Wall -Wextra -Werror -I include tests/c/test_vpack.cpp
//       -L<libdir> -lvpack -Wl,-rpath,<libdir> -pthread
//
// Ends with "N passed, M failed"; exits 1 when any check failed.
#include "vpack.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

int g_passed = 0;
int g_failed = 0;

bool check_impl(bool ok, const char *expr, const char *file, int line) {
    if (ok) {
        ++g_passed;
    } else {
        ++g_failed;
        std::printf("FAIL %s:%d: %s\n", file, line, expr);
        std::fflush(stdout);
    }
    return ok;
}

#define CHECK(cond) check_impl(static_cast<bool>(cond), #cond, __FILE__, __LINE__)

struct IndexDeleter {
    void operator()(vpack_index *p) const noexcept { vpack_index_free(p); }
};
struct BuilderDeleter {
    void operator()(vpack_builder *p) const noexcept { vpack_builder_free(p); }
};
using IndexPtr = std::unique_ptr<vpack_index, IndexDeleter>;
using BuilderPtr = std::unique_ptr<vpack_builder, BuilderDeleter>;

// Owns library-allocated bytes.
struct Bytes {
    vpack_bytes b{nullptr, 0};
    Bytes() = default;
    Bytes(const Bytes &) = delete;
    Bytes &operator=(const Bytes &) = delete;
    ~Bytes() { vpack_bytes_free(&b); }
};

std::string_view view(vpack_str s) {
    return {reinterpret_cast<const char *>(s.data), s.len};
}

std::string last_error() {
    std::string msg(vpack_last_error_message(nullptr, 0), '\0');
    vpack_last_error_message(msg.data(), msg.size());
    msg.pop_back();  // the NUL
    return msg;
}

constexpr size_t kDim = 4;

IndexPtr build_tiny() {
    vpack_builder *raw = nullptr;
    if (!CHECK(vpack_builder_new(R"({"dimension":4})", &raw) == VPACK_OK)) {
        return nullptr;
    }
    BuilderPtr builder(raw);
    const std::string chunks =
        R"([{"text":"north","metadata":{"dir":"n"}},{"text":"east"},{"text":"s\u00fcd"}])";
    const float vectors[3 * kDim] = {0, 1, 0, 0, 1, 0, 0, 0, 0, -1, 0.1f, 0};
    CHECK(vpack_builder_add(builder.get(), reinterpret_cast<const uint8_t *>(chunks.data()),
                            chunks.size(), vectors, 3, kDim) == VPACK_OK);
    vpack_index *out = nullptr;
    // finish consumes the builder whatever happens: release ownership first.
    vpack_status s = vpack_builder_finish(builder.release(), R"({"title":"cpp-test"})", &out);
    CHECK(s == VPACK_OK);
    return IndexPtr(out);
}

// A builder holding one chunk whose finish(manifest) must fail with `want`: checks the
// status, the last error (code and "CODE|" prefix) and that no handle was written. The
// builder is released to finish, which consumes it also on error (valgrind: no leak).
bool finish_fails(const char *options, const char *manifest, vpack_status want, int line) {
    vpack_builder *raw = nullptr;
    if (!check_impl(vpack_builder_new(options, &raw) == VPACK_OK, "vpack_builder_new",
                    __FILE__, line)) {
        return false;
    }
    BuilderPtr builder(raw);
    const std::string chunk = R"([{"text":"consumed","metadata":{"k":[1,2]}}])";
    const float vector[kDim] = {1, 0, 0, 0};
    bool ok = check_impl(vpack_builder_add(builder.get(),
                                           reinterpret_cast<const uint8_t *>(chunk.data()),
                                           chunk.size(), vector, 1, kDim) == VPACK_OK,
                         "vpack_builder_add", __FILE__, line);
    vpack_index *out = nullptr;
    const vpack_status s = vpack_builder_finish(builder.release(), manifest, &out);
    IndexPtr guard(out);  // freed should the library write one anyway
    const std::string prefix = std::to_string(want) + "|";
    const std::string msg = last_error();
    ok &= check_impl(s == want, "finish status", __FILE__, line);
    ok &= check_impl(vpack_last_error_code() == want, "last error code", __FILE__, line);
    ok &= check_impl(msg.size() > prefix.size() && msg.compare(0, prefix.size(), prefix) == 0,
                     "last error message is CODE|text", __FILE__, line);
    ok &= check_impl(out == nullptr, "no handle written on error", __FILE__, line);
    if (!ok) {
        std::printf("  manifest %s: status %d, message \"%s\"\n", manifest ? manifest : "NULL",
                    s, msg.c_str());
    }
    return ok;
}

#define CHECK_FINISH_FAILS(options, manifest, want) \
    finish_fails((options), (manifest), (want), __LINE__)

}  // namespace

int main() {
    CHECK(vpack_abi_version() == VPACK_ABI_VERSION);

    IndexPtr index = build_tiny();
    if (!CHECK(index != nullptr)) {
        std::printf("%d passed, %d failed\n", g_passed, g_failed);
        return 1;
    }
    size_t len = 0;
    CHECK(vpack_index_len(index.get(), &len) == VPACK_OK && len == 3);

    // Round trip through bytes into a second owned handle.
    Bytes bytes;
    CHECK(vpack_index_to_bytes(index.get(), &bytes.b) == VPACK_OK);
    IndexPtr copy;
    {
        vpack_index *raw = nullptr;
        CHECK(vpack_index_from_bytes(bytes.b.data, bytes.b.len, &raw) == VPACK_OK);
        copy.reset(raw);
    }
    CHECK(copy != nullptr);
    Bytes again;
    CHECK(copy && vpack_index_to_bytes(copy.get(), &again.b) == VPACK_OK);
    CHECK(again.b.len == bytes.b.len &&
          std::memcmp(again.b.data, bytes.b.data, bytes.b.len) == 0);

    // Search the copy: the query points "north".
    if (copy) {
        const float query[kDim] = {0, 2, 0, 0};
        std::vector<uint64_t> ids(5);
        std::vector<float> scores(5);
        size_t n = 0;
        CHECK(vpack_index_search(copy.get(), query, kDim, ids.size(), ids.data(),
                                 scores.data(), &n) == VPACK_OK);
        CHECK(n == 3);
        CHECK(ids[0] == 0 && std::fabs(scores[0] - 1.0f) < 1e-5f);
        CHECK(scores[0] >= scores[1] && scores[1] >= scores[2]);
        CHECK(ids[2] == 2);  // points the other way
        vpack_str text{}, meta{};
        CHECK(vpack_index_chunk(copy.get(), 0, &text, &meta) == VPACK_OK);
        CHECK(view(text) == "north" && view(meta) == R"({"dir":"n"})");
        CHECK(vpack_index_chunk(copy.get(), 2, &text, &meta) == VPACK_OK);
        CHECK(view(text) == "s\xc3\xbc" "d" && view(meta) == "{}");
        vpack_str manifest{};
        CHECK(vpack_index_manifest(copy.get(), &manifest) == VPACK_OK);
        CHECK(view(manifest).find(R"("title":"cpp-test")") != std::string_view::npos);
    }

    // The manifest given to finish: vpack adds the keys it owns; the caller may repeat
    // dimension and metric with the pack's values only.
    {
        vpack_builder *raw = nullptr;
        CHECK(vpack_builder_new(R"({"dimension":4,"metric":"l2"})", &raw) == VPACK_OK);
        vpack_index *out = nullptr;
        const char *manifest_in =
            R"({"metric":"l2","dimension":4,"embedder":{"kind":"hash","dimension":4}})";
        CHECK(vpack_builder_finish(raw, manifest_in, &out) == VPACK_OK);
        IndexPtr idx(out);
        vpack_str manifest{};
        CHECK(idx && vpack_index_manifest(idx.get(), &manifest) == VPACK_OK);
        CHECK(view(manifest) ==
              R"({"chunk_count":0,"dimension":4,"embedder":{"dimension":4,"kind":"hash"},)"
              R"("format_version":2,"index":{"kind":"flat"},"metric":"l2"})");
        CHECK(vpack_last_error_code() == VPACK_OK);
    }

    // finish errors; each consumes its builder.
    {
        const char *d4 = R"({"dimension":4})";
        CHECK_FINISH_FAILS(d4, R"({"chunk_count":1})", VPACK_E_INVALID_ARG);
        CHECK_FINISH_FAILS(d4, R"({"format_version":2})", VPACK_E_INVALID_ARG);
        CHECK_FINISH_FAILS(d4, R"({"index":{"kind":"flat"}})", VPACK_E_INVALID_ARG);
        CHECK_FINISH_FAILS(d4, R"({"dimension":5})", VPACK_E_INVALID_ARG);
        CHECK_FINISH_FAILS(d4, R"({"metric":"dot"})", VPACK_E_INVALID_ARG);
        CHECK_FINISH_FAILS(R"({"dimension":4,"metric":"dot"})", R"({"metric":"cosine"})",
                           VPACK_E_INVALID_ARG);
        CHECK_FINISH_FAILS(d4, R"({"embedder":{"kind":"hash","dimension":256}})",
                           VPACK_E_DIMENSION_MISMATCH);
        CHECK_FINISH_FAILS(d4, R"({"title":)", VPACK_E_INVALID_JSON);
        CHECK_FINISH_FAILS(d4, R"(["title"])", VPACK_E_INVALID_JSON);
        CHECK_FINISH_FAILS(d4, "{\"title\":\"\xff\"}", VPACK_E_INVALID_UTF8);
        // finish(NULL out) consumes the builder too; NULL builder is refused.
        vpack_builder *raw = nullptr;
        CHECK(vpack_builder_new(d4, &raw) == VPACK_OK);
        CHECK(vpack_builder_finish(raw, R"({"title":"t"})", nullptr) == VPACK_E_NULL_ARG);
        vpack_index *out = nullptr;
        CHECK(vpack_builder_finish(nullptr, nullptr, &out) == VPACK_E_NULL_ARG && !out);
        // "manifest" is no longer a builder option.
        raw = nullptr;
        CHECK(vpack_builder_new(R"({"dimension":4,"manifest":{"title":"t"}})", &raw) ==
              VPACK_E_INVALID_JSON);
        CHECK(raw == nullptr);
        CHECK(vpack_last_error_code() == VPACK_E_INVALID_JSON);
    }

    // Non-zero padding after the last section is corrupt.
    {
        std::vector<uint8_t> bad(bytes.b.data, bytes.b.data + bytes.b.len);
        CHECK(!bad.empty() && bad.back() == 0);
        if (!bad.empty()) bad.back() = 0x80;
        vpack_index *raw = nullptr;
        CHECK(vpack_index_from_bytes(bad.data(), bad.size(), &raw) == VPACK_E_CORRUPT);
        CHECK(raw == nullptr);
        vpack_index_free(raw);
    }

    // One error code: truncated bytes are corrupt; the message says so.
    {
        vpack_index *raw = nullptr;
        vpack_status s = vpack_index_from_bytes(bytes.b.data, bytes.b.len - 1, &raw);
        CHECK(s == VPACK_E_CORRUPT);
        CHECK(raw == nullptr);
        CHECK(vpack_last_error_code() == VPACK_E_CORRUPT);
        CHECK(last_error().rfind("7|", 0) == 0);
    }

    // The last error is per thread, and one index may be searched from several threads.
    {
        std::atomic<int> bad{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                const float q[kDim] = {0, 1, 0, 0};
                uint64_t id = 99;
                float score = 0;
                size_t n = 0;
                if (vpack_last_error_code() != VPACK_OK) ++bad;  // fresh thread: no error
                for (int i = 0; i < 50; ++i) {
                    if (vpack_index_search(index.get(), q, kDim, 1, &id, &score, &n) !=
                            VPACK_OK ||
                        n != 1 || id != 0) {
                        ++bad;
                    }
                }
                if (t % 2 == 0) {  // leave an error behind on this thread only
                    if (vpack_index_search(index.get(), q, kDim - 1, 1, &id, &score, &n) !=
                        VPACK_E_DIMENSION_MISMATCH) {
                        ++bad;
                    }
                }
            });
        }
        for (auto &th : threads) th.join();
        CHECK(bad.load() == 0);
        CHECK(vpack_last_error_code() == VPACK_E_CORRUPT);  // main thread's error unchanged
    }

    // Embedder configs: well-formed JSON of the wrong shape (not an object, a field of the
    // wrong type, an unknown key) is INVALID_JSON; the right type with a bad value is
    // INVALID_ARG. No handle is written on error.
    {
        struct Case {
            const char *config;
            vpack_status want;
        };
        const Case cases[] = {
            {"[1,2]", VPACK_E_INVALID_JSON},
            {"null", VPACK_E_INVALID_JSON},
            {R"({"kind":"hash","dimension":"8"})", VPACK_E_INVALID_JSON},
            {R"({"kind":"hash","colour":"red"})", VPACK_E_INVALID_JSON},
            {R"({"kind":"hash","dimension":0})", VPACK_E_INVALID_ARG},
        };
        for (const Case &c : cases) {
            vpack_embedder *raw = nullptr;
            const vpack_status s = vpack_embedder_new(c.config, &raw);
            const std::string prefix = std::to_string(c.want) + "|";
            const bool ok = CHECK(s == c.want) && CHECK(vpack_last_error_code() == c.want) &&
                            CHECK(last_error().rfind(prefix, 0) == 0) && CHECK(raw == nullptr);
            if (!ok) std::printf("  config %s: status %d\n", c.config, s);
            vpack_embedder_free(raw);
        }
    }

    // A cosine builder refuses a zero vector (and NaN), appending nothing.
    {
        vpack_builder *raw = nullptr;
        CHECK(vpack_builder_new(R"({"dimension":4})", &raw) == VPACK_OK);
        BuilderPtr builder(raw);
        const std::string one = R"([{"text":"zero"}])";
        const float zero[kDim] = {0, 0, 0, 0};
        const float nan[kDim] = {1, std::nanf(""), 0, 0};
        CHECK(vpack_builder_add(builder.get(), reinterpret_cast<const uint8_t *>(one.data()),
                                one.size(), zero, 1, kDim) == VPACK_E_INVALID_ARG);
        CHECK(vpack_builder_add(builder.get(), reinterpret_cast<const uint8_t *>(one.data()),
                                one.size(), nan, 1, kDim) == VPACK_E_INVALID_ARG);
        CHECK(vpack_last_error_code() == VPACK_E_INVALID_ARG);
        vpack_index *out = nullptr;
        CHECK(vpack_builder_finish(builder.release(), nullptr, &out) == VPACK_OK);
        IndexPtr idx(out);
        size_t count = 99;
        CHECK(idx && vpack_index_len(idx.get(), &count) == VPACK_OK && count == 0);
    }

    std::printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
