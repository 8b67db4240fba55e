// Stable hashes: the same value on every machine, compiler and build, so that every balancer
// that hashes the same bytes makes the same choice (DESIGN.md, "Same input, same choice").
// Pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tern::dp {

// XXH64 (xxHash, 64-bit variant, Yann Collet; specification: xxHash's doc/xxhash_spec.md), as
// xxHash's own library computes it (Debian's libxxhash-dev, inlined). XXH64 reads its input as
// little-endian words on any host, so the result does not depend on byte order or alignment.
// stable_hash64(p, n, s) == XXH64(p, n, s), e.g.
//   stable_hash64("", 0, 0)    == 0xEF46DB3751D8E999
//   stable_hash64("abc", 3, 0) == 0x44BC2CF5AD770999
// Any other implementation can reproduce Tern's choices with any XXH64 implementation.
uint64_t stable_hash64(const void* data, size_t len, uint64_t seed);

inline uint64_t stable_hash64(std::string_view s, uint64_t seed) { return stable_hash64(s.data(), s.size(), seed); }

// MurmurHash3's 32-bit finaliser (fmix32, Austin Appleby): a bijection on uint32_t with full
// avalanche. Used to finalise the CRC32C flow hash before it picks a ring entry.
constexpr uint32_t mix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

}  // namespace tern::dp
