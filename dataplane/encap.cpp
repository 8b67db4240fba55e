#include "dataplane/encap.h"

#include <algorithm>
#include <cstring>

#include "dataplane/rte.h"

namespace tern::dp {
namespace {

inline void store_be16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// DPDK's checksum helpers (rte_ip.h) over the bytes as they lie: the sum
// comes back in network order as a native word, stored as it is.
void ipv4_header_checksum(uint8_t* ip) {
    auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
    h->hdr_checksum = 0;
    h->hdr_checksum = rte_ipv4_cksum(h);
}

void store_cksum(uint8_t* at, uint16_t c) { std::memcpy(at, &c, 2); }

// The complemented checksum of `len` bytes (ICMP's).
uint16_t raw_cksum(const uint8_t* data, size_t len) { return static_cast<uint16_t>(~rte_raw_cksum(data, len)); }

// ICMPv6 checksum over the pseudo-header (RFC 8200 section 8.1: the
// addresses, the header's payload length, next header 58) and the message.
uint16_t icmp6_checksum(const uint8_t* ip6, const uint8_t* msg, uint32_t len) {
    const auto* h = reinterpret_cast<const rte_ipv6_hdr*>(ip6);
    uint32_t sum = uint32_t{rte_ipv6_phdr_cksum(h, 0)} + rte_raw_cksum(msg, len);
    sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(~(sum + (sum >> 16)));
}

}  // namespace

void write_outer_ipv4(uint8_t* out, const uint8_t* inner, uint16_t inner_len, const uint8_t src[4],
                      const uint8_t dst[4]) {
    out[0] = 0x45;
    out[1] = inner[1];  // DSCP and ECN
    store_be16(out + 2, static_cast<uint16_t>(inner_len + 20));
    out[4] = inner[4];  // the inner ID: unique where the inner one is
    out[5] = inner[5];
    out[6] = inner[6] & 0x40;  // DF copied, never MF, offset 0
    out[7] = 0;
    out[8] = 64;
    out[9] = 4;  // IP-in-IP
    std::memcpy(out + 12, src, 4);
    std::memcpy(out + 16, dst, 4);
    ipv4_header_checksum(out);
}

void write_outer_ipv6(uint8_t* out, const uint8_t* inner, uint16_t inner_len, const uint8_t src[16],
                      const uint8_t dst[16], uint32_t flow_hash) {
    const uint8_t tc = static_cast<uint8_t>((inner[0] & 0x0F) << 4 | inner[1] >> 4);
    const uint32_t label = flow_hash & 0xFFFFF;
    out[0] = static_cast<uint8_t>(0x60 | tc >> 4);
    out[1] = static_cast<uint8_t>((tc & 0x0F) << 4 | label >> 16);
    out[2] = static_cast<uint8_t>(label >> 8);
    out[3] = static_cast<uint8_t>(label);
    store_be16(out + 4, inner_len);
    out[6] = 41;  // IPv6-in-IPv6
    out[7] = 64;
    std::memcpy(out + 8, src, 16);
    std::memcpy(out + 24, dst, 16);
}

void pick_in_prefix(const uint8_t* base, uint8_t len, uint8_t family, uint32_t hash, uint8_t* out) {
    const unsigned bytes = family == 4 ? 4 : 16;
    std::memcpy(out, base, bytes);
    const unsigned host_bits = std::min<unsigned>(bytes * 8 - len, 32);
    if (host_bits == 0) return;
    const uint32_t host = host_bits == 32 ? hash : hash & ((1u << host_bits) - 1);
    // OR the host part into the last four bytes (the prefix has zero host
    // bits), as one big-endian word.
    uint32_t last;
    std::memcpy(&last, out + bytes - 4, 4);
    last |= __builtin_bswap32(host);
    std::memcpy(out + bytes - 4, &last, 4);
}

size_t write_icmp4_frag_needed(uint8_t* out, const uint8_t* orig, size_t orig_len, uint16_t mtu, const uint8_t src[4]) {
    constexpr size_t kMax = 576;
    const size_t quote = std::min(orig_len, kMax - 28);
    uint8_t* ip = out;
    uint8_t* icmp = out + 20;
    std::memmove(icmp + 8, orig, quote);  // `orig` may overlap `out`
    const size_t total = 28 + quote;
    ip[0] = 0x45;
    ip[1] = 0xC0;  // network control, like routers' ICMP
    store_be16(ip + 2, static_cast<uint16_t>(total));
    ip[4] = ip[5] = 0;
    ip[6] = 0;
    ip[7] = 0;
    ip[8] = 64;
    ip[9] = 1;
    std::memcpy(ip + 12, src, 4);
    std::memcpy(ip + 16, icmp + 8 + 12, 4);  // to the quoted packet's source
    ipv4_header_checksum(ip);
    icmp[0] = 3;
    icmp[1] = 4;
    icmp[2] = icmp[3] = 0;
    icmp[4] = icmp[5] = 0;
    store_be16(icmp + 6, mtu);
    store_cksum(icmp + 2, raw_cksum(icmp, 8 + quote));
    return total;
}

size_t write_icmp6_packet_too_big(uint8_t* out, const uint8_t* orig, size_t orig_len, uint32_t mtu,
                                  const uint8_t src[16]) {
    constexpr size_t kMax = 1280;
    const size_t quote = std::min(orig_len, kMax - 48);
    uint8_t* ip = out;
    uint8_t* icmp = out + 40;
    std::memmove(icmp + 8, orig, quote);
    const uint32_t plen = static_cast<uint32_t>(8 + quote);
    ip[0] = 0x60;
    ip[1] = ip[2] = ip[3] = 0;
    store_be16(ip + 4, static_cast<uint16_t>(plen));
    ip[6] = 58;
    ip[7] = 64;
    std::memcpy(ip + 8, src, 16);
    std::memcpy(ip + 24, icmp + 8 + 8, 16);  // to the quoted packet's source
    icmp[0] = 2;
    icmp[1] = 0;
    icmp[2] = icmp[3] = 0;
    icmp[4] = static_cast<uint8_t>(mtu >> 24);
    icmp[5] = static_cast<uint8_t>(mtu >> 16);
    icmp[6] = static_cast<uint8_t>(mtu >> 8);
    icmp[7] = static_cast<uint8_t>(mtu);
    store_cksum(icmp + 2, icmp6_checksum(ip, icmp, plen));
    return 40 + plen;
}

void icmp4_echo_to_reply(uint8_t* ip, size_t len) {
    const size_t ihl = (ip[0] & 0x0F) * 4u;
    uint8_t tmp[4];
    std::memcpy(tmp, ip + 12, 4);
    std::memcpy(ip + 12, ip + 16, 4);
    std::memcpy(ip + 16, tmp, 4);
    ip[8] = 64;
    ipv4_header_checksum(ip);
    uint8_t* icmp = ip + ihl;
    const size_t icmp_len = std::min<size_t>(load_be16(ip + 2), len) - ihl;
    icmp[0] = 0;
    icmp[2] = icmp[3] = 0;
    store_cksum(icmp + 2, raw_cksum(icmp, icmp_len));
}

void icmp6_echo_to_reply(uint8_t* ip, size_t len) {
    uint8_t tmp[16];
    std::memcpy(tmp, ip + 8, 16);
    std::memcpy(ip + 8, ip + 24, 16);
    std::memcpy(ip + 24, tmp, 16);
    ip[7] = 64;
    // The echo request may sit behind extension headers only in odd cases;
    // the worker hands us packets whose ICMPv6 header follows the fixed one.
    uint8_t* icmp = ip + 40;
    const uint32_t plen = static_cast<uint32_t>(std::min<size_t>(load_be16(ip + 4), len - 40));
    icmp[0] = 129;
    icmp[2] = icmp[3] = 0;
    store_cksum(icmp + 2, icmp6_checksum(ip, icmp, plen));
}

}  // namespace tern::dp
