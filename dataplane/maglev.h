// Weighted Maglev lookup-table generation (Eisenbud et al., "Maglev: A Fast and Reliable
// Software Network Load Balancer", NSDI 2016, section 3.4). docs/maglev.md has the exact
// definition, so that another implementation can build the same rings.
//
// Pure functions: control thread only by convention (they allocate), no shared state.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace tern::dp {

inline constexpr uint16_t kNoBackend = 0xFFFF;

// Seeds of stable_hash64 (XXH64) over a backend's id: offset = H(id, kMaglevOffsetSeed) % size,
// skip = H(id, kMaglevSkipSeed) % (size - 1) + 1. ASCII "TernOffs" and "TernSkip".
inline constexpr uint64_t kMaglevOffsetSeed = 0x5465726E4F666673ull;
inline constexpr uint64_t kMaglevSkipSeed = 0x5465726E536B6970ull;

// Default ring size for a service: prime, about 65 entries per backend at 1000 backends.
inline constexpr uint32_t kMaglevDefaultSize = 65537;

struct MaglevBackend {
    std::string_view id;  // server identity (its host name); unique within one call
    uint32_t weight;      // 0: gets no entry (drained or depooled)
};

// Returns a ring of `size` entries, each an index into `backends`, or kNoBackend in every entry
// when no backend has weight > 0. Entries are shared in proportion to weight. The result depends
// only on the set of (id, weight) and on `size`, not on the order of `backends`.
// Preconditions (asserted): size is prime and greater than the number of backends with
// weight > 0; backends.size() < 65535; ids are unique.
// Cost: O(size * (log(size) + log(backends))) time, O(size + backends) memory.
std::vector<uint16_t> generate_ring(std::span<const MaglevBackend> backends, uint32_t size);

// Deterministic primality test for any 32-bit n.
bool is_prime(uint32_t n);

}  // namespace tern::dp
