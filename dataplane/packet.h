// Packet parsing: Ethernet (+ one 802.1Q tag), IPv4 (options), IPv6 (with
// extension headers), TCP, UDP. Never reads past `len` bytes. Pure functions
// over a byte buffer, so tests run them without the EAL. lcore-local.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/counters.h"
#include "dataplane/crc.h"
#include "dataplane/hash.h"

#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif

namespace tern::dp {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86DD;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoIcmp6 = 58;

// The flow identity used for lookup and hashing. Addresses are in network
// order; an IPv4 address sits in the first 4 bytes, the rest stay zero.
// Ports are in network order. For fragments the ports are zero.
struct alignas(8) FlowKey {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport;
    uint16_t dport;
    uint8_t proto;
    uint8_t family;    // 4 or 6
    uint8_t fragment;  // 1 when the packet is an IP fragment (first or later)
    uint8_t pad;
};
static_assert(sizeof(FlowKey) == 40);

enum class Action : uint8_t {
    lookup,  // TCP/UDP with a flow key, or ICMP (ports zero): look the destination up
    punt,    // for the kernel (non-IP, broadcast/multicast, IP without ports we use)
    drop,    // malformed or not for us: see Parsed::drop
};

struct Parsed {
    Action action;
    Drop drop;  // valid when action == drop
    uint16_t l3_offset;
    uint16_t l4_offset;  // valid when action == lookup and not a fragment
    uint16_t l3_len;     // the IP packet's length (header + payload), without Ethernet padding
    FlowKey key;         // valid when action == lookup
};

static_assert(offsetof(Parsed, drop) == 1 && offsetof(Parsed, l3_offset) == 2 && offsetof(Parsed, l4_offset) == 4 &&
              offsetof(Parsed, l3_len) == 6 && offsetof(Parsed, key) == 8 && sizeof(Parsed) == 48);
static_assert(offsetof(FlowKey, sport) == 32 && offsetof(FlowKey, proto) == 36 && offsetof(FlowKey, family) == 37);

// Parses one frame. `len` is the number of contiguous bytes at `data`
// (the first segment); `pkt_len` the frame's whole length. `port_mac` is
// the receiving port's address: frames for another unicast MAC are dropped,
// broadcast and multicast frames are punted.
void parse_frame(const uint8_t* data, uint32_t len, uint32_t pkt_len, const uint8_t port_mac[6], Parsed& out);
inline Parsed parse_frame(const uint8_t* data, uint32_t len, uint32_t pkt_len, const uint8_t port_mac[6]) {
    Parsed p;
    parse_frame(data, len, pkt_len, port_mac, p);
    return p;
}

// The dominant frame, in a few wide loads: untagged IPv4 without options,
// not a fragment, TCP or UDP whose whole IP packet is in the first segment, to
// `mac48`, the port's unicast MAC as the low 48 bits of a little-endian load
// (a port with a group address must not use this). `len` and `pkt_len` as
// parse_frame's. True when the frame is one: parse_frame would then give
// Action::lookup, l3_offset 14, l4_offset 34, l3_len the IP total length
// (bytes 16..17) and the key fast_v4_key() builds; the per-packet path reads
// those from the frame where it needs them. False for every other frame,
// which parse_frame then handles. Reads the first 54 bytes.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "is_fast_v4 reads little-endian words");
inline bool is_fast_v4(const uint8_t* d, uint32_t len, uint32_t pkt_len, uint64_t mac48) {
    // parse_frame reads min(len, pkt_len) bytes: all of Ethernet + IPv4 + TCP
    // (54; a minimum frame is 60) and the whole IP packet must be there.
    const uint32_t room = len < pkt_len ? len : pkt_len;
    if (room < 54) return false;
    // Destination MAC; EtherType 0x0800, version 4 and IHL 5 (bytes 12..14).
    constexpr uint64_t kWantHi = uint64_t{0x450008} << 32, kMaskHi = uint64_t{0xFFFFFF} << 32;
#if defined(__SSE4_1__)
    const __m128i head = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d));
    const __m128i want = _mm_set_epi64x(static_cast<long long>(kWantHi), static_cast<long long>(mac48));
    const __m128i mask = _mm_set_epi64x(static_cast<long long>(kMaskHi), 0xFFFFFFFFFFFFll);
    if (!_mm_testz_si128(_mm_xor_si128(head, want), mask)) return false;
