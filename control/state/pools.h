// Pool state for every service, kept by control: which servers each service
// has (from the YAML or its pool source), what their monitors say, and what
// the depool threshold allows. Runs the monitors on the control thread's
// io_context; everything it decides becomes a new table through
// DesiredState. One instance per `tern run`.
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conf/config.h"
#include "control/sources/pool_source.h"
#include "control/state/desired_state.h"
#include "control/state/service_pool.h"
#include "health/monitor.h"

namespace tern::ctl {

class Pools {
public:
    using Log = ServicePool::Log;
    // `pool_sources` false: the YAML's realservers are every service's pool
    // and no source is started (`tern replay`, whose pools are as configured).
    Pools(boost::asio::io_context& io, Log log, bool pool_sources = true);
    ~Pools();

    // The config to serve, at start and on each reload: services, servers
    // and monitors are created, kept or removed with minimal change (a kept
    // server with the same monitors keeps its health). Errors (a monitor
    // kind this build lacks) leave everything as it was.
    std::optional<std::string> apply(const conf::Config& config);
    // Starts the monitors (after the first table is out). Pool sources
    // start at apply(): the first table should hold their pools.
    void start();
    // Every pool source has answered (a pool or a failure) at least once.
    bool settled() const;
    // Stops every monitor and source.
    void stop();

    // Operator overrides from the console, kept until the next reload (apply):
    // enable/disable (pool/depool), weight, an added or deleted server. An
    // empty service means every service that has the host. Errors name the
    // bad service or host.
    std::optional<std::string> set_enabled(const std::string& service, const std::string& host, bool enabled);
    std::optional<std::string> set_weight(const std::string& service, const std::string& host, uint32_t weight);
    std::optional<std::string> add_server(const std::string& service, const conf::RealServer& server);
    std::optional<std::string> del_server(const std::string& service, const std::string& host);
    // Marks a server down (or clears the mark) as a failing monitor would:
    // the depool threshold decides whether it leaves the pool. Kept across
    // reloads while the server stays. `tern replay --events` down/up.
    std::optional<std::string> set_down(const std::string& service, const std::string& host, bool down);
    // True when (service, host) carries an operator override.
    bool overridden(const std::string& service, const std::string& host) const;

    // Bumped whenever what the tables should hold changed.
    uint64_t version() const;
    // Puts every service's servers and health into `state` (its pools,
    // weights, enabled flags, and the servers depooled for health).
    void fill(DesiredState& state, uint64_t now_s) const;

    const std::map<std::string, ServicePool>& services() const { return services_; }
    // The VIPs of `config` with at least one service that has a pooled,
    // enabled server of non-zero weight (bgp.withdraw_unpooled).
    std::set<conf::IpAddr> serving_vips(const conf::Config& config) const;
    // Services whose pool source is failing now (its last good pool kept), with the error.
    const std::map<std::string, std::string>& source_errors() const { return source_errors_; }

    // An answer of a pool source that control did not take: the last good
    // pool stays. Too many servers for the service's table (rejected), or
    // more serving servers removed or disabled at once than the depool
    // threshold allows (held until confirmed, with `hold_removals`). The
    // source's next different answer is judged again.
    struct Held {
        Pool pool;
        std::string reason;
        bool confirmable = false;
    };
    const std::map<std::string, Held>& held() const { return held_; }
    // The operator takes the service's held pool (`confirm pool SERVICE`).
    std::optional<std::string> confirm(const std::string& service);
    // Why `after` takes too many of `before`'s serving servers out at once:
    // fewer than `threshold` of them would still serve. nullopt: it does not.
    static std::optional<std::string> too_many_removed(const Pool& before, const Pool& after, double threshold);
    // The monitors of (service, host), in the service's monitor order.
    std::vector<const health::Monitor*> monitors(const std::string& service, const std::string& host) const;

private:
    struct Override {
        std::optional<bool> enabled;
        std::optional<uint32_t> weight;
        std::optional<conf::RealServer> added;
        bool deleted = false;
    };
    // The service's pool (its base list with the overrides) to its ServicePool.
    void push(const std::string& service);
    void say(const std::string& line, conf::LogLevel level = conf::LogLevel::info) const;
    // Each service named by `service` ("" = all) that has `host`.
    std::optional<std::string> each_with(const std::string& service, const std::string& host,
                                         const std::function<void(const std::string&)>& fn);
    void start_monitors(const std::string& service, const std::string& host);
    void stop_monitors(const std::string& service, const std::string& host);
    void sync_monitors(const std::string& service);
    // Starts, keeps or replaces the service's pool source as its config says.
    void start_source(const conf::Service& s);
    // A pool source delivered: checked (size, removals), then taken or held.
    void source_pool(const std::string& service, const Pool& pool);
    // The pool becomes the service's base list (with addresses).
    void take(const std::string& service, const Pool& pool);
    void hold(const std::string& service, const Pool& pool, bool confirmable, const std::string& why);
    // The source's last pool with addresses from the service's realservers,
    // IP literals, or DNS (asynchronous; pending hosts are left out until
    // resolved, as PyBal leaves unresolved servers out).
    std::vector<conf::RealServer> addressed(const std::string& service, const Pool& pool);

    boost::asio::io_context& io_;
    Log log_;
    bool pool_sources_;
    bool started_ = false;
    std::map<std::string, ServicePool> services_;
    std::map<std::string, conf::Service> config_;                // each service as configured
    std::map<std::string, std::vector<conf::RealServer>> base_;  // the pool before overrides
    std::map<std::pair<std::string, std::string>, Override> overrides_;
    std::map<std::pair<std::string, std::string>, std::vector<std::unique_ptr<health::Monitor>>> monitors_;
    uint64_t version_base_ = 0;
    std::map<std::string, std::string> source_errors_;
    std::map<std::string, Held> held_;
    struct Source {
        std::unique_ptr<PoolSource> source;
        conf::PoolSource spec;
        std::optional<Pool> last;  // the last pool it delivered
        bool answered = false;
    };
    std::map<std::string, Source> sources_;
    // DNS for pool hosts that are neither in the YAML nor addresses: (host, family) -> address.
    std::map<std::pair<std::string, int>, conf::IpAddr> resolved_;
    std::set<std::pair<std::string, int>> resolving_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tern::ctl
