// The one door to control state. Every change to services, pools and
// servers goes through a ControlState: the config at start and on each
// reload (SIGHUP, the console's `reload`, a replay `reload` event), the
// operators' overrides (console), replay's down/up events, and through its
// Pools the pool sources and health monitors, always under the depool
// threshold. publish() turns whatever changed into one new table.
// `tern run` and `tern replay` both drive one. Control thread only.
#pragma once

#include <boost/asio/io_context.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "conf/config.h"
#include "control/state/desired_state.h"
#include "control/state/next_hops.h"
#include "control/state/pools.h"
#include "control/state/ring_cache.h"
#include "control/state/table_builder.h"
#include "dataplane/table_publisher.h"

namespace tern::ctl {

// How long build_and_publish took, table by table, in Prometheus' buckets
// (tern_table_publish_duration_seconds): a small config builds in well under
// a millisecond, new Maglev rings of many servers in tens to hundreds.
struct PublishTimes {
    static constexpr std::array<double, 14> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                       0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
    std::array<uint64_t, kBounds.size() + 1> counts{};  // last: above every bound
    double sum = 0;
    uint64_t count = 0;
    void add(double seconds);
};

class ControlState {
public:
    struct Options {
        bool pool_sources = true;   // false: the YAML's realservers only (replay)
        unsigned ring_threads = 1;  // threads that build changed Maglev rings
    };
    // `publisher` null: the state is followed but no table is built (replay's
    // dry run that finds when grace periods end).
    ControlState(boost::asio::io_context& io, Pools::Log log, dp::TablePublisher* publisher, Options options);

    // A checked config (load_config), at start and on every reload: services,
    // servers and monitors are created, kept or removed with minimal change;
    // operator overrides end; servers that leave a service with
    // removed_server_grace drain until `now_s` + grace. An error (a monitor
    // kind or pool source this build cannot run) changes nothing.
    std::optional<std::string> apply(const conf::Config& config, uint64_t now_s);

    // Operator overrides, until the next apply(); an empty service means
    // every service that has the host. Errors name the bad service or host.
    std::optional<std::string> set_enabled(const std::string& service, const std::string& host, bool enabled);
    std::optional<std::string> set_weight(const std::string& service, const std::string& host, uint32_t weight);
    std::optional<std::string> add_server(const std::string& service, const conf::RealServer& server);
    std::optional<std::string> del_server(const std::string& service, const std::string& host);
    // Takes the pool a source delivered that was held (Pools::held).
    std::optional<std::string> confirm_pool(const std::string& service) { return pools_.confirm(service); }
    // Down/up by hand, as a failing monitor: the depool threshold applies.
    std::optional<std::string> set_down(const std::string& service, const std::string& host, bool down);
    bool overridden(const std::string& service, const std::string& host) const {
        return pools_.overridden(service, host);
    }

    // Ends the grace periods due by `now_s`; the next one's end, if any.
    void expire(uint64_t now_s);
    std::optional<uint64_t> next_expiry() const { return state_.next_expiry(); }

    // Brings the desired state up to date with the pools and, when anything
    // changed since the last table (or there is none yet, or the kernel's
    // next hops moved), builds and publishes a new one. On error the
    // previous table stays.
    std::optional<std::string> publish(uint64_t now_s);

    // Next hops the config does not give are the kernel's (tern run); null
    // (the default): the config alone.
    void follow_kernel(KernelHops* kernel) { kernel_ = kernel; }
    // Pooled servers whose next hop's MAC is unknown, as of the last table.
    const std::vector<Unresolved>& unresolved() const { return unresolved_; }

    // The config as the tables serve it: pools, overrides and draining
    // servers applied (up to date as of the last publish()).
    conf::Config effective() const { return state_.effective(); }
    std::set<ServerId> down() const { return state_.down(); }
    const Pools& pools() const { return pools_; }
    // Monitors and sources: start, stop, settled.
    Pools& pools() { return pools_; }
    // Counter slots by name, for reading the lcores' counters.
    CounterSlots& slots() { return slots_; }
    uint64_t generation() const { return generation_; }
    // Every table built and published so far (failed builds not counted).
    const PublishTimes& publish_times() const { return publish_times_; }

private:
    void note_unresolved(std::vector<Unresolved> now);

    Pools pools_;
    DesiredState state_;
    dp::TablePublisher* publisher_;
    CounterSlots slots_;
    RingCache rings_;
    Pools::Log log_;
    KernelHops* kernel_ = nullptr;
    std::optional<uint64_t> kernel_seen_;  // KernelHops::version() of the last table
    std::vector<Unresolved> unresolved_;
    uint64_t generation_ = 0;  // of the last table published
    PublishTimes publish_times_;
    std::optional<uint64_t> pools_seen_;  // Pools::version() last put into state_
    std::optional<uint64_t> state_seen_;  // DesiredState::changes() of the last table
};

}  // namespace tern::ctl
