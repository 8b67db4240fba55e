#include "control/state/pools.h"

#include <fmt/format.h>

#include <boost/asio/ip/tcp.hpp>

#include "control/config/monitor_spec.h"
#include "control/state/table_builder.h"

namespace tern::ctl {
namespace {

// The same checks, wherever they are written in the file.
bool same_monitors(const std::vector<conf::Monitor>& a, const std::vector<conf::Monitor>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (monitor_spec(a[i]) != monitor_spec(b[i])) return false;
    }
    return true;
}

std::vector<std::string> monitor_names(const conf::Service& s) {
    std::vector<std::string> out;
    for (const auto& m : s.monitors) out.push_back(m.name);
    return out;
}

}  // namespace

void Pools::say(const std::string& line, conf::LogLevel level) const {
    if (log_) log_(level, line);
}

Pools::Pools(boost::asio::io_context& io, Log log, bool pool_sources)
    : io_(io), log_(std::move(log)), pool_sources_(pool_sources) {}

Pools::~Pools() {
    *alive_ = false;
    stop();
    for (auto& [name, s] : sources_) s.source->stop();
}

bool Pools::settled() const {
    for (const auto& [name, s] : sources_) {
        if (!s.answered) return false;
    }
    return true;
}

std::vector<conf::RealServer> Pools::addressed(const std::string& service, const Pool& pool) {
    const conf::Service& cs = config_.at(service);
    std::vector<conf::RealServer> out;
    for (const auto& e : pool) {
        conf::RealServer rs;
        rs.host = e.host;
        rs.weight = e.weight;
        rs.enabled = e.enabled;
        bool known = false;
        for (const auto& y : cs.realservers) {
            if (y.host == e.host) {
                rs.ip = y.ip;
                rs.mark = y.mark;
                known = true;
            }
        }
        if (!known) {
            if (auto ip = conf::IpAddr::parse(e.host)) {
                rs.ip = *ip;
                known = true;
            }
        }
        const std::pair<std::string, int> key{e.host, cs.vip.family};
        if (!known) {
            if (auto it = resolved_.find(key); it != resolved_.end()) {
                rs.ip = it->second;
                known = true;
            }
        }
        if (known) {
            if (rs.ip.family != cs.vip.family) {
                say(fmt::format("[{}] server {} ({}) is not of the VIP's family; left out", service, e.host,
                                rs.ip.str()),
                    conf::LogLevel::error);
                continue;
            }
            out.push_back(rs);
            continue;
        }
        if (resolving_.insert(key).second) {
            // The system resolver, off the control thread (Asio's resolver thread).
            auto resolver = std::make_shared<boost::asio::ip::tcp::resolver>(io_);
            const auto proto = cs.vip.is_v4() ? boost::asio::ip::tcp::v4() : boost::asio::ip::tcp::v6();
            resolver->async_resolve(
                proto, e.host, "",
                [this, alive = alive_, resolver, key, service](const boost::system::error_code& ec,
                                                               boost::asio::ip::tcp::resolver::results_type r) {
                    if (!*alive) return;
                    resolving_.erase(key);
                    if (ec || r.empty()) {
                        say(fmt::format("[{}] cannot resolve server {}: {}; left out of the pool", service, key.first,
                                        ec ? ec.message() : "no address"),
                            conf::LogLevel::error);
                        return;
                    }
                    if (auto ip = conf::IpAddr::parse(r.begin()->endpoint().address().to_string()))
                        resolved_[key] = *ip;
                    auto s = sources_.find(service);
                    if (s != sources_.end() && s->second.last && services_.count(service)) {
                        base_[service] = addressed(service, *s->second.last);
                        push(service);
                    }
                });
        }
    }
    return out;
}

