// /metrics in Prometheus's text exposition format (version 0.0.4): PyBal's
// metrics under PyBal's own names, types and labels (pybal_service_*,
// pybal_monitor_*, pybal_bgp_*) so its dashboards and alerts keep working,
// the same again under tern_ with Tern's additions, the dataplane's counters
// per port, lcore, service, server and drop reason, histograms of check and
// table-publish durations, tern_build_info and the process_* metrics of
// Prometheus' client libraries. docs/operations.md lists them.
#pragma once

#include <string>

#include "bgp/speaker.h"
#include "control/daemon/stats.h"
#include "control/daemon/watchdog.h"
#include "control/state/control_state.h"
#include "control/state/pools.h"
#include "control/state/table_builder.h"

namespace tern::ctl {

// `speaker` may be null (no bgp section); `flow_capacity`: flow-table entries
// over all lcores; `unresolved`: pooled servers whose next hop's MAC is unknown;
// `publish_times` (may be null): the table builds' durations.
std::string metrics_text(const Pools& pools, const Stats& stats, const bgp::Speaker* speaker,
                         uint64_t flow_capacity = 0, const std::vector<Unresolved>& unresolved = {},
                         const PublishTimes* publish_times = nullptr);

// The lcore watchdog's view, appended to metrics_text's in tern run: each
// worker's loop counter and whether it is stalled (no loop in the last check).
std::string lcore_metrics_text(const std::vector<Heartbeat>& beats, const std::vector<unsigned>& stalled);

// A label value escaped as the format wants (\\, \", \n).
std::string prom_escape(const std::string& value);

}  // namespace tern::ctl
