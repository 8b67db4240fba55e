// Control's HTTP API, PyBal-compatible so existing checks and scripts keep
// working: /pools, /pools/<service>, /pools/<service>/<host>, /alerts, in
// PyBal's text forms or as JSON when the Accept header asks for
// application/json; /metrics in Prometheus's text format.
#pragma once

#include <functional>
#include <string>

#include "control/ops/http_server.h"
#include "control/state/pools.h"
#include "control/state/table_builder.h"

namespace tern::ctl {

// The answer to one request. `metrics` renders /metrics; `unresolved`:
// pooled servers whose next hop's MAC is unknown (an alert); `critical`:
// the appliance's own critical conditions (a stalled worker lcore).
HttpResponse api_answer(const Pools& pools, const HttpRequest& request, const std::function<std::string()>& metrics,
                        const std::vector<Unresolved>& unresolved = {}, const std::vector<std::string>& critical = {});

// PyBal's /alerts: status ("ok", "warning", "critical") and message.
struct Alerts {
    std::string status;
    std::string msg;
};
// PyBal's, plus Tern's own: a pooled server whose MAC is unknown is critical
// (its share of the traffic is dropped), and so is each of `critical`.
Alerts alerts(const Pools& pools, const std::vector<Unresolved>& unresolved = {},
              const std::vector<std::string>& critical = {});

}  // namespace tern::ctl
