#include "dataplane/hash.h"

// xxHash's own implementation (Debian's libxxhash-dev), inlined: no symbol
// from the shared library is needed, and the compiler sees the whole function.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace tern::dp {

uint64_t stable_hash64(const void* data, size_t len, uint64_t seed) { return XXH64(data, len, seed); }

}  // namespace tern::dp
