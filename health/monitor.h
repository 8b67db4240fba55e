// A health monitor: checks one server of one service, again and again, and
// reports when its verdict changes. The kinds (ProxyFetch, IdleConnection,
// RunCommand, DNSQuery, UDP) keep PyBal's option names and meaning; each is
// a descriptor in its own file (health/monitor_kind.h: the registry and the
// option tables; docs/health.md: the behaviour). Everything runs on the
// thread that runs the io_context (the control thread): no thread per check,
// no blocking call.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "health/monitor_spec.h"

namespace tern::health {

// What is checked: a real server of a service, at the service's port.
struct Target {
    std::string service;
    std::string host;
    boost::asio::ip::address ip;
    uint16_t port = 0;
};

// Called when the monitor's verdict changes, and for its first verdict
// (PyBal's firstCheck). `reason` says why (the failed check's error, or the
// success). Never called after stop() or destruction.
using Report = std::function<void(bool up, const std::string& reason)>;
// Where a monitor's own log lines go (check details, command output); the
// line names the service, host and monitor already.
using Log = std::function<void(const std::string& line)>;

// Check durations in Prometheus-style cumulative-friendly buckets.
struct DurationHistogram {
    static constexpr std::array<double, 13> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                       0.25,  0.5,    1,     2.5,  5,     10};
    std::array<uint64_t, kBounds.size() + 1> counts{};  // last: above every bound
    double sum = 0;
    uint64_t count = 0;
    void add(double seconds);
    void merge(const DurationHistogram& o);
    // The upper bound of the bucket holding quantile q (0..1); +inf in the last.
    double quantile(double q) const;
};

// Counters for metrics and the console.
struct MonitorStats {
    uint64_t checks = 0;            // results seen
    uint64_t failures = 0;          // failed results
    uint64_t up_transitions = 0;    // verdict changes to up (the first verdict counts)
    uint64_t down_transitions = 0;  // verdict changes to down
    double last_duration_s = 0;     // of the last check, where it has one
    DurationHistogram durations;    // of checks that have a duration
    // The last duration per kind-specific label set, as PyBal's per-kind
    // gauges keep it: ProxyFetch {result, url} per URL fetched, RunCommand
    // {result, exitcode}; result is "successful" or "failed".
    using Labels = std::vector<std::pair<std::string, std::string>>;
    std::map<Labels, double> last_durations;
};

class Monitor {
public:
    Monitor(boost::asio::io_context& io, const MonitorSpec& spec, Target target, Report report);
    virtual ~Monitor();
    Monitor(const Monitor&) = delete;
    Monitor& operator=(const Monitor&) = delete;

    // Starts checking. Periodic monitors check first after one interval, as
    // PyBal does; IdleConnection connects at once.
    virtual void start() = 0;
    // Stops every check in flight and every timer; no report after this.
    void stop();

    const MonitorSpec& spec() const { return spec_; }
    const Target& target() const { return target_; }
    const char* name() const { return spec_.kind.c_str(); }
    // nullopt until the first verdict.
    std::optional<bool> up() const { return up_; }
    const std::string& last_reason() const { return last_reason_; }
    const MonitorStats& stats() const { return stats_; }
    void set_log(Log log) { log_ = std::move(log); }

protected:
    // One check's outcome. Applies rise/fall: the first outcome sets the
    // verdict at once; afterwards it changes after `rise` good or `fall` bad
    // outcomes in a row. Reports each change.
    void result(bool ok, const std::string& reason, double duration_s = 0);
    // One part of a check took `seconds` (MonitorStats::last_durations).
    void note_duration(MonitorStats::Labels labels, double seconds) {
        stats_.last_durations[std::move(labels)] = seconds;
    }
    // Cancel the kind's own sockets, timers, processes.
    virtual void on_stop() = 0;
    // Wraps a completion handler so that it does nothing once the monitor is
    // stopped or destroyed (Asio still runs cancelled handlers).
    template <class F>
    auto guard(F f) {
        return [alive = alive_, f = std::move(f)](auto&&... args) mutable {
            if (!*alive) return;
            f(std::forward<decltype(args)>(args)...);
        };
    }
    bool active() const { return *alive_; }
    // "<service> <monitor> <host>: <text>" to the log, if one is set.
    void log(const std::string& text) const;
    // A timer helper: calls `fn` after `seconds` (guarded).
    void after(boost::asio::steady_timer& timer, double seconds, std::function<void()> fn);

    boost::asio::io_context& io_;
    MonitorSpec spec_;
    Target target_;

private:
    Report report_;
    Log log_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::optional<bool> up_;
    std::string last_reason_;
    uint32_t streak_ = 0;  // outcomes in a row that disagree with the verdict
    MonitorStats stats_;
};

// Builds the monitor `spec` describes for `target`, through its kind's
// factory (monitor_kinds.cpp); nullptr for a kind not registered. Not started.
std::unique_ptr<Monitor> make_monitor(boost::asio::io_context& io, const MonitorSpec& spec, Target target,
                                      Report report);

// "{host}", "{ip}", "{port}", "{service}" in `text` replaced from `target`.
std::string substitute(const std::string& text, const Target& target);

}  // namespace tern::health