void Pools::start_source(const conf::Service& s) {
    auto it = sources_.find(s.name);
    if (!s.pool || !pool_sources_) {
        if (it != sources_.end()) {
            it->second.source->stop();
            sources_.erase(it);
            source_errors_.erase(s.name);
            held_.erase(s.name);
            say(fmt::format("[{}] no pool source any more: the YAML's realservers are the pool", s.name));
        }
        return;
    }
    if (it != sources_.end() && it->second.spec.url == s.pool->url && it->second.spec.interval == s.pool->interval &&
        it->second.spec.ca == s.pool->ca) {
        return;  // the same source: it keeps its pool and its watch
    }
    if (it != sources_.end()) {
        it->second.source->stop();
        sources_.erase(it);
        source_errors_.erase(s.name);
    }
    held_.erase(s.name);
    const std::string name = s.name;
    auto src = PoolSource::make(
        io_, *s.pool, [this, name](const Pool& pool) { source_pool(name, pool); },
        [this, name](const std::string& error) {
            auto x = sources_.find(name);
            if (x != sources_.end()) x->second.answered = true;
            if (error.empty()) {
                source_errors_.erase(name);
            } else {
                source_errors_[name] = error;
            }
            ++version_base_;
        },
        log_);
    if (!src) return;  // refused in apply()
    Source& entry = sources_[name];
    entry.spec = *s.pool;
    entry.source = std::move(src);
    entry.source->start();
}

void Pools::source_pool(const std::string& service, const Pool& pool) {
    auto s = sources_.find(service);
    if (s == sources_.end() || !services_.count(service)) return;
    s->second.answered = true;
    source_errors_.erase(service);
    const conf::Service& cs = config_.at(service);
    ++version_base_;
    if (pool.size() > max_servers(cs)) {
        hold(service, pool, false,
             fmt::format("its source delivered {} servers, more than the {} the service's table holds", pool.size(),
                         max_servers(cs)));
        return;
    }
    if (s->second.last && cs.pool && cs.pool->hold_removals) {
        if (auto why = too_many_removed(*s->second.last, pool, cs.depool_threshold)) {
            hold(service, pool, true, *why);
            return;
        }
    }
    take(service, pool);
}

std::optional<std::string> Pools::too_many_removed(const Pool& before, const Pool& after, double threshold) {
    std::map<std::string, bool> next;  // host -> enabled
    for (const auto& e : after) next[e.host] = e.enabled && e.weight > 0;
    size_t serving = 0, staying = 0;
    for (const auto& e : before) {
        if (!e.enabled || e.weight == 0) continue;
        ++serving;
        auto it = next.find(e.host);
        if (it != next.end() && it->second) ++staying;
    }
    if (static_cast<double>(staying) >= static_cast<double>(serving) * threshold) return std::nullopt;
    return fmt::format("its source's answer would take {} of {} serving servers out at once (depool_threshold {})",
                       serving - staying, serving, threshold);
}

void Pools::take(const std::string& service, const Pool& pool) {
    auto s = sources_.find(service);
    if (held_.erase(service)) say(fmt::format("[{}] the pool is no longer held", service));
    s->second.last = pool;
    base_[service] = addressed(service, pool);
    push(service);
    ++version_base_;
}

void Pools::hold(const std::string& service, const Pool& pool, bool confirmable, const std::string& why) {
    Held& h = held_[service];
    const bool again = h.pool == pool && h.reason == why;
    h.pool = pool;
    h.reason = why;
    h.confirmable = confirmable;
    if (again) return;
    say(fmt::format("[{}] {}; the last good pool stays{}", service, why,
                    confirmable ? fmt::format(" until `confirm pool {}`", service) : ""),
        conf::LogLevel::error);
}

std::optional<std::string> Pools::confirm(const std::string& service) {
    if (!services_.count(service)) return fmt::format("no service named '{}'", service);
    auto h = held_.find(service);
    if (h == held_.end() || !sources_.count(service)) return fmt::format("service '{}' has no held pool", service);
    if (!h->second.confirmable)
        return fmt::format("service '{}': {}; it cannot be confirmed", service, h->second.reason);
    const Pool pool = h->second.pool;
    say(fmt::format("[{}] operator: confirmed the held pool of {} server(s)", service, pool.size()));
    take(service, pool);
    return std::nullopt;
}

