// What the console's `show` commands print, as text from control's state:
// ipvsadm -Ln's layout, PyBal's pool states, counters, BGP sessions, flows.
// Control thread only.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "bgp/speaker.h"
#include "conf/config.h"
#include "control/daemon/stats.h"
#include "control/state/pools.h"
#include "control/state/table_builder.h"
#include "dataplane/flow_table.h"

namespace tern::ctl {

// ipvsadm -Ln's layout for the given services (all when `only` is empty).
std::string ipvsadm_text(const conf::Config& config, const Stats& stats, const Pools& pools, const std::string& only);
// ipvsadm -Ln --stats: Conns, InPkts, OutPkts, InBytes, OutBytes since start.
std::string ipvsadm_stats_text(const conf::Config& config, const Stats& stats, const Pools& pools,
                               const std::string& only);
// ipvsadm -Ln --rate: per second between `before` and `stats`, `seconds` apart.
std::string ipvsadm_rate_text(const conf::Config& config, const Stats& stats, const Stats& before, double seconds,
                              const Pools& pools, const std::string& only);

// Each server's enabled/up/pooled state, monitors, override marks and, for
// the `unresolved`, the next hop whose MAC is unknown (all services when
// `only` is empty).
std::string pools_text(const Pools& pools, const std::string& only, const std::vector<Unresolved>& unresolved = {});

// `ipvsadm -Lnc`'s layout for sampled flows: protocol, time left (mm:ss,
// against the flow clock `now`), IPVS state, client, VIP, server.
std::string connections_text(const std::vector<dp::FlowSample>& flows, const CounterSlots& slots,
                             const conf::Config& config, uint32_t now);

// testpmd's `show port stats` block for one port: its counters and, with
// `before` (the previous show's, `seconds` ago), the throughput since.
std::string testpmd_port_stats_text(const PortStats& now, const PortStats* before, double seconds);

// Counters: all (`what` empty), or the port, lcore or service table.
std::string stats_text(const Stats& stats, const std::string& what);

// BGP sessions as routers show them; `speaker` null: not configured.
std::string bgp_text(const bgp::Speaker* speaker);

// Sampled flows as `show flows` prints them (lcore, 5-tuple, state, server).
std::string flows_text(const std::vector<dp::FlowSample>& flows, const CounterSlots& slots, size_t live,
                       size_t capacity);

}  // namespace tern::ctl
