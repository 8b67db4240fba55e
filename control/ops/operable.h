// What the console's commands look at and act on: the one seam between the
// command registry and the daemon. `tern run` implements it over its parts
// (control/daemon/appliance.cpp); the unit tests over a ControlState of their own.
// Control thread only.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "bgp/speaker.h"
#include "conf/config.h"
#include "control/daemon/stats.h"
#include "control/ops/capture.h"
#include "control/state/control_state.h"

namespace tern::ctl {

class Operable {
public:
    virtual ~Operable() = default;

    // The one door to pool state: overrides go through its set_enabled,
    // set_weight, add_server, del_server; its pools() are read for services,
    // servers and overridden().
    virtual ControlState& state() = 0;
    // The config as the tables serve it (pools and overrides applied).
    virtual conf::Config effective_config() = 0;
    virtual Stats stats() = 0;
    // Seconds since the dataplane started.
    virtual double uptime() const = 0;
    // For a view's rates ("services", "ports"): the counters its previous
    // call was given (nullopt at the first) and the seconds since; keeps
    // `now` for the next call.
    virtual std::optional<Stats> rate_base(const std::string& view, const Stats& now, double& seconds) = 0;
    // Null when BGP is not configured.
    virtual const bgp::Speaker* speaker() const = 0;
    // Up to `max` flows sampled from the lcores' flow tables, rendered.
    virtual std::string flows(size_t max) = 0;
    // The same sample in ipvsadm -Lnc's layout.
    virtual std::string connections(size_t max) = 0;
    // Re-reads the config file; says what happened.
    virtual std::string reload() = 0;
    virtual const std::string& config_path() const = 0;
    // Packet capture on the ports; null when there are no ports.
    virtual Capture* capture() = 0;
    // The appliance's own critical conditions for /alerts (a stalled worker lcore).
    virtual std::vector<std::string> critical() const { return {}; }
    // Fault injection (`debug stall`): worker lcore `lcore` busy-waits
    // `seconds`. An error message, or "" when done.
    virtual std::string stall_lcore(unsigned /*lcore*/, unsigned /*seconds*/) {
        return "no worker lcores in this process";
    }
};

}  // namespace tern::ctl