#else
    uint64_t w0, w8;
    std::memcpy(&w0, d, 8);
    std::memcpy(&w8, d + 8, 8);
    if ((((w0 ^ mac48) & 0xFFFFFFFFFFFFull) | ((w8 ^ kWantHi) & kMaskHi)) != 0) return false;
#endif
    uint64_t w16;  // IP bytes 2..9: total length, ID, flags and offset, TTL, protocol
    std::memcpy(&w16, d + 16, 8);
    if ((w16 >> 32) & 0xFF3F) return false;  // MF or an offset: a fragment
    const uint32_t total = __builtin_bswap16(static_cast<uint16_t>(w16));
    if (14 + total > room) return false;
    const uint8_t proto = static_cast<uint8_t>(w16 >> 56);
    if (proto == kProtoTcp) {
        const uint32_t doff = (d[46] >> 2) & 0x3Cu;
        return doff >= 20 && total >= 20 + doff;
    }
    return proto == kProtoUdp && total >= 28;
}

// An IPv4 key (not a fragment) from its words as FlowKey holds them: `src`
// and `dst` the addresses zero-extended (bytes 0..7 and 16..23), `tail`
// bytes 32..39 (ports, protocol, family 4, fragment 0).
inline void v4_key_from_words(uint64_t src, uint64_t dst, uint64_t tail, FlowKey& key) {
    auto* o = reinterpret_cast<uint8_t*>(&key);
    const uint64_t zero = 0;
    std::memcpy(o, &src, 8);
    std::memcpy(o + 8, &zero, 8);
    std::memcpy(o + 16, &dst, 8);
    std::memcpy(o + 24, &zero, 8);
    std::memcpy(o + 32, &tail, 8);
}

// The flow key of a frame is_fast_v4 accepted, built from its words.
inline void fast_v4_key(const uint8_t* d, FlowKey& key) {
    uint32_t src, dst, ports;
    std::memcpy(&src, d + 26, 4);
    std::memcpy(&dst, d + 30, 4);
    std::memcpy(&ports, d + 34, 4);
    v4_key_from_words(src, dst, uint64_t{ports} | uint64_t{d[23]} << 32 | uint64_t{4} << 40, key);
}

// What parse_frame gives a frame is_fast_v4 accepted (for the rarer paths
// that take a Parsed).
inline void fast_v4_parsed(const uint8_t* d, Parsed& out) {
    out.action = Action::lookup;
    out.drop = Drop::kCount;
    out.l3_offset = 14;
    out.l4_offset = 34;
    out.l3_len = static_cast<uint16_t>(d[16] << 8 | d[17]);
    fast_v4_key(d, out.key);
}

// Flow hashes. Stable across machines (CRC32C, then a finaliser), so two
// balancers pick the same server for the same flow.
uint32_t flow_hash(const FlowKey& key);    // 5-tuple (3-tuple for fragments)
uint32_t source_hash(const FlowKey& key);  // source address only (scheduler sh)

// flow_hash of an IPv4 key that is not a fragment, from the words as they
// lie in the packet: `addrs` the source and destination addresses (8 bytes
// from IP offset 12), `ports` the source and destination ports.
inline uint32_t flow_hash_v4(uint64_t addrs, uint8_t proto, uint32_t ports) {
    uint32_t h = crc32c_u64(0x7465726eu, addrs);  // "tern"
    h = crc32c_u8(h, proto);
    h = crc32c_u32(h, ports);
    return mix32(h);
}

// Maps a 32-bit hash onto [0, n) without a division (Lemire's multiply-shift).
inline uint32_t hash_to_index(uint32_t hash, uint32_t n) {
    return static_cast<uint32_t>((static_cast<uint64_t>(hash) * n) >> 32);
}

}  // namespace tern::dp