std::optional<std::string> Pools::apply(const conf::Config& config) {
    // Refuse monitor kinds this build cannot run before changing anything.
    for (const auto& s : config.services) {
        for (const auto& m : s.monitors) {
            health::Target t{s.name, "probe", to_asio(s.vip), s.port};
            auto spec = monitor_spec(m);
            if (!spec || !health::make_monitor(io_, *spec, t, nullptr)) {
                return fmt::format("{}:{}:{}: services {}: the {} monitor is not part of this build", m.mark.file,
                                   m.mark.line, m.mark.column, s.name, m.name);
            }
        }
    }
    for (const auto& s : config.services) {
        if (!s.pool) continue;
        std::string err;
        if (!PoolSource::make(io_, *s.pool, nullptr, nullptr, nullptr, &err)) {
            return fmt::format("{}:{}:{}: services {}: pool: {}", s.pool->mark.file, s.pool->mark.line,
                               s.pool->mark.column, s.name, err);
        }
    }
    // A reload ends the operators' overrides (as PyBal's pool files win).
    if (!overrides_.empty()) {
        say(fmt::format("reload: {} operator override(s) end", overrides_.size()));
        overrides_.clear();
    }
    std::set<std::string> names;
    for (const auto& s : config.services) {
        names.insert(s.name);
        auto old = config_.find(s.name);
        if (old == config_.end()) {
            services_.emplace(std::piecewise_construct, std::forward_as_tuple(s.name),
                              std::forward_as_tuple(s.name, s.depool_threshold, monitor_names(s), log_));
            config_[s.name] = s;
            base_[s.name] = s.realservers;
            push(s.name);
            start_source(s);
            ++version_base_;
            if (started_) sync_monitors(s.name);
            continue;
        }
        const bool monitors_changed = !same_monitors(old->second.monitors, s.monitors) || old->second.port != s.port;
        if (monitors_changed) {
            // Every server's checks start over with the new monitors.
            for (const auto& [host, st] : services_.at(s.name).servers()) stop_monitors(s.name, host);
        }
        old->second = s;
        ServicePool& pool = services_.at(s.name);
        pool.reconfigure(s.depool_threshold, monitor_names(s), monitors_changed);
        start_source(s);
        auto src = sources_.find(s.name);
        // A source's pool stays the pool across reloads; the YAML is only its address book.
        base_[s.name] =
            src != sources_.end() && src->second.last ? addressed(s.name, *src->second.last) : s.realservers;
        push(s.name);
        ++version_base_;
        if (started_) sync_monitors(s.name);
    }
    for (auto it = config_.begin(); it != config_.end();) {
        if (names.count(it->first)) {
            ++it;
            continue;
        }
        for (const auto& [host, st] : services_.at(it->first).servers()) stop_monitors(it->first, host);
        services_.erase(it->first);
        base_.erase(it->first);
        if (auto src = sources_.find(it->first); src != sources_.end()) {
            src->second.source->stop();
            sources_.erase(src);
        }
        source_errors_.erase(it->first);
        held_.erase(it->first);
        it = config_.erase(it);
        ++version_base_;
    }
    return std::nullopt;
}

void Pools::push(const std::string& service) {
    std::vector<conf::RealServer> list;
    for (const auto& rs : base_.at(service)) {
        auto o = overrides_.find({service, rs.host});
        if (o == overrides_.end()) {
            list.push_back(rs);
            continue;
        }
        if (o->second.deleted) continue;
        conf::RealServer r = o->second.added ? *o->second.added : rs;
        if (o->second.enabled) r.enabled = *o->second.enabled;
        if (o->second.weight) r.weight = *o->second.weight;
        list.push_back(r);
    }
    for (const auto& [id, o] : overrides_) {
        if (id.first != service || !o.added || o.deleted) continue;
        bool in_base = false;
        for (const auto& rs : base_.at(service)) in_base = in_base || rs.host == id.second;
        if (in_base) continue;
        conf::RealServer r = *o.added;
        if (o.enabled) r.enabled = *o.enabled;
        if (o.weight) r.weight = *o.weight;
        list.push_back(r);
    }
    services_.at(service).set_servers(list);
    if (started_) sync_monitors(service);
}

