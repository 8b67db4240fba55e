#include "dataplane/packet.h"

#include "dataplane/hash.h"
#include "dataplane/rte.h"

namespace tern::dp {
namespace {

inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// The parsers fill the caller's Parsed in place (no copies of the 40-byte
// key on the hot path); these set the fields a drop or a punt needs.
inline void drop(Parsed& p, Drop reason) {
    p.action = Action::drop;
    p.drop = reason;
    p.l3_offset = p.l4_offset = p.l3_len = 0;
}

inline void punt(Parsed& p, uint16_t l3_offset) {
    p.action = Action::punt;
    p.drop = Drop::kCount;
    p.l3_offset = l3_offset;
    p.l4_offset = p.l3_len = 0;
}

inline void zero_key(FlowKey& k) {
    uint64_t* w = reinterpret_cast<uint64_t*>(&k);  // alignas(8), 5 words
    w[0] = w[1] = w[2] = w[3] = w[4] = 0;
}

// Reads the TCP/UDP ports at `l4`, bounded by `end` (the IP packet's end).
// Returns false when the L4 header does not fit.
inline bool read_ports(const uint8_t* l4, const uint8_t* end, uint8_t proto, FlowKey& key) {
    if (proto == kProtoTcp) {
        if (end - l4 < 20) return false;
        const unsigned doff = (l4[12] >> 4) * 4u;
        if (doff < 20 || static_cast<long>(doff) > end - l4) return false;
    } else {
        if (end - l4 < 8) return false;
    }
    std::memcpy(&key.sport, l4, 2);
    std::memcpy(&key.dport, l4 + 2, 2);
    return true;
}

void parse_ipv4(const uint8_t* data, uint32_t len, uint32_t pkt_len, uint16_t off, Parsed& p) {
    if (len < off + 20u) return drop(p, Drop::truncated_ip);
    const uint8_t* ip = data + off;
    if ((ip[0] >> 4) != 4) return drop(p, Drop::bad_ip_version);
    const uint32_t ihl = (ip[0] & 0x0F) * 4u;
    if (ihl < 20 || off + ihl > len) return drop(p, Drop::bad_ihl);
    const uint32_t total = load_be16(ip + 2);
    if (total < ihl || off + total > pkt_len) return drop(p, Drop::bad_ip_length);

    p.action = Action::lookup;
    p.drop = Drop::kCount;
    p.l3_offset = off;
    p.l4_offset = static_cast<uint16_t>(off + ihl);
    p.l3_len = static_cast<uint16_t>(total);
    FlowKey& k = p.key;
    zero_key(k);
    k.family = 4;
    k.proto = ip[9];
    std::memcpy(k.src, ip + 12, 4);
    std::memcpy(k.dst, ip + 16, 4);
    const uint16_t frag = load_be16(ip + 6);
    if (frag & 0x3FFF) {  // MF set or a non-zero offset
        k.fragment = 1;
        if (k.proto != kProtoTcp && k.proto != kProtoUdp) return punt(p, off);
        return;
    }
    // The IP packet may extend beyond the first segment; ports must be in it.
    const uint32_t end = off + total < len ? off + total : len;
    if (k.proto == kProtoIcmp) {
        if (end < off + ihl + 8) return drop(p, Drop::truncated_l4);
        return;
    }
    if (k.proto != kProtoTcp && k.proto != kProtoUdp) return punt(p, off);
    if (!read_ports(ip + ihl, data + end, k.proto, k)) return drop(p, Drop::truncated_l4);
    return;
}

void parse_ipv6(const uint8_t* data, uint32_t len, uint32_t pkt_len, uint16_t off, Parsed& p) {
    if (len < off + 40u) return drop(p, Drop::truncated_ip);
    const uint8_t* ip = data + off;
    if ((ip[0] >> 4) != 6) return drop(p, Drop::bad_ip_version);
    const uint32_t payload = load_be16(ip + 4);
    // A zero payload length means a jumbogram, which Ethernet cannot carry.
    if (payload == 0 || off + 40u + payload > pkt_len) return drop(p, Drop::bad_ip_length);

    p.action = Action::lookup;
    p.drop = Drop::kCount;
    p.l3_offset = off;
    p.l4_offset = 0;
    p.l3_len = static_cast<uint16_t>(40 + payload);
    FlowKey& k = p.key;
    zero_key(k);
    k.family = 6;
    std::memcpy(k.src, ip + 8, 16);
    std::memcpy(k.dst, ip + 24, 16);

    const uint32_t end_all = off + 40u + payload;
    const uint8_t* end = data + (end_all < len ? end_all : len);
    const uint8_t* h = ip + 40;
    uint8_t next = ip[6];
    // Walk hop-by-hop, routing, destination options and fragment headers.
    for (int i = 0; i < 8; ++i) {
        if (next == 0 || next == 43 || next == 60) {
            if (end - h < 8) return drop(p, Drop::bad_ipv6_ext);
            const long hlen = (h[1] + 1) * 8;
            if (end - h < hlen) return drop(p, Drop::bad_ipv6_ext);
            next = h[0];
            h += hlen;
        } else if (next == 44) {
            if (end - h < 8) return drop(p, Drop::bad_ipv6_ext);
            const uint16_t offm = load_be16(h + 2);
            next = h[0];
            h += 8;
            if (offm & 0xFFF9) {  // a non-zero offset or M set: a real fragment
                k.fragment = 1;
                k.proto = next;
                if (next != kProtoTcp && next != kProtoUdp) return punt(p, off);
                return;
            }
            // An atomic fragment (offset 0, M clear) is a whole packet.
        } else {
            break;
        }
    }
    k.proto = next;
    p.l4_offset = static_cast<uint16_t>(h - data);
    if (next == kProtoIcmp6) {
        if (end - h < 8) return drop(p, Drop::truncated_l4);
        return;
    }
    if (next != kProtoTcp && next != kProtoUdp) return punt(p, off);
    if (!read_ports(h, end, next, k)) return drop(p, Drop::truncated_l4);
    return;
}

}  // namespace

void parse_frame(const uint8_t* data, uint32_t len, uint32_t pkt_len, const uint8_t port_mac[6], Parsed& p) {
    if (len > pkt_len) len = pkt_len;
    if (len < 14) return drop(p, Drop::truncated_ether);
    // Broadcast and multicast are never forwarded to a server: ARP, ND and
    // friends are the kernel's. What is malformed is still dropped.
    const bool group = data[0] & 0x01;
    if (!group) {
        uint32_t a, b;
        uint16_t c, d;
        std::memcpy(&a, data, 4);
        std::memcpy(&b, port_mac, 4);
        std::memcpy(&c, data + 4, 2);
        std::memcpy(&d, port_mac + 4, 2);
        if ((a ^ b) | static_cast<uint32_t>(c ^ d)) return drop(p, Drop::other_mac);
    }
    uint16_t type = load_be16(data + 12);
    uint16_t off = 14;
    if (type == kEtherTypeVlan) {
        if (len < 18) return drop(p, Drop::truncated_ether);
        type = load_be16(data + 16);
        off = 18;
    }
    if (type == kEtherTypeIpv4) {
        parse_ipv4(data, len, pkt_len, off, p);
    } else if (type == kEtherTypeIpv6) {
        parse_ipv6(data, len, pkt_len, off, p);
    } else {
        return punt(p, off);
    }
    if (group && p.action == Action::lookup) punt(p, off);
}

uint32_t flow_hash(const FlowKey& key) {
    // CRC32C over src, dst, proto, sport, dport (the bytes as they lie in the
    // key); the IPv4 case in single instructions, the same values.
    uint32_t h;
    if (key.family == 4) {
        uint32_t s4, d4;
        std::memcpy(&s4, key.src, 4);
        std::memcpy(&d4, key.dst, 4);
        h = crc32c_u64(0x7465726eu, uint64_t{s4} | uint64_t{d4} << 32);  // "tern"
    } else {
        uint64_t w[4];
        std::memcpy(w, key.src, 16);
        std::memcpy(w + 2, key.dst, 16);
        h = 0x7465726eu;
        for (uint64_t v : w) h = crc32c_u64(h, v);
    }
    h = crc32c_u8(h, key.proto);
    if (!key.fragment) h = crc32c_u32(h, uint32_t{key.sport} | uint32_t{key.dport} << 16);
    return mix32(h);
}

uint32_t source_hash(const FlowKey& key) {
    const uint32_t alen = key.family == 4 ? 4 : 16;
    return mix32(rte_hash_crc(key.src, alen, 0x7465726eu));
}

}  // namespace tern::dp
