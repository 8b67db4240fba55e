#include "dataplane/table.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "dataplane/rte.h"

namespace tern::dp {
namespace {

// A VIP key in three words: the address (IPv4 in the low bytes of `a0`, the
// rest zero) and port (network order), protocol and family in `meta`.
// family is never 0, so meta == 0 marks an empty slot.
inline uint32_t make_meta(uint8_t family, uint16_t port_be, uint8_t proto) {
    return uint32_t{port_be} | uint32_t{proto} << 16 | uint32_t{family} << 24;
}

inline void addr_words(const uint8_t* addr, uint8_t family, uint64_t& a0, uint64_t& a1) {
    a0 = a1 = 0;
    if (family == 4) {
        uint32_t v4;
        std::memcpy(&v4, addr, 4);
        a0 = v4;
    } else {
        std::memcpy(&a0, addr, 8);
        std::memcpy(&a1, addr + 8, 8);
    }
}

}  // namespace

bool Table::insert(const uint8_t* addr, uint8_t family, uint16_t port_be, uint8_t proto, uint32_t index) {
    VipSlot s{};
    addr_words(addr, family, s.a0, s.a1);
    s.meta = make_meta(family, port_be, proto);
    s.index = index;
    for (uint32_t i = vip_hash(s.a0, s.a1, s.meta) & vip_mask_;; i = (i + 1) & vip_mask_) {
        VipSlot& slot = vips_[i];
        if (slot.meta == 0) {
            slot = s;
            return true;
        }
        if (slot.meta == s.meta && slot.a0 == s.a0 && slot.a1 == s.a1) return false;  // given twice
    }
}

inline const ServiceEntry* Table::find(const uint8_t* addr, uint8_t family, uint16_t port_be, uint8_t proto) const {
    uint64_t a0, a1;
    addr_words(addr, family, a0, a1);
    const uint32_t meta = make_meta(family, port_be, proto);
    // At most half full: a miss ends at an empty slot within a probe or two.
    for (uint32_t i = vip_hash(a0, a1, meta) & vip_mask_;; i = (i + 1) & vip_mask_) {
        const VipSlot& slot = vips_[i];
        if (slot.meta == meta && slot.a0 == a0 && slot.a1 == a1) return &services_[slot.index];
        if (slot.meta == 0) return nullptr;
    }
}

std::unique_ptr<Table> Table::create(std::vector<ServiceSpec> specs, uint64_t generation, std::string& error,
                                     const TableParams& params) {
    std::unique_ptr<Table> t(new Table());
    t->generation_ = generation;
    t->params_ = params;
    // Every service, one fragment entry per VIP and protocol and one ICMP
    // entry per VIP: at most 3 per service. At most half full.
    uint32_t size = 16;
    while (size < specs.size() * 3 * 2) size <<= 1;
    t->vips_.assign(size, VipSlot{});
    t->vip_mask_ = size - 1;
    // Fragments carry no ports: they go to the lowest-port service of their VIP and protocol.
    std::map<std::tuple<uint8_t, std::string, uint8_t>, std::pair<uint16_t, size_t>> frag;
    t->services_.reserve(specs.size());
    for (auto& s : specs) {
        const size_t index = t->services_.size();
        if (!t->insert(s.vip, s.family, rte_cpu_to_be_16(s.port), s.proto, static_cast<uint32_t>(index))) {
            error = "two services claim the same VIP, port and protocol";
            return nullptr;
        }
        auto fk = std::make_tuple(s.family, std::string(reinterpret_cast<char*>(s.vip), 16), s.proto);
        auto it = frag.find(fk);
        if (it == frag.end() || s.port < it->second.first) frag[fk] = {s.port, index};
        auto& e = s.entry;
        e.by_slot.clear();
        for (size_t i = 0; i < e.servers.size(); ++i)
            e.by_slot.emplace_back(e.servers[i].counter, static_cast<uint16_t>(i));
        std::sort(e.by_slot.begin(), e.by_slot.end());
        t->services_.push_back(std::move(s.entry));
    }
    // The IPv4 TCP/UDP index of lookup_v4; services_ is complete: its addresses stay.
    uint32_t v4_size = 16;
    while (v4_size < t->services_.size() * 2) v4_size <<= 1;
    t->v4_.assign(v4_size, V4Slot{});
    t->v4_mask_ = v4_size - 1;
    for (size_t index = 0; index < specs.size(); ++index) {
        const ServiceSpec& s = specs[index];
        ServiceEntry& e = t->services_[index];
        for (ServerEntry& srv : e.servers) {
            if (srv.port >= kMaxPorts) {
                error = "a server's output port is out of range";
                return nullptr;
            }
            srv.inline_ok = srv.keeps_flows && srv.has_mac && srv.vlan == 0 && srv.port == 0;
        }
        if (s.family != 4 || s.port == 0 || (s.proto != kProtoTcp && s.proto != kProtoUdp)) continue;
        uint32_t dst;
        std::memcpy(&dst, s.vip, 4);
        const uint64_t key = v4_key(dst, rte_cpu_to_be_16(s.port), s.proto);
        uint32_t i = crc32c_u64(0x7e57u, key) & t->v4_mask_;
        while (t->v4_[i].key != 0) i = (i + 1) & t->v4_mask_;  // unique: insert() refused duplicates
        t->v4_[i] = V4Slot{key, &e};
    }
    std::map<std::pair<uint8_t, std::string>, size_t> vips;  // (family, address) -> a service
    for (auto& [fk, v] : frag) {
        const auto& [family, addr, proto] = fk;
        t->insert(reinterpret_cast<const uint8_t*>(addr.data()), family, 0, proto, static_cast<uint32_t>(v.second));
        vips.emplace(std::make_pair(family, addr), v.second);
    }
    // ICMP to a VIP: keyed by the ICMP protocol of the family, port 0.
    for (auto& [fa, index] : vips) {
        const uint8_t icmp = fa.first == 4 ? kProtoIcmp : kProtoIcmp6;
        t->insert(reinterpret_cast<const uint8_t*>(fa.second.data()), fa.first, 0, icmp, static_cast<uint32_t>(index));
    }
    return t;
}

Table::~Table() = default;

const ServiceEntry* Table::lookup(const FlowKey& key) const {
    // Port 0 is reserved for the fragment entries; no service listens on it.
    if (!key.fragment && key.dport == 0) return nullptr;
    return find(key.dst, key.family, key.fragment ? 0 : key.dport, key.proto);
}

uint16_t ServiceEntry::find_slot(uint32_t slot) const {
    auto it = std::lower_bound(by_slot.begin(), by_slot.end(), std::make_pair(slot, uint16_t{0}));
    if (it == by_slot.end() || it->first != slot) return 0xFFFF;
    return it->second;
}

const ServiceEntry* Table::vip(const FlowKey& key) const {
    return find(key.dst, key.family, 0, key.family == 4 ? kProtoIcmp : kProtoIcmp6);
}

}  // namespace tern::dp
