// Per-lcore counters. Each lcore writes only its own block (plain relaxed
// load+store, no locked instructions); control sums them with relaxed loads.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "dataplane/punt_policy.h"

namespace tern::dp {

// Why a packet was dropped. Every reason is counted and named in stats.
enum class Drop : uint8_t {
    truncated_ether,     // frame shorter than its Ethernet (+802.1Q) header
    other_mac,           // unicast frame for another MAC than the port's
    truncated_ip,        // frame ends inside the IPv4/IPv6 fixed header
    bad_ip_version,      // version field disagrees with the EtherType
    bad_ihl,             // IPv4 IHL < 5 or header longer than the frame
    bad_ip_length,       // IP total/payload length shorter than the header or beyond the frame
    truncated_l4,        // TCP/UDP header does not fit in the IP packet
    bad_ipv6_ext,        // IPv6 extension header chain truncated or malformed
    no_server,           // the service has no server that can take the flow
    no_neighbor,         // the chosen server's MAC address is not known
    tx_full,             // the port's TX queue did not take the packet
    punt_full,           // the exception path did not take the packet
    too_big_no_df,       // too big once encapsulated, and fragmenting is allowed: not done
    icmp_rate_limited,   // an ICMP answer (too big, echo reply) over the per-lcore rate
    too_big_icmp_error,  // an ICMP error too big to encapsulate: never answered with ICMP
    inbox_full,          // an ICMP error for another lcore's flow: that lcore's inbox was full
    punt_policed,        // for the kernel, over its class's budget on this lcore (dataplane.exception)
    kCount
};
inline constexpr size_t kDropCount = static_cast<size_t>(Drop::kCount);

constexpr std::string_view drop_name(Drop d) {
    constexpr std::array<std::string_view, kDropCount> names = {
        "truncated_ether", "other_mac",         "truncated_ip",       "bad_ip_version", "bad_ihl",     "bad_ip_length",
        "truncated_l4",    "bad_ipv6_ext",      "no_server",          "no_neighbor",    "tx_full",     "punt_full",
        "too_big_no_df",   "icmp_rate_limited", "too_big_icmp_error", "inbox_full",     "punt_policed"};
    return names[static_cast<size_t>(d)];
}

// A counter with one writer (its lcore) and any number of relaxed readers.
// On x86-64 an add is one unlocked add to memory: an aligned 8-byte store is
// atomic there, so a reader sees the old or the new value, never a torn one
// (what a relaxed atomic load and store give, in one instruction where
// std::atomic's load + store take three; the per-packet path counts four).
class Counter {
public:
    void add(uint64_t n) {
#if defined(__x86_64__)
        asm volatile("addq %1, %0" : "+m"(v_) : "er"(n));
#else
        __atomic_store_n(&v_, __atomic_load_n(&v_, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
#endif
    }
    uint64_t get() const { return __atomic_load_n(&v_, __ATOMIC_RELAXED); }

private:
    alignas(8) uint64_t v_ = 0;
};

struct PacketsBytes {
    Counter packets;
    Counter bytes;
    void add(uint64_t len) {
        packets.add(1);
        bytes.add(len);
    }
};

// Gauges kept by one lcore: increments and decrements (added modulo 2^64);
// and the flows ever scheduled to the server (IPVS's Conns), beside them so
// that a new flow touches one place.
struct ConnCounts {
    Counter active;
    Counter inactive;
    Counter created;
    void add(bool is_active, int64_t n) { (is_active ? active : inactive).add(static_cast<uint64_t>(n)); }
};

// Slots for per-service and per-server counters. Control assigns a stable
// slot to each service and server (by name), so counters survive table swaps;
// a (service, host) keeps its slot until the process restarts, so the limit
// counts every server configured since start, not only the current ones.
// 2^18 server slots: 1000 services x 100 servers with 2.6x headroom for
// churn, at 40 B per slot (servers + conns) = 10 MiB per lcore. A fixed limit
// rather than one sized from the config at start-up: a reload that adds
// servers must not fail because the process started with a smaller config.
inline constexpr uint32_t kMaxServiceSlots = 4096;
inline constexpr uint32_t kMaxServerSlots = 1u << 18;

// One lcore's counters; allocated once per lcore on its socket, cache aligned.
struct alignas(64) LcoreCounters {
    // The lcore's loop count, bumped once per loop whether or not packets
    // came: control's watchdog sees a stalled lcore by it not advancing.
    Counter loops;
    Counter rx;
    Counter rx_bytes;
    Counter tx;                     // forwarded to a real server
    Counter punt;                   // handed to the kernel
    Counter from_kernel;            // received from the kernel and sent out of the port
    Counter too_big_sent;           // ICMP fragmentation-needed / packet-too-big sent to clients
    Counter echo_replies;           // echo requests to a VIP answered
    Counter icmp_errors_forwarded;  // ICMP errors about a flow sent to the flow's server
    Counter handed_over;            // received here, handed to the lcore owning their flow (Steering)
    // The exception path by class (PuntClass): passed its bucket (then
    // counted in punt, or punt_full) and policed (also in drops[punt_policed]).
    std::array<Counter, kPuntClassCount> punt_passed;
    std::array<Counter, kPuntClassCount> punt_policed;
    std::array<Counter, kDropCount> drops;
    Counter flows_evicted;      // live flows pushed out of a full flow-table bucket
    Counter flows_rescheduled;  // flows moved because their server went away
    alignas(64) std::array<PacketsBytes, kMaxServiceSlots> services;
    std::array<PacketsBytes, kMaxServerSlots> servers;
    // Connections per server as IPVS counts them: ESTABLISHED is active,
    // every other state inactive.
    std::array<ConnCounts, kMaxServerSlots> conns;

    void drop(Drop d, uint64_t n = 1) { drops[static_cast<size_t>(d)].add(n); }
    uint64_t dropped() const {
        uint64_t n = 0;
        for (const auto& c : drops) n += c.get();
        return n;
    }
};

}  // namespace tern::dp
