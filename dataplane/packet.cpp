#include "dataplane/packet.h"

#include "dataplane/hash.h"
#include "dataplane/rte.h"

namespace tern::dp {
namespace {

inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

inline Parsed drop(Drop reason) {
    Parsed p;
    p.action = Action::drop;
    p.drop = reason;
    p.l3_offset = p.l4_offset = p.l3_len = 0;
    return p;
}

inline Parsed punt(uint16_t l3_offset) {
    Parsed p;
    p.action = Action::punt;
    p.drop = Drop::kCount;
    p.l3_offset = l3_offset;
    p.l4_offset = p.l3_len = 0;
    return p;
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

Parsed parse_ipv4(const uint8_t* data, uint32_t len, uint32_t pkt_len, uint16_t off) {
    if (len < off + 20u) return drop(Drop::truncated_ip);
    const uint8_t* ip = data + off;
    if ((ip[0] >> 4) != 4) return drop(Drop::bad_ip_version);
    const uint32_t ihl = (ip[0] & 0x0F) * 4u;
    if (ihl < 20 || off + ihl > len) return drop(Drop::bad_ihl);
    const uint32_t total = load_be16(ip + 2);
    if (total < ihl || off + total > pkt_len) return drop(Drop::bad_ip_length);

    Parsed p;
    p.action = Action::lookup;
    p.drop = Drop::kCount;
    p.l3_offset = off;
    p.l4_offset = static_cast<uint16_t>(off + ihl);
    p.l3_len = static_cast<uint16_t>(total);
    FlowKey& k = p.key;
    std::memset(&k, 0, sizeof(k));
    k.family = 4;
    k.proto = ip[9];
    std::memcpy(k.src, ip + 12, 4);
    std::memcpy(k.dst, ip + 16, 4);
    const uint16_t frag = load_be16(ip + 6);
    if (frag & 0x3FFF) {  // MF set or a non-zero offset
        k.fragment = 1;
        if (k.proto != kProtoTcp && k.proto != kProtoUdp) return punt(off);
        return p;
    }
    // The IP packet may extend beyond the first segment; ports must be in it.
    const uint32_t end = off + total < len ? off + total : len;
    if (k.proto == kProtoIcmp) {
        if (end < off + ihl + 8) return drop(Drop::truncated_l4);
        return p;
    }
    if (k.proto != kProtoTcp && k.proto != kProtoUdp) return punt(off);
    if (!read_ports(ip + ihl, data + end, k.proto, k)) return drop(Drop::truncated_l4);
    return p;
}

Parsed parse_ipv6(const uint8_t* data, uint32_t len, uint32_t pkt_len, uint16_t off) {
    if (len < off + 40u) return drop(Drop::truncated_ip);
    const uint8_t* ip = data + off;
    if ((ip[0] >> 4) != 6) return drop(Drop::bad_ip_version);
    const uint32_t payload = load_be16(ip + 4);
    // A zero payload length means a jumbogram, which Ethernet cannot carry.
    if (payload == 0 || off + 40u + payload > pkt_len) return drop(Drop::bad_ip_length);

    Parsed p;
    p.action = Action::lookup;
    p.drop = Drop::kCount;
    p.l3_offset = off;
    p.l4_offset = 0;
    p.l3_len = static_cast<uint16_t>(40 + payload);
    FlowKey& k = p.key;
    std::memset(&k, 0, sizeof(k));
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
            if (end - h < 8) return drop(Drop::bad_ipv6_ext);
            const long hlen = (h[1] + 1) * 8;
            if (end - h < hlen) return drop(Drop::bad_ipv6_ext);
            next = h[0];
            h += hlen;
        } else if (next == 44) {
            if (end - h < 8) return drop(Drop::bad_ipv6_ext);
            const uint16_t offm = load_be16(h + 2);
            next = h[0];
            h += 8;
            if (offm & 0xFFF9) {  // a non-zero offset or M set: a real fragment
                k.fragment = 1;
                k.proto = next;
                if (next != kProtoTcp && next != kProtoUdp) return punt(off);
                return p;
            }
            // An atomic fragment (offset 0, M clear) is a whole packet.
        } else {
            break;
        }
    }
    k.proto = next;
    p.l4_offset = static_cast<uint16_t>(h - data);
    if (next == kProtoIcmp6) {
        if (end - h < 8) return drop(Drop::truncated_l4);
        return p;
    }
    if (next != kProtoTcp && next != kProtoUdp) return punt(off);
    if (!read_ports(h, end, next, k)) return drop(Drop::truncated_l4);
    return p;
}

}  // namespace

Parsed parse_frame(const uint8_t* data, uint32_t len, uint32_t pkt_len, const uint8_t port_mac[6]) {
    if (len > pkt_len) len = pkt_len;
    if (len < 14) return drop(Drop::truncated_ether);
    // Broadcast and multicast are never forwarded to a server: ARP, ND and
    // friends are the kernel's. What is malformed is still dropped.
    const bool group = data[0] & 0x01;
    if (!group && std::memcmp(data, port_mac, 6) != 0) return drop(Drop::other_mac);
    uint16_t type = load_be16(data + 12);
    uint16_t off = 14;
    if (type == kEtherTypeVlan) {
        if (len < 18) return drop(Drop::truncated_ether);
        type = load_be16(data + 16);
        off = 18;
    }
    Parsed p;
    if (type == kEtherTypeIpv4) {
        p = parse_ipv4(data, len, pkt_len, off);
    } else if (type == kEtherTypeIpv6) {
        p = parse_ipv6(data, len, pkt_len, off);
    } else {
        return punt(off);
    }
    if (group && p.action == Action::lookup) return punt(off);
    return p;
}

uint32_t flow_hash(const FlowKey& key) {
    const uint32_t alen = key.family == 4 ? 4 : 16;
    uint32_t h = rte_hash_crc(key.src, alen, 0x7465726eu);  // "tern"
    h = rte_hash_crc(key.dst, alen, h);
    h = rte_hash_crc_1byte(key.proto, h);
    if (!key.fragment) {
        h = rte_hash_crc_2byte(key.sport, h);
        h = rte_hash_crc_2byte(key.dport, h);
    }
    return mix32(h);
}

uint32_t source_hash(const FlowKey& key) {
    const uint32_t alen = key.family == 4 ? 4 : 16;
    return mix32(rte_hash_crc(key.src, alen, 0x7465726eu));
}

}  // namespace tern::dp
