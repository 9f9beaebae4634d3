// info: print a .vpack pack's size and manifest, from C++ (RAII over the C handles).
//
//   info PACK
#include <cstdio>
#include <memory>
#include <string>

#include "vpack.h"

namespace {

struct IndexFree {
    void operator()(vpack_index *p) const { vpack_index_free(p); }
};
using Index = std::unique_ptr<vpack_index, IndexFree>;

// The calling thread's last error, "CODE|message".
std::string last_error() {
    std::string msg(vpack_last_error_message(nullptr, 0), '\0');  // size including the NUL
    vpack_last_error_message(&msg[0], msg.size());
    msg.pop_back();
    return msg;
}

int fail(const char *what, vpack_status status) {
    std::fprintf(stderr, "info: %s failed: %s (%s)\n", what, last_error().c_str(), vpack_status_str(status));
    return 1;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s PACK\n", argv[0]);
        return 2;
    }
    vpack_index *raw = nullptr;
    vpack_status st = vpack_index_open(argv[1], 0, &raw);
    if (st != VPACK_OK) return fail("vpack_index_open", st);
    Index pack(raw);
    size_t len = 0, dim = 0;
    if ((st = vpack_index_len(pack.get(), &len)) != VPACK_OK) return fail("vpack_index_len", st);
    if ((st = vpack_index_dimension(pack.get(), &dim)) != VPACK_OK) return fail("vpack_index_dimension", st);
    vpack_str manifest;
    if ((st = vpack_index_manifest(pack.get(), &manifest)) != VPACK_OK) return fail("vpack_index_manifest", st);
    std::printf("libvpack %s (ABI %u): %zu chunks, %zu-d\n%.*s\n", vpack_version(),
                static_cast<unsigned>(vpack_abi_version()), len, dim, static_cast<int>(manifest.len),
                reinterpret_cast<const char *>(manifest.data));
    return 0;
}
