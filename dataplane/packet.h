// Packet parsing: Ethernet (+ one 802.1Q tag), IPv4 (options), IPv6 (with
// extension headers), TCP, UDP. Never reads past `len` bytes. Pure functions
// over a byte buffer, so tests run them without the EAL. lcore-local.
#pragma once

#include <cstdint>
#include <cstring>

#include "dataplane/counters.h"

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
    uint8_t family;  // 4 or 6
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
    Drop drop;         // valid when action == drop
    uint16_t l3_offset;
    uint16_t l4_offset;  // valid when action == lookup and not a fragment
    uint16_t l3_len;     // the IP packet's length (header + payload), without Ethernet padding
    FlowKey key;         // valid when action == lookup
};

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

// Flow hashes. Stable across machines (CRC32C, then a finaliser), so two
// balancers pick the same server for the same flow.
uint32_t flow_hash(const FlowKey& key);        // 5-tuple (3-tuple for fragments)
uint32_t source_hash(const FlowKey& key);      // source address only (scheduler sh)

// Maps a 32-bit hash onto [0, n) without a division (Lemire's multiply-shift).
inline uint32_t hash_to_index(uint32_t hash, uint32_t n) {
    return static_cast<uint32_t>((static_cast<uint64_t>(hash) * n) >> 32);
}

}  // namespace tern::dp
