#include "dataplane/punt_policy.h"

#include <algorithm>
#include <cstring>

#include "dataplane/packet.h"

namespace tern::dp {

namespace {

constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint16_t kEtherTypeQinq = 0x88A8;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

uint64_t be64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
    return v;
}

bool is_bgp_port(const PuntPolicy& policy, const uint8_t* l4) {
    const uint16_t sport = be16(l4), dport = be16(l4 + 2);
    for (const uint16_t p : policy.bgp_ports) {
        if (sport == p || dport == p) return true;
    }
    return false;
}

}  // namespace

AddressSet::Key AddressSet::key_v4(const uint8_t* addr) {
    return {0, uint64_t{0xFFFF} << 32 | uint64_t{be16(addr)} << 16 | be16(addr + 2)};
}

AddressSet::Key AddressSet::key_v6(const uint8_t* addr) { return {be64(addr), be64(addr + 8)}; }

void AddressSet::add(uint8_t family, const uint8_t* addr) {
    keys_.push_back(family == 4 ? key_v4(addr) : key_v6(addr));
}

void AddressSet::seal() {
    std::sort(keys_.begin(), keys_.end());
    keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
}

bool AddressSet::contains(Key k) const { return std::binary_search(keys_.begin(), keys_.end(), k); }
bool AddressSet::contains_v4(const uint8_t* addr) const { return contains(key_v4(addr)); }
bool AddressSet::contains_v6(const uint8_t* addr) const { return contains(key_v6(addr)); }

PuntClass classify_punt(const uint8_t* frame, uint32_t len, const PuntPolicy& policy) {
    if (len < 14) return PuntClass::other;
    uint32_t off = 12;
    uint16_t type = be16(frame + off);
    // Up to two tags (802.1ad outer, 802.1Q inner).
    for (int tags = 0; tags < 2 && (type == kEtherTypeVlan || type == kEtherTypeQinq); ++tags) {
        off += 4;
        if (len < off + 2) return PuntClass::other;
        type = be16(frame + off);
    }
    off += 2;  // the L3 header
    if (type == kEtherTypeArp) return PuntClass::arp_nd;
    const uint8_t* ip = frame + off;
    if (type == kEtherTypeIpv4) {
        if (len < off + 20 || ip[0] >> 4 != 4) return PuntClass::other;
        const uint32_t ihl = (ip[0] & 0x0F) * 4u;
        if (ihl < 20 || len < off + ihl) return PuntClass::other;
        const uint8_t* src = ip + 12;
        const bool first = (be16(ip + 6) & 0x1FFF) == 0;  // no fragment offset: the L4 header is here
        if (ip[9] == kProtoTcp && first && len >= off + ihl + 4 && policy.peers.contains_v4(src) &&
            is_bgp_port(policy, ip + ihl)) {
            return PuntClass::bgp;
        }
        return policy.trusted.contains_v4(src) ? PuntClass::trusted : PuntClass::other;
    }
    if (type == kEtherTypeIpv6) {
        if (len < off + 40 || ip[0] >> 4 != 6) return PuntClass::other;
        const uint8_t next = ip[6];
        const uint8_t* src = ip + 8;
        const uint8_t* l4 = ip + 40;
        // Neighbour discovery comes from the link only: hop limit 255 (RFC 4861).
        if (next == kProtoIcmp6 && len >= off + 41 && l4[0] >= 133 && l4[0] <= 137 && ip[7] == 255) {
            return PuntClass::arp_nd;
        }
        if (next == kProtoTcp && len >= off + 44 && policy.peers.contains_v6(src) && is_bgp_port(policy, l4)) {
            return PuntClass::bgp;
        }
        return policy.trusted.contains_v6(src) ? PuntClass::trusted : PuntClass::other;
    }
    return PuntClass::other;
}

}  // namespace tern::dp
