// The forwarding table: VIP:port:protocol -> service -> Maglev ring -> server.
// Control builds it whole on the control thread, publishes it through RCU
// (dataplane/table_publisher.h), and never changes it afterwards: lcores
// read it without locks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/maglev.h"
#include "dataplane/packet.h"
#include "dataplane/punt_policy.h"

namespace tern::dp {

// The most data ports a dataplane drives (conf::kMaxPorts is the same).
inline constexpr unsigned kMaxPorts = 8;

enum class Sched : uint8_t {
    maglev,  // weighted Maglev over the 5-tuple
    sh,      // weighted Maglev over the source address (source hashing)
    rr,      // round robin over the pool (per lcore)
    wrr,     // IPVS's weighted round robin (per lcore)
    wlc,     // IPVS's weighted least connection over all lcores' counts
};

enum class Fwd : uint8_t {
    dr,    // rewrite the Ethernet header only
    ipip,  // encapsulate in IPv4 (protocol 4) or IPv6 (next header 41)
};

struct ServerEntry {
    uint8_t mac[6];       // next hop: the server's MAC, or the gateway's for a routed IPIP server
    uint8_t has_mac;      // 0 when the neighbour is not known: packets drop as no_neighbor
    uint8_t family;       // 4 or 6
    uint16_t vlan;        // 802.1Q tag of the next hop; 0 = untagged
    uint8_t keeps_flows;  // 1: pooled or drained (disabled, weight 0): its flows stay
    uint8_t inline_ok;    // keeps_flows, has_mac, vlan 0 and port 0: the worker's inline path may send to it
                          // (set by Table::create from the other fields)
    uint8_t port;         // the output port: index in the worker's ports (0: the first), < kMaxPorts
    uint32_t weight;      // effective weight for new flows (0: drained or down)
    uint32_t counter;     // slot in LcoreCounters::servers
    uint8_t ip[16];       // IPIP outer destination; IPv4 in the first 4 bytes
};

struct ServiceEntry {
    Sched sched = Sched::maglev;
    Fwd fwd = Fwd::dr;
    uint32_t counter = 0;  // slot in LcoreCounters::services
    SharedRing ring;       // Maglev lookup table: index into servers, or kNoBackend; shared between generations
    std::vector<ServerEntry> servers;
    // Servers that take new flows (weight > 0, enabled, up) and their
    // weights, for rr, wrr and wlc.
    std::vector<uint16_t> pool;
    std::vector<uint16_t> pool_weights;
    // (server counter slot, index in servers), sorted: finds a flow's server
    // again after a table swap.
    std::vector<std::pair<uint32_t, uint16_t>> by_slot;
    // Index of the server with counter slot `slot`, or kNoServer.
    uint16_t find_slot(uint32_t slot) const;
};

// One VIP:port:protocol and the service behind it, as control hands it over.
struct ServiceSpec {
    uint8_t family = 4;    // 4 or 6
    uint8_t vip[16] = {};  // network order; IPv4 in the first 4 bytes
    uint16_t port = 0;     // host order
    uint8_t proto = 0;     // kProtoTcp / kProtoUdp
    ServiceEntry entry;
};

// Settings that hold for the whole table.
struct TableParams {
    // IPIP outer sources: a flow hash picks an address in prefix/len (len 32
    // or 128: one address). has_src6 = 0: no IPv6 source (IPv6 IPIP disabled).
    uint8_t src4[4] = {};
    uint8_t src4_len = 32;
    uint8_t src6[16] = {};
    uint8_t src6_len = 128;
    uint8_t has_src6 = 0;
    uint8_t answer_echo = 0;  // reply to echo requests sent to a VIP
    PuntPolicy punt;          // the exception path's classes and budgets
};

class Table {
public:
    // Builds the lookup structures. Control thread only; returns nullptr and
    // sets `error` when DPDK cannot allocate them. Each table published to
    // the lcores needs a generation of its own (control counts them up): a
    // flow entry keeps its server's index and next hop for the generation
    // they were resolved in.
    static std::unique_ptr<Table> create(std::vector<ServiceSpec> services, uint64_t generation, std::string& error,
                                         const TableParams& params = {});
    ~Table();
    Table(const Table&) = delete;
    Table& operator=(const Table&) = delete;

    // The service for a flow's destination, or nullptr. Fragments (no ports)
    // map to the VIP's lowest-port service of that protocol. Any thread.
    const ServiceEntry* lookup(const FlowKey& key) const;

    // lookup() for an IPv4 TCP/UDP key that is not a fragment, by v4_key():
    // one CRC32C instruction and usually one 16-byte slot. Inline: the
    // per-packet path.
    const ServiceEntry* lookup_v4(uint64_t key) const {
        for (uint32_t i = crc32c_u64(0x7e57u, key) & v4_mask_;; i = (i + 1) & v4_mask_) {
            const V4Slot& slot = v4_[i];
            if (slot.key == key) return slot.svc;
            if (slot.key == 0) return nullptr;
        }
    }
    // The key of lookup_v4: the destination address as it lies in the packet
    // (a little-endian load), the destination port in network order, the
    // protocol. Port 0 (the fragment entries') is never in the index.
    static uint64_t v4_key(uint32_t dst, uint16_t dport_be, uint8_t proto) {
        return uint64_t{dst} | uint64_t{proto} << 32 | uint64_t{dport_be} << 48;
    }
    // The same from the packet's 8 bytes at IP offset 16 (destination
    // address, source port, destination port) and the protocol: the source
    // port's place takes the protocol.
    static uint64_t v4_key(uint64_t dst_ports, uint8_t proto) {
        return (dst_ports & 0xFFFF0000FFFFFFFFull) | uint64_t{proto} << 32;
    }

    // Any service of the flow's destination when it is a VIP (ICMP to a VIP), or nullptr.
    const ServiceEntry* vip(const FlowKey& key) const;

    const TableParams& params() const { return params_; }
    uint64_t generation() const { return generation_; }
    size_t size() const { return services_.size(); }
    const ServiceEntry& service(size_t i) const { return services_[i]; }

private:
    Table() = default;
    // The VIP:port:protocol index: immutable once built, so an open-addressed
    // array probed linearly (at most half full) beats a general hash table:
    // three CRC32C instructions and usually one 24-byte slot per lookup.
    struct VipSlot {
        uint64_t a0 = 0, a1 = 0;  // the address
        uint32_t meta = 0;        // port (network order) | proto << 16 | family << 24; 0: empty
        uint32_t index = 0;       // into services_
    };
    // Three CRC32C instructions.
    static uint32_t vip_hash(uint64_t a0, uint64_t a1, uint32_t meta) {
        return crc32c_u64(crc32c_u64(crc32c_u32(0x7e57u, meta), a0), a1);
    }
    bool insert(const uint8_t* addr, uint8_t family, uint16_t port_be, uint8_t proto, uint32_t index);
    const ServiceEntry* find(const uint8_t* addr, uint8_t family, uint16_t port_be, uint8_t proto) const;
    std::vector<VipSlot> vips_;
    uint32_t vip_mask_ = 0;
    // IPv4 TCP/UDP services with a port (lookup_v4), at most half full: the
    // key (v4_key; never 0: the protocol is not) and the service.
    struct V4Slot {
        uint64_t key = 0;
        const ServiceEntry* svc = nullptr;
    };
    std::vector<V4Slot> v4_;
    uint32_t v4_mask_ = 0;
    uint64_t generation_ = 0;
    TableParams params_;
    std::vector<ServiceEntry> services_;
};

}  // namespace tern::dp
