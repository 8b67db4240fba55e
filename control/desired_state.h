// The desired state of the balancer: the config plus what operators,
// health checks and events changed since (weights, pooled/depooled,
// down/up). Every change goes through here and becomes a new table.
// Control thread only.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "conf/config.h"

namespace tern::ctl {

using ServerId = std::pair<std::string, std::string>;  // (service, host)

class DesiredState {
public:
    explicit DesiredState(conf::Config config) : base_(std::move(config)) {}

    // Each names the bad service/host in its error. An empty service means
    // every service that has the host.
    std::optional<std::string> set_weight(const std::string& service, const std::string& host, uint32_t weight);
    std::optional<std::string> set_enabled(const std::string& service, const std::string& host, bool enabled);
    std::optional<std::string> set_down(const std::string& service, const std::string& host, bool down);
    // A new config: operator overrides end (as PyBal's pool files win on
    // reload); health state of servers that remain is kept. A server that
    // leaves a service with `removed_server_grace` stays as a drained
    // server (keeping its established flows) until `now_s` + grace.
    void reload(conf::Config config, uint64_t now_s = 0);
    // A service's pool as control's pool state has it now (pool sources,
    // health): its servers with their weights and enabled flags, and those
    // depooled for failing health (`down`: they lose their flows). Servers
    // that leave get the service's removed_server_grace. Operator overrides
    // of servers that stay are kept. Returns false when nothing changed.
    bool set_pool(const std::string& service, std::vector<conf::RealServer> servers,
                  const std::set<std::string>& down, uint64_t now_s);
    // Ends the grace of removed servers whose time has come; true when any did.
    bool expire(uint64_t now_s);
    // When the next grace ends (seconds), if any.
    std::optional<uint64_t> next_expiry() const;

    // The config with the overrides applied.
    conf::Config effective() const;
    // Servers marked down: they take no flows and lose theirs.
    std::set<ServerId> down() const { return down_; }
    uint64_t changes() const { return changes_; }

private:
    // Servers of `old` missing from `now` become ghosts for now's grace.
    void keep_ghosts(const conf::Service& old, const conf::Service& now, uint64_t now_s);
    std::optional<std::string> for_each(const std::string& service, const std::string& host,
                                        const std::function<void(const ServerId&)>& fn);
    conf::Config base_;
    std::map<ServerId, uint32_t> weights_;
    std::map<ServerId, bool> enabled_;
    std::set<ServerId> down_;
    struct Ghost {
        conf::RealServer server;
        uint64_t until_s;
    };
    std::map<ServerId, Ghost> ghosts_;  // removed servers in their grace period
    uint64_t changes_ = 0;
};

}  // namespace tern::ctl
