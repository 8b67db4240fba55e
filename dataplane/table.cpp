#include "dataplane/table.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <tuple>

#include "dataplane/rte.h"

namespace tern::dp {
namespace {

// The rte_hash key: destination address, port (network order), protocol, family.
struct VipKey {
    uint8_t addr[16];
    uint16_t port_be;
    uint8_t proto;
    uint8_t family;
};
static_assert(sizeof(VipKey) == 20);

VipKey make_key(const uint8_t* addr, uint8_t family, uint16_t port_be, uint8_t proto) {
    VipKey k;
    std::memset(&k, 0, sizeof(k));
    std::memcpy(k.addr, addr, family == 4 ? 4 : 16);
    k.port_be = port_be;
    k.proto = proto;
    k.family = family;
    return k;
}

std::atomic<uint64_t> hash_names{0};

}  // namespace

std::unique_ptr<Table> Table::create(std::vector<ServiceSpec> specs, uint64_t generation,
                                     std::string& error, const TableParams& params) {
    std::unique_ptr<Table> t(new Table());
    t->generation_ = generation;
    t->params_ = params;
    const std::string name = "tern_vip_" + std::to_string(hash_names.fetch_add(1));
    rte_hash_parameters hp{};
    hp.name = name.c_str();
    // Room for every service plus one fragment entry per VIP and protocol,
    // with slack so that buckets rarely overflow.
    hp.entries = std::max<uint32_t>(64, static_cast<uint32_t>(specs.size() * 6));
    hp.key_len = sizeof(VipKey);
    hp.hash_func = rte_hash_crc;
    hp.hash_func_init_val = 0;
    hp.socket_id = SOCKET_ID_ANY;
    t->hash_ = rte_hash_create(&hp);
    if (t->hash_ == nullptr) {
        error = std::string("cannot create the VIP hash: ") + rte_strerror(rte_errno);
        return nullptr;
    }
    // Fragments carry no ports: they go to the lowest-port service of their VIP and protocol.
    std::map<std::tuple<uint8_t, std::string, uint8_t>, std::pair<uint16_t, size_t>> frag;
    t->services_.reserve(specs.size());
    for (auto& s : specs) {
        const size_t index = t->services_.size();
        const VipKey key = make_key(s.vip, s.family, rte_cpu_to_be_16(s.port), s.proto);
        int rc = rte_hash_add_key_data(t->hash_, &key, reinterpret_cast<void*>(index));
        if (rc < 0) {
            error = std::string("cannot add a service to the VIP hash: ") + rte_strerror(-rc);
            return nullptr;
        }
        auto fk = std::make_tuple(s.family, std::string(reinterpret_cast<char*>(s.vip), 16), s.proto);
        auto it = frag.find(fk);
        if (it == frag.end() || s.port < it->second.first) frag[fk] = {s.port, index};
        auto& e = s.entry;
        e.by_slot.clear();
        for (size_t i = 0; i < e.servers.size(); ++i) e.by_slot.emplace_back(e.servers[i].counter, static_cast<uint16_t>(i));
        std::sort(e.by_slot.begin(), e.by_slot.end());
        t->services_.push_back(std::move(s.entry));
    }
    std::map<std::pair<uint8_t, std::string>, size_t> vips;  // (family, address) -> a service
    for (auto& [fk, v] : frag) {
        const auto& [family, addr, proto] = fk;
        const VipKey key = make_key(reinterpret_cast<const uint8_t*>(addr.data()), family, 0, proto);
        int rc = rte_hash_add_key_data(t->hash_, &key, reinterpret_cast<void*>(v.second));
        if (rc < 0) {
            error = std::string("cannot add a VIP to the VIP hash: ") + rte_strerror(-rc);
            return nullptr;
        }
        vips.emplace(std::make_pair(family, addr), v.second);
    }
    // ICMP to a VIP: keyed by the ICMP protocol of the family, port 0.
    for (auto& [fa, index] : vips) {
        const uint8_t icmp = fa.first == 4 ? kProtoIcmp : kProtoIcmp6;
        const VipKey key = make_key(reinterpret_cast<const uint8_t*>(fa.second.data()), fa.first, 0, icmp);
        int rc = rte_hash_add_key_data(t->hash_, &key, reinterpret_cast<void*>(index));
        if (rc < 0) {
            error = std::string("cannot add a VIP to the VIP hash: ") + rte_strerror(-rc);
            return nullptr;
        }
    }
    return t;
}

Table::~Table() {
    if (hash_ != nullptr) rte_hash_free(hash_);
}

const ServiceEntry* Table::lookup(const FlowKey& key) const {
    // Port 0 is reserved for the fragment entries; no service listens on it.
    if (!key.fragment && key.dport == 0) return nullptr;
    const VipKey k = make_key(key.dst, key.family, key.fragment ? 0 : key.dport, key.proto);
    void* data = nullptr;
    if (rte_hash_lookup_data(hash_, &k, &data) < 0) return nullptr;
    return &services_[reinterpret_cast<uintptr_t>(data)];
}

uint16_t ServiceEntry::find_slot(uint32_t slot) const {
    auto it = std::lower_bound(by_slot.begin(), by_slot.end(), std::make_pair(slot, uint16_t{0}));
    if (it == by_slot.end() || it->first != slot) return 0xFFFF;
    return it->second;
}

const ServiceEntry* Table::vip(const FlowKey& key) const {
    const uint8_t icmp = key.family == 4 ? kProtoIcmp : kProtoIcmp6;
    const VipKey k = make_key(key.dst, key.family, 0, icmp);
    void* data = nullptr;
    if (rte_hash_lookup_data(hash_, &k, &data) < 0) return nullptr;
    return &services_[reinterpret_cast<uintptr_t>(data)];
}

}  // namespace tern::dp
