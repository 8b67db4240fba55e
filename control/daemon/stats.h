// Counter snapshots: control sums the per-lcore counters and renders them
// for people (a table) and programs (JSON, schema in conf/STATS.md).
// Control thread only.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "conf/config.h"
#include "control/state/table_builder.h"
#include "dataplane/counters.h"

namespace tern::ctl {

struct PortStats {
    uint16_t id = 0;  // DPDK port id (testpmd's port number)
    std::string name;
    std::string device;
    uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
    uint64_t rx_missed = 0, rx_errors = 0, tx_errors = 0, rx_nombuf = 0;
};

struct LcoreStats {
    unsigned lcore = 0;
    unsigned queue = 0;
    uint64_t rx = 0, tx = 0, punt = 0, from_kernel = 0;
    uint64_t too_big_sent = 0, echo_replies = 0, icmp_errors_forwarded = 0;
    uint64_t handed_over = 0;  // received here, handed to the lcore owning their flow
    uint64_t flows_evicted = 0, flows_rescheduled = 0;
    std::array<uint64_t, dp::kDropCount> drops{};
    // The exception path by class (dp::PuntClass): passed its bucket, policed.
    std::array<uint64_t, dp::kPuntClassCount> punt_passed{}, punt_policed{};
    uint64_t dropped() const;
};

struct ServerStats {
    std::string host;
    std::string ip;
    uint32_t weight = 0;
    bool enabled = false;
    uint64_t packets = 0, bytes = 0;
    uint64_t active_conns = 0, inactive_conns = 0;  // IPVS's ActiveConn / InActConn
    uint64_t conns = 0;                             // flows ever scheduled to it (IPVS's Conns)
};

struct ServiceStats {
    std::string name, vip, protocol, scheduler, forward;
    uint16_t port = 0;
    uint64_t packets = 0, bytes = 0;
    uint64_t conns = 0;  // its servers' conns
    std::vector<ServerStats> servers;
};

struct Stats {
    std::vector<PortStats> ports;
    std::vector<LcoreStats> lcores;
    LcoreStats totals;  // lcore and queue unused
    std::vector<ServiceStats> services;
    uint64_t flow_capacity = 0;  // entries in all lcores' flow tables (ipvsadm's "size")
};

struct LcoreRef {
    unsigned lcore;
    unsigned queue;
    const dp::LcoreCounters* counters;
};

// Sums lcore counters into per-service and per-server figures for `config`.
Stats collect(const conf::Config& config, CounterSlots& slots, const std::vector<LcoreRef>& lcores,
              std::vector<PortStats> ports);

// A DPDK port's counters (rte_eth_stats).
PortStats port_stats(uint16_t port, const std::string& name, const std::string& device);

std::string to_json(const Stats& stats);
std::string to_text(const Stats& stats);

}  // namespace tern::ctl
