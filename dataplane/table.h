// The forwarding table: VIP:port:protocol -> service -> Maglev ring -> server.
// Control builds it whole on the control thread, publishes it through RCU
// (dataplane/table_publisher.h), and never changes it afterwards: lcores
// read it without locks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/packet.h"

struct rte_hash;

namespace tern::dp {

enum class Sched : uint8_t {
    maglev,  // weighted Maglev over the 5-tuple
    sh,      // weighted Maglev over the source address (source hashing)
};

struct ServerEntry {
    uint8_t mac[6];
    uint8_t has_mac;      // 0 when the neighbour is not known: packets drop as no_neighbor
    uint8_t pad;
    uint32_t counter;     // slot in LcoreCounters::servers
};

struct ServiceEntry {
    Sched sched = Sched::maglev;
    uint32_t counter = 0;  // slot in LcoreCounters::services
    std::vector<uint16_t> ring;          // Maglev lookup table: index into servers, or kNoBackend
    std::vector<ServerEntry> servers;
};

// One VIP:port:protocol and the service behind it, as control hands it over.
struct ServiceSpec {
    uint8_t family = 4;     // 4 or 6
    uint8_t vip[16] = {};   // network order; IPv4 in the first 4 bytes
    uint16_t port = 0;      // host order
    uint8_t proto = 0;      // kProtoTcp / kProtoUdp
    ServiceEntry entry;
};

class Table {
public:
    // Builds the lookup structures. Control thread only; returns nullptr and
    // sets `error` when DPDK cannot allocate them.
    static std::unique_ptr<Table> create(std::vector<ServiceSpec> services, uint64_t generation,
                                         std::string& error);
    ~Table();
    Table(const Table&) = delete;
    Table& operator=(const Table&) = delete;

    // The service for a flow's destination, or nullptr. Fragments (no ports)
    // map to the VIP's lowest-port service of that protocol. Any thread.
    const ServiceEntry* lookup(const FlowKey& key) const;

    uint64_t generation() const { return generation_; }
    size_t size() const { return services_.size(); }
    const ServiceEntry& service(size_t i) const { return services_[i]; }

private:
    Table() = default;
    rte_hash* hash_ = nullptr;
    uint64_t generation_ = 0;
    std::vector<ServiceEntry> services_;
};

}  // namespace tern::dp
