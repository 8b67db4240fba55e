// The desired state of the balancer: the config, each service's pool as
// control's pool state has it (Pools: sources, operators, health), the
// servers depooled for health, and removed servers draining for their grace
// period. Written only through ControlState (control_state.h), the one door
// every change takes; what it holds becomes the next table. Control thread
// only.
#pragma once

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

    // A new config; health state of servers that remain is kept. A server that
    // leaves a service with `removed_server_grace` stays as a drained
    // server (keeping its established flows) until `now_s` + grace.
    void reload(conf::Config config, uint64_t now_s = 0);
    // A service's pool as control's pool state has it now (pool sources,
    // health): its servers with their weights and enabled flags, and those
    // depooled for failing health (`down`: they lose their flows). Servers
    // that leave get the service's removed_server_grace. Returns false when
    // nothing changed.
    bool set_pool(const std::string& service, std::vector<conf::RealServer> servers, const std::set<std::string>& down,
                  uint64_t now_s);
    // Ends the grace of removed servers whose time has come; true when any did.
    bool expire(uint64_t now_s);
    // When the next grace ends (seconds), if any.
    std::optional<uint64_t> next_expiry() const;

    // The config with the pools and the draining servers.
    conf::Config effective() const;
    // Servers marked down: they take no flows and lose theirs.
    std::set<ServerId> down() const { return down_; }
    uint64_t changes() const { return changes_; }

private:
    // Servers of `old` missing from `now` become ghosts for now's grace.
    void keep_ghosts(const conf::Service& old, const conf::Service& now, uint64_t now_s);
    conf::Config base_;
    std::set<ServerId> down_;
    struct Ghost {
        conf::RealServer server;
        uint64_t until_s;
    };
    std::map<ServerId, Ghost> ghosts_;  // removed servers in their grace period
    uint64_t changes_ = 0;
};

}  // namespace tern::ctl
