#include "control/state/desired_state.h"

namespace tern::ctl {

void DesiredState::keep_ghosts(const conf::Service& old, const conf::Service& now, uint64_t now_s) {
    if (now.removed_server_grace == 0) return;
    for (const auto& rs : old.realservers) {
        bool kept = false;
        for (const auto& n : now.realservers) kept = kept || n.host == rs.host;
        if (!kept && !down_.count({old.name, rs.host})) {
            ghosts_[{old.name, rs.host}] = Ghost{rs, now_s + now.removed_server_grace};
        }
    }
}

bool DesiredState::set_pool(const std::string& service, std::vector<conf::RealServer> servers,
                            const std::set<std::string>& down, uint64_t now_s) {
    conf::Service* svc = nullptr;
    for (auto& s : base_.services) {
        if (s.name == service) svc = &s;
    }
    if (svc == nullptr) return false;
    bool changed = svc->realservers.size() != servers.size();
    for (size_t i = 0; !changed && i < servers.size(); ++i) {
        const auto& a = svc->realservers[i];
        const auto& b = servers[i];
        changed = a.host != b.host || !(a.ip == b.ip) || a.weight != b.weight || a.enabled != b.enabled;
    }
    for (const auto& rs : servers) changed = changed || down.count(rs.host) != down_.count({service, rs.host});
    if (!changed) return false;
    conf::Service next = *svc;
    next.realservers = std::move(servers);
    keep_ghosts(*svc, next, now_s);
    for (const auto& rs : next.realservers) ghosts_.erase({service, rs.host});
    // Down marks only for servers still there.
    std::set<std::string> hosts;
    for (const auto& rs : next.realservers) hosts.insert(rs.host);
    for (auto it = down_.begin(); it != down_.end();) {
        it = it->first == service ? down_.erase(it) : std::next(it);
    }
    for (const auto& h : down) {
        if (hosts.count(h)) down_.insert({service, h});
    }
    svc->realservers = std::move(next.realservers);
    ++changes_;
    return true;
}

void DesiredState::reload(conf::Config config, uint64_t now_s) {
    // Servers that leave a service with a grace period keep their flows for it.
    for (const auto& old : base_.services) {
        for (const auto& s : config.services) {
            if (s.name == old.name) keep_ghosts(old, s, now_s);
        }
    }
    // A server back in the config is no longer a ghost.
    for (const auto& s : config.services) {
        for (const auto& rs : s.realservers) ghosts_.erase({s.name, rs.host});
    }
    base_ = std::move(config);
    std::set<ServerId> still;
    for (const auto& s : base_.services) {
        for (const auto& rs : s.realservers) {
            if (down_.count({s.name, rs.host})) still.insert({s.name, rs.host});
        }
    }
    down_ = std::move(still);
    ++changes_;
}

bool DesiredState::expire(uint64_t now_s) {
    bool any = false;
    for (auto it = ghosts_.begin(); it != ghosts_.end();) {
        if (it->second.until_s <= now_s) {
            it = ghosts_.erase(it);
            any = true;
        } else {
            ++it;
        }
    }
    if (any) ++changes_;
    return any;
}

std::optional<uint64_t> DesiredState::next_expiry() const {
    std::optional<uint64_t> next;
    for (const auto& [id, g] : ghosts_) {
        if (!next || g.until_s < *next) next = g.until_s;
    }
    return next;
}

conf::Config DesiredState::effective() const {
    conf::Config c = base_;
    // Servers in their grace period: drained (no new flows, flows kept).
    for (auto& s : c.services) {
        for (const auto& [id, g] : ghosts_) {
            if (id.first != s.name) continue;
            conf::RealServer rs = g.server;
            rs.enabled = false;
            s.realservers.push_back(rs);
        }
    }
    return c;
}

}  // namespace tern::ctl