std::optional<std::string> Pools::each_with(const std::string& service, const std::string& host,
                                            const std::function<void(const std::string&)>& fn) {
    if (!service.empty() && !services_.count(service)) return fmt::format("no service named '{}'", service);
    std::vector<std::string> hits;
    for (const auto& [name, pool] : services_) {
        if (!service.empty() && name != service) continue;
        if (pool.server(host) != nullptr) hits.push_back(name);
    }
    if (hits.empty()) {
        return service.empty() ? fmt::format("no service has a server '{}'", host)
                               : fmt::format("service '{}' has no server '{}'", service, host);
    }
    for (const auto& name : hits) {
        fn(name);
        push(name);
    }
    return std::nullopt;
}

std::optional<std::string> Pools::set_enabled(const std::string& service, const std::string& host, bool enabled) {
    return each_with(service, host, [&](const std::string& name) {
        overrides_[{name, host}].enabled = enabled;
        say(fmt::format("[{}] operator: {} server {} (until the next reload)", name, enabled ? "pool" : "depool",
                        host));
    });
}

std::optional<std::string> Pools::set_weight(const std::string& service, const std::string& host, uint32_t weight) {
    if (weight > 65535) return fmt::format("weight {} is not between 0 and 65535", weight);
    return each_with(service, host, [&](const std::string& name) {
        overrides_[{name, host}].weight = weight;
        say(fmt::format("[{}] operator: weight of {} set to {} (until the next reload)", name, host, weight));
    });
}

std::optional<std::string> Pools::add_server(const std::string& service, const conf::RealServer& server) {
    auto it = services_.find(service);
    if (it == services_.end()) return fmt::format("no service named '{}'", service);
    if (it->second.server(server.host) != nullptr) {
        return fmt::format("service '{}' already has a server '{}'", service, server.host);
    }
    const conf::Service& cs = config_.at(service);
    if (server.ip.family != cs.vip.family) {
        return fmt::format("{} is not of the VIP's family ({})", server.ip.str(), cs.vip.str());
    }
    for (const auto& [h, s] : it->second.servers()) {
        if (s.ip == server.ip)
            return fmt::format("{} is already server '{}' of service '{}'", server.ip.str(), h, service);
    }
    if (it->second.servers().size() + 1 > max_servers(cs)) {
        return fmt::format("service '{}' is full: it has {} servers, the most its table holds ({})", service,
                           it->second.servers().size(), table_size_text(cs));
    }
    auto& o = overrides_[{service, server.host}];
    o.added = server;
    o.deleted = false;
    say(fmt::format("[{}] operator: added server {} {} weight {} (until the next reload)", service, server.host,
                    server.ip.str(), server.weight));
    push(service);
    return std::nullopt;
}

std::optional<std::string> Pools::del_server(const std::string& service, const std::string& host) {
    if (service.empty()) return std::string("del realserver needs the service");
    return each_with(service, host, [&](const std::string& name) {
        overrides_[{name, host}].deleted = true;
        say(fmt::format("[{}] operator: deleted server {} (until the next reload)", name, host));
    });
}

std::optional<std::string> Pools::set_down(const std::string& service, const std::string& host, bool down) {
    return each_with(service, host, [&](const std::string& name) { services_.at(name).set_forced_down(host, down); });
}

bool Pools::overridden(const std::string& service, const std::string& host) const {
    return overrides_.count({service, host}) > 0;
}

void Pools::start() {
    started_ = true;
    for (const auto& [name, pool] : services_) sync_monitors(name);
}

