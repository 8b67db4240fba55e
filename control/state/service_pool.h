// One service's servers as PyBal's coordinator sees them: enabled/disabled
// (pool sources, operators), up/partially up/down (monitors), pooled/not
// pooled, and the depool threshold that keeps failing servers pooled when
// depooling them would leave too few. Pure logic, no I/O: control feeds it
// pool changes and monitor verdicts and turns its answer into tables.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"

namespace tern::ctl {

struct ServerState {
    std::string host;
    conf::IpAddr ip;
    uint32_t weight = 10;
    bool enabled = true;
    bool up = true;            // all monitors up; assumed at first, as PyBal does
    bool pooled = true;        // in the forwarding table
    bool forced_down = false;  // marked down by hand (`tern replay --events` down/up), as a failing monitor
    std::vector<std::optional<bool>> monitor_up;  // per monitor; nullopt before its first verdict
    std::vector<std::string> monitor_reason;

    bool partially_up() const;  // some monitor up (or none configured)
    // "enabled/up/pooled", "disabled/partially up/not pooled": PyBal's words.
    std::string text_status() const;
};

class ServicePool {
public:
    using Log = std::function<void(conf::LogLevel, const std::string&)>;
    // `monitors`: the names of the service's monitors, in order.
    ServicePool(std::string name, double depool_threshold, std::vector<std::string> monitors, Log log);

    // The complete pool (from the YAML, a pool file, etcd). Servers that stay
    // keep their health; new ones start up (and pooled when enabled); gone
    // ones are removed. Weight and enabled changes are merged.
    void set_servers(const std::vector<conf::RealServer>& servers);
    // A monitor's verdict changed (health::Monitor reports only changes).
    void monitor_result(const std::string& host, size_t monitor, bool up, const std::string& reason);
    // A verdict from outside the monitors (replay's down/up events): down
    // counts as a failing monitor until `up` clears it, under the same
    // depool threshold. Returns false when the host is not in the pool.
    bool set_forced_down(const std::string& host, bool down);
    // The threshold or the monitors changed (reload): health kept where the
    // monitors are the same; otherwise servers start over as up.
    void reconfigure(double depool_threshold, std::vector<std::string> monitors, bool monitors_changed);

    // Another server may be depooled: up-and-enabled servers >= N x threshold.
    bool can_depool() const;
    const std::string& name() const { return name_; }
    double depool_threshold() const { return threshold_; }
    const std::vector<std::string>& monitors() const { return monitors_; }
    const std::map<std::string, ServerState>& servers() const { return servers_; }
    const ServerState* server(const std::string& host) const;
    // Down servers kept pooled because of the threshold, oldest first.
    const std::vector<std::string>& pooled_down() const { return pooled_down_; }
    // Times a server could not be depooled (pybal_service_could_not_depool_total).
    uint64_t could_not_depool() const { return could_not_depool_; }
    // Bumped on every change of what the table should hold.
    uint64_t version() const { return version_; }

private:
    void depool(ServerState& s);
    void repool(ServerState& s);
    // Depools pooled-but-down servers while the threshold allows.
    void drain_pooled_down();
    bool calc_up(const ServerState& s) const;
    // A verdict changed: `up` follows calc_up; down depools (within the
    // threshold), up repools an enabled server.
    void follow_health(ServerState& s);
    void forget_pooled_down(const std::string& host);
    void say(const std::string& text, conf::LogLevel level = conf::LogLevel::info) const;

    std::string name_;
    double threshold_;
    std::vector<std::string> monitors_;
    Log log_;
    std::map<std::string, ServerState> servers_;
    std::vector<std::string> pooled_down_;
    uint64_t could_not_depool_ = 0;
    uint64_t version_ = 0;
};

}  // namespace tern::ctl
