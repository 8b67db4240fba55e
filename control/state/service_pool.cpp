#include "control/state/service_pool.h"

#include <fmt/format.h>

#include <algorithm>

namespace tern::ctl {

bool ServerState::partially_up() const {
    if (forced_down) return false;
    if (monitor_up.empty()) return true;
    return std::any_of(monitor_up.begin(), monitor_up.end(), [](const auto& u) { return u.value_or(false); });
}

std::string ServerState::text_status() const {
    return fmt::format("{}/{}/{}", enabled ? "enabled" : "disabled",
                       up ? "up" : (partially_up() ? "partially up" : "down"), pooled ? "pooled" : "not pooled");
}

ServicePool::ServicePool(std::string name, double depool_threshold, std::vector<std::string> monitors, Log log)
    : name_(std::move(name)), threshold_(depool_threshold), monitors_(std::move(monitors)), log_(std::move(log)) {}

void ServicePool::say(const std::string& text, conf::LogLevel level) const {
    if (log_) log_(level, fmt::format("[{}] {}", name_, text));
}

const ServerState* ServicePool::server(const std::string& host) const {
    auto it = servers_.find(host);
    return it == servers_.end() ? nullptr : &it->second;
}

bool ServicePool::can_depool() const {
    size_t up = 0;
    for (const auto& [h, s] : servers_) up += s.up && s.enabled;
    return static_cast<double>(up) >= static_cast<double>(servers_.size()) * threshold_;
}

bool ServicePool::calc_up(const ServerState& s) const {
    // Up when every monitor says so and nobody marked it down; with no
    // monitors only a mark can say otherwise.
    if (s.forced_down) return false;
    if (s.monitor_up.empty()) return true;
    return std::all_of(s.monitor_up.begin(), s.monitor_up.end(), [](const auto& u) { return u.value_or(false); });
}

void ServicePool::forget_pooled_down(const std::string& host) {
    pooled_down_.erase(std::remove(pooled_down_.begin(), pooled_down_.end(), host), pooled_down_.end());
}

void ServicePool::depool(ServerState& s) {
    if (can_depool()) {
        s.pooled = false;
        forget_pooled_down(s.host);
        ++version_;
        say(fmt::format("Depooling server {} ({})", s.host, s.text_status()));
    } else {
        if (std::find(pooled_down_.begin(), pooled_down_.end(), s.host) == pooled_down_.end()) {
            pooled_down_.push_back(s.host);
        }
        ++could_not_depool_;
        say(fmt::format("Could not depool server {} because of too many down!", s.host), conf::LogLevel::error);
    }
}

void ServicePool::repool(ServerState& s) {
    if (!s.pooled) {
        s.pooled = true;
        ++version_;
        say(fmt::format("Repooling server {} ({})", s.host, s.text_status()));
    } else {
        say(fmt::format("Leaving previously pooled but down server {} pooled", s.host));
    }
    forget_pooled_down(s.host);
    drain_pooled_down();
}

void ServicePool::drain_pooled_down() {
    while (!pooled_down_.empty() && can_depool()) {
        const std::string host = pooled_down_.front();
        pooled_down_.erase(pooled_down_.begin());
        auto it = servers_.find(host);
        if (it == servers_.end() || !it->second.pooled || it->second.up) continue;
        depool(it->second);
    }
}

void ServicePool::monitor_result(const std::string& host, size_t monitor, bool up, const std::string& reason) {
    auto it = servers_.find(host);
    if (it == servers_.end() || monitor >= it->second.monitor_up.size()) return;
    ServerState& s = it->second;
    s.monitor_up[monitor] = up;
    s.monitor_reason[monitor] = reason;
    if (!up) {
        say(fmt::format("Monitoring instance {} reports server {} ({}) down: {}", monitors_[monitor], host,
                        s.text_status(), reason.empty() ? "(reason unknown)" : reason),
            conf::LogLevel::error);
    }
    follow_health(s);
}

bool ServicePool::set_forced_down(const std::string& host, bool down) {
    auto it = servers_.find(host);
    if (it == servers_.end()) return false;
    ServerState& s = it->second;
    if (s.forced_down == down) return true;
    s.forced_down = down;
    if (down) {
        say(fmt::format("Server {} ({}) marked down", host, s.text_status()), conf::LogLevel::error);
    } else {
        say(fmt::format("Server {} ({}) no longer marked down", host, s.text_status()));
    }
    follow_health(s);
    return true;
}

void ServicePool::follow_health(ServerState& s) {
    const bool up = calc_up(s);
    if (s.up && !up) {
        s.up = false;
        if (s.pooled) depool(s);
    } else if (!s.up && up) {
        s.up = true;
        say(fmt::format("Server {} ({}) is up", s.host, s.text_status()));
        if (s.enabled) repool(s);
    }
}

void ServicePool::set_servers(const std::vector<conf::RealServer>& servers) {
    std::map<std::string, ServerState> next;
    const bool first = servers_.empty();
    for (const auto& rs : servers) {
        auto old = servers_.find(rs.host);
        if (old != servers_.end()) {
            ServerState s = old->second;
            const bool changed = s.weight != rs.weight || s.enabled != rs.enabled || !(s.ip == rs.ip);
            s.ip = rs.ip;
            s.weight = rs.weight;
            if (s.enabled != rs.enabled) {
                s.enabled = rs.enabled;
                // Disabled: out of the pool, drained. Enabled again: pooled
                // when its monitors say up.
                s.pooled = s.enabled && s.up;
                ++version_;
            }
            if (changed) {
                say(fmt::format("Merged {} server {}, weight {}", s.enabled ? "enabled" : "disabled", s.host,
                                s.weight));
                ++version_;
            }
            next.emplace(rs.host, std::move(s));
        } else {
            ServerState s;
            s.host = rs.host;
            s.ip = rs.ip;
            s.weight = rs.weight;
            s.enabled = rs.enabled;
            s.up = true;
            s.pooled = rs.enabled;
            s.monitor_up.assign(monitors_.size(), std::nullopt);
            s.monitor_reason.assign(monitors_.size(), "");
            if (!first)
                say(fmt::format("New {} server {}, weight {}", s.enabled ? "enabled" : "disabled", s.host, s.weight));
            next.emplace(rs.host, std::move(s));
            ++version_;
        }
    }
    for (const auto& [host, s] : servers_) {
        if (!next.count(host)) {
            say(fmt::format("Removing server {} (no longer found in new configuration)", host));
            ++version_;
        }
    }
    if (first && !next.empty()) {
        size_t enabled = 0;
        for (const auto& [h, s] : next) enabled += s.enabled;
        say(fmt::format("Added {} server(s): {} enabled server(s) and {} disabled server(s)", next.size(), enabled,
                        next.size() - enabled));
    }
    servers_ = std::move(next);
    // Pooled-but-down servers that left, or were disabled, are no longer kept.
    std::vector<std::string> keep;
    for (const auto& h : pooled_down_) {
        auto it = servers_.find(h);
        if (it != servers_.end() && it->second.pooled && !it->second.up) keep.push_back(h);
    }
    pooled_down_ = std::move(keep);
    // Down servers that a new server or a re-enabled one lets go.
    drain_pooled_down();
}

void ServicePool::reconfigure(double depool_threshold, std::vector<std::string> monitors, bool monitors_changed) {
    threshold_ = depool_threshold;
    if (monitors_changed) {
        monitors_ = std::move(monitors);
        for (auto& [h, s] : servers_) {
            s.monitor_up.assign(monitors_.size(), std::nullopt);
            s.monitor_reason.assign(monitors_.size(), "");
            if (!s.up && !s.forced_down) {
                s.up = true;
                if (s.enabled && !s.pooled) {
                    s.pooled = true;
                    ++version_;
                }
            }
        }
        // Only servers marked down by hand are still down.
        std::erase_if(pooled_down_, [&](const std::string& h) {
            auto it = servers_.find(h);
            return it == servers_.end() || it->second.up;
        });
    }
    drain_pooled_down();
}

}  // namespace tern::ctl