void Pools::stop() {
    for (auto& [id, list] : monitors_) {
        for (auto& m : list) m->stop();
    }
    monitors_.clear();
    started_ = false;
}

// Monitors for every server of the service that has none, none for servers
// that left, new ones for servers whose address changed.
void Pools::sync_monitors(const std::string& service) {
    const ServicePool& pool = services_.at(service);
    for (auto it = monitors_.lower_bound({service, ""}); it != monitors_.end() && it->first.first == service;) {
        const ServerState* s = pool.server(it->first.second);
        const bool stale =
            s == nullptr || (!it->second.empty() && !(it->second.front()->target().ip == to_asio(s->ip)));
        if (stale) {
            for (auto& m : it->second) m->stop();
            it = monitors_.erase(it);
        } else {
            ++it;
        }
    }
    for (const auto& [host, s] : pool.servers()) {
        if (!monitors_.count({service, host})) start_monitors(service, host);
    }
}

void Pools::start_monitors(const std::string& service, const std::string& host) {
    const conf::Service& cs = config_.at(service);
    const ServerState* s = services_.at(service).server(host);
    if (s == nullptr) return;
    auto& list = monitors_[{service, host}];
    for (size_t i = 0; i < cs.monitors.size(); ++i) {
        health::Target t{service, host, to_asio(s->ip), cs.port};
        auto report = [this, service, host, i](bool up, const std::string& reason) {
            auto it = services_.find(service);
            if (it != services_.end()) it->second.monitor_result(host, i, up, reason);
        };
        auto spec = monitor_spec(cs.monitors[i]);
        auto m = spec ? health::make_monitor(io_, *spec, t, report) : nullptr;
        if (!m) continue;  // refused by apply() already
        // A monitor's own lines (each check's details) are for debugging;
        // its verdicts are logged by the service's pool.
        m->set_log([log = log_](const std::string& line) {
            if (log) log(conf::LogLevel::debug, line);
        });
        m->start();
        list.push_back(std::move(m));
    }
}

void Pools::stop_monitors(const std::string& service, const std::string& host) {
    auto it = monitors_.find({service, host});
    if (it == monitors_.end()) return;
    for (auto& m : it->second) m->stop();
    monitors_.erase(it);
}

std::set<conf::IpAddr> Pools::serving_vips(const conf::Config& config) const {
    std::set<conf::IpAddr> out;
    for (const auto& s : config.services) {
        auto it = services_.find(s.name);
        if (it == services_.end()) continue;
        for (const auto& [h, st] : it->second.servers()) {
            if (st.enabled && st.pooled && st.weight > 0) out.insert(s.vip);
        }
    }
    return out;
}

uint64_t Pools::version() const {
    uint64_t v = version_base_;
    for (const auto& [name, pool] : services_) v += pool.version();
    return v;
}

void Pools::fill(DesiredState& state, uint64_t now_s) const {
    for (const auto& [name, pool] : services_) {
        std::vector<conf::RealServer> servers;
        std::set<std::string> down;
        const conf::Service& cs = config_.at(name);
        for (const auto& [host, s] : pool.servers()) {
            conf::RealServer rs;
            rs.host = host;
            rs.ip = s.ip;
            rs.weight = s.weight;
            rs.enabled = s.enabled;
            for (const auto& y : cs.realservers) {
                if (y.host == host) rs.mark = y.mark;
            }
            servers.push_back(rs);
            // Depooled for health: loses its flows. Disabled: drained only.
            if (s.enabled && !s.pooled) down.insert(host);
        }
        state.set_pool(name, std::move(servers), down, now_s);
    }
}

std::vector<const health::Monitor*> Pools::monitors(const std::string& service, const std::string& host) const {
    std::vector<const health::Monitor*> out;
    auto it = monitors_.find({service, host});
    if (it != monitors_.end()) {
        for (const auto& m : it->second) out.push_back(m.get());
    }
    return out;
}

}  // namespace tern::ctl
