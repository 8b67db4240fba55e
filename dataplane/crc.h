// CRC32C steps for the hashes of the per-packet path: single SSE4.2
// instructions when the build targets them (DPDK's flags do, -march=corei7),
// else DPDK's rte_hash_crc, which gives the same values in software. Unlike
// rte_hash_crc_*byte these do not test at run time which one to use.
#pragma once

#include <cstdint>

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#else
#include "dataplane/rte.h"
#endif

namespace tern::dp {

#if defined(__SSE4_2__)
inline uint32_t crc32c_u8(uint32_t crc, uint8_t v) { return _mm_crc32_u8(crc, v); }
inline uint32_t crc32c_u32(uint32_t crc, uint32_t v) { return _mm_crc32_u32(crc, v); }
// The 8 bytes as they lie in memory (a little-endian load): low bytes first.
inline uint32_t crc32c_u64(uint32_t crc, uint64_t v) { return static_cast<uint32_t>(_mm_crc32_u64(crc, v)); }
#else
inline uint32_t crc32c_u8(uint32_t crc, uint8_t v) { return rte_hash_crc_1byte(v, crc); }
inline uint32_t crc32c_u32(uint32_t crc, uint32_t v) { return rte_hash_crc_4byte(v, crc); }
inline uint32_t crc32c_u64(uint32_t crc, uint64_t v) { return rte_hash_crc_8byte(v, crc); }
#endif

}  // namespace tern::dp
