// `tern run`: the appliance, as an object with a start, a serve and a stop.
// start() brings the parts up in order (config, EAL, ports, BGP listener,
// pools, first table, lcores, routes, monitors, HTTP API, console,
// telemetry), then drops the capabilities it no longer needs; serve() is the control thread's loop (the EAL main lcore)
// until SIGTERM, SIGINT or the console's quit; stop() takes them down in
// the reverse order, routes first. docs/design.md draws the threads.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "control/config/config_diff.h"

namespace tern::ctl {

struct RunOptions {
    std::string config;
    bool interactive = false;
    bool keep_privileges = false;       // no capability drop after start-up (privileges.h)
    std::vector<std::string> eal_args;  // replaces the defaults when given
};

class Appliance {
public:
    explicit Appliance(RunOptions options);
    ~Appliance();
    Appliance(const Appliance&) = delete;
    Appliance& operator=(const Appliance&) = delete;

    // Brings everything up; 0, or the exit status after printing why not
    // (2: the config or the command line, 1: the machine). Once.
    int start();
    // The control loop: reloads, pool and health changes to tables, routes,
    // telemetry; returns when asked to stop.
    void serve();
    // Graceful stop: routes withdrawn (the routers move the VIPs), monitors
    // and interfaces stopped, forwarding for bgp.drain_time (a second
    // SIGTERM or SIGINT cuts it short), then lcores stopped, counters
    // printed, ports closed.
    void stop();

    struct Parts;

private:
    int start_dataplane();
    int start_control();
    void start_operators();
    // What changed to a new table and to the routes announced.
    void sync();
    void announce();
    // SIGHUP and the console's `reload`: a config with any error is
    // rejected whole and the running one stays. Says what happened.
    std::string reload();
    // What a reload changes while running (config_diff.h's live keys);
    // returns what the parts said they did.
    std::vector<std::string> apply_live(const ConfigDiff& diff, const conf::Config& next);
    // The HTTP API and the console socket on config_'s addresses (again);
    // what went wrong (logged too), or empty.
    std::string listen_http();
    std::string listen_console();
    // At a stop, routes withdrawn: forwarding until bgp.drain_time after
    // the withdrawal, or a second stop signal.
    std::chrono::steady_clock::time_point start_drain();
    void drain(std::chrono::steady_clock::time_point until);
    std::string status() const;
    // The lcore watchdog, each control loop: whether no worker is stalled.
    bool watch_lcores();
    bool no_worker() const;  // every worker lcore stalled
    // The appliance's own critical conditions, for /alerts.
    std::vector<std::string> critical() const;

    RunOptions options_;
    conf::Config config_;   // the running config (the last one loaded whole)
    conf::Config started_;  // the one at start: what the keys that need a restart still hold
    bool eal_started_ = false;
    unsigned drain_signals_ = 0;    // stop signals when the drain began
    std::unique_ptr<Parts> parts_;  // everything that needs the EAL; gone before it is
};

// `tern run`: start, serve, stop. Returns the process exit status.
int run_appliance(const RunOptions& options);

}  // namespace tern::ctl
