// Tern's own DPDK telemetry endpoints, beside the EAL's (/ethdev/...), so
// that usertools/dpdk-telemetry.py on a running tern shows services,
// servers, flows and alerts:
//   /tern/services            the service names
//   /tern/service,NAME        one service: address, scheduler, state counts, its servers' PyBal status
//   /tern/servers,NAME        one service's servers: ip, weight, enabled/up/pooled, connections, packets
//   /tern/flows               flow-table entries and capacity
//   /tern/alerts              what /alerts says
// Telemetry answers on its own thread: control publishes a snapshot (every
// second and on change) that the callbacks read under a lock; they never
// touch control's state.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "control/daemon/stats.h"
#include "control/state/pools.h"
#include "control/state/table_builder.h"

namespace tern::ctl {

struct TelemetrySnapshot {
    struct Server {
        std::string host, ip, status;
        uint32_t weight = 0;
        bool enabled = false, up = false, pooled = false;
        uint64_t active = 0, inactive = 0, packets = 0, bytes = 0;
    };
    struct Service {
        std::string name, vip, protocol, scheduler, forward;
        uint16_t port = 0;
        double depool_threshold = 0;
        uint64_t packets = 0, bytes = 0;
        std::vector<Server> servers;
    };
    std::vector<Service> services;
    uint64_t flows = 0, flow_capacity = 0;
    std::string alert_status, alert_msg;
};

// Builds the snapshot from control's state (control thread).
TelemetrySnapshot telemetry_snapshot(const conf::Config& effective, const Pools& pools, const Stats& stats,
                                     uint64_t flow_capacity, const std::vector<Unresolved>& unresolved = {});

class Telemetry {
public:
    // Registers the endpoints (once per process; after rte_eal_init).
    static std::string register_endpoints();
    static void publish(TelemetrySnapshot snapshot);
};

}  // namespace tern::ctl
