#include "control/state/table_builder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "control/state/ring_cache.h"
#include "dataplane/counters.h"
#include "dataplane/maglev.h"
#include "dataplane/packet.h"

namespace tern::ctl {

bool CounterSlots::service(const std::string& name, uint32_t& slot) {
    auto it = services_.find(name);
    if (it == services_.end()) {
        if (services_.size() >= dp::kMaxServiceSlots) return false;
        it = services_.emplace(name, static_cast<uint32_t>(services_.size())).first;
    }
    slot = it->second;
    return true;
}

bool CounterSlots::server(const std::string& service, const std::string& host, uint32_t& slot) {
    auto svc = servers_.find(service);
    if (svc == servers_.end()) svc = servers_.emplace(service, std::unordered_map<std::string, uint32_t>{}).first;
    auto it = svc->second.find(host);
    if (it == svc->second.end()) {
        if (by_slot_.size() >= dp::kMaxServerSlots) return false;
        it = svc->second.emplace(host, static_cast<uint32_t>(by_slot_.size())).first;
        by_slot_.emplace_back(&svc->first, &it->first);
    }
    slot = it->second;
    return true;
}

size_t CounterSlots::servers(const std::string& service, const std::vector<conf::RealServer>& servers,
                             std::vector<uint32_t>& out) {
    Listed& listed = last_listed_[service];
    bool same = listed.hosts.size() == servers.size();
    for (size_t i = 0; same && i < servers.size(); ++i) same = listed.hosts[i] == servers[i].host;
    if (same) {
        out = listed.slots;
        return servers.size();
    }
    out.resize(servers.size());
    for (size_t i = 0; i < servers.size(); ++i) {
        if (!server(service, servers[i].host, out[i])) return i;
    }
    listed.hosts.resize(servers.size());
    for (size_t i = 0; i < servers.size(); ++i) listed.hosts[i] = servers[i].host;
    listed.slots = out;
    return servers.size();
}

std::optional<std::pair<std::string, std::string>> CounterSlots::server_of(uint32_t slot) const {
    if (slot >= by_slot_.size()) return std::nullopt;
    return std::make_pair(*by_slot_[slot].first, *by_slot_[slot].second);
}

std::vector<conf::Error> unsupported(const conf::Config& config) {
    std::vector<conf::Error> errors;
    if (config.services.size() > dp::kMaxServiceSlots) {
        errors.push_back({config.path, 0, 0, "services",
                          fmt::format("{} services; at most {} (the per-service counter slots)", config.services.size(),
                                      dp::kMaxServiceSlots)});
    }
    size_t total = 0;
    for (size_t i = 0; i < config.services.size(); ++i) {
        const conf::Service& s = config.services[i];
        total += s.realservers.size();
        if (s.realservers.size() > max_servers(s)) {
            errors.push_back(
                {s.mark.file, s.mark.line, s.mark.column, fmt::format("services[{}].realservers", i),
                 fmt::format("service {}: {} servers; at most {} (fewer than {} and than "
                             "the {} a ring can index)",
                             s.name, s.realservers.size(), max_servers(s), table_size_text(s), dp::kNoBackend)});
        }
    }
    if (total > dp::kMaxServerSlots) {
        errors.push_back(
            {config.path, 0, 0, "services",
             fmt::format("{} servers in all; at most {} (the per-server counter slots)", total, dp::kMaxServerSlots)});
    }
    return errors;
}

uint32_t ring_size(const conf::Service& service) {
    return service.table_size != 0 ? service.table_size : dp::maglev_auto_size(service.realservers.size());
}

size_t max_servers(const conf::Service& service) {
    const size_t ring = service.table_size != 0 ? service.table_size - 1 : SIZE_MAX;
    return std::min<size_t>(ring, dp::kNoBackend - 1);
}

std::string table_size_text(const conf::Service& service) {
    return service.table_size != 0 ? fmt::format("table_size {}", service.table_size) : "table_size auto";
}

namespace {

void add_address(dp::AddressSet& set, const conf::IpAddr& ip) {
    if (ip.family != 0) set.add(ip.is_v4() ? 4 : 6, ip.bytes.data());
}

// The exception path's policy: dataplane.exception's budgets; BGP from the
// peers (and to or from their ports and bgp.listen_port); trusted sources
// `trusted` (the servers and their next hops) with the peers, the static
// neighbours and the gateways.
dp::PuntPolicy punt_policy(const conf::Config& config, dp::AddressSet trusted) {
    dp::PuntPolicy p;
    p.budget_pps = config.dataplane.exception.budget_pps;
    p.burst = config.dataplane.exception.burst;
    p.priority_pps = config.dataplane.exception.priority_pps;
    if (config.bgp) {
        p.bgp_ports.push_back(config.bgp->listen_port);
        for (const auto& peer : config.bgp->peers) {
            add_address(p.peers, peer.address);
            add_address(trusted, peer.address);
            if (std::find(p.bgp_ports.begin(), p.bgp_ports.end(), peer.port) == p.bgp_ports.end()) {
                p.bgp_ports.push_back(peer.port);
            }
        }
    }
    for (const auto& n : config.neighbors) add_address(trusted, n.ip);
    if (config.gateway_v4) add_address(trusted, *config.gateway_v4);
    if (config.gateway_v6) add_address(trusted, *config.gateway_v6);
    p.peers.seal();
    trusted.seal();
    p.trusted = std::move(trusted);
    return p;
}

}  // namespace

BuildResult build_table(const conf::Config& config, CounterSlots& slots, uint64_t generation,
                        const std::set<std::pair<std::string, std::string>>& down, RingCache* rings,
                        const KernelHops* kernel) {
    BuildResult r;
    // The rings are generated (or taken from the cache) once every service's
    // input is known: then the missing ones are built in parallel.
    std::vector<RingInput> ring_inputs;
    ring_inputs.reserve(config.services.size());
    const std::map<conf::IpAddr, conf::MacAddr> statics = static_neighbors(config);

    std::vector<uint32_t> server_slots;  // of one service
    dp::AddressSet trusted;              // the exception path's trusted sources
    std::vector<dp::ServiceSpec> specs;
    specs.reserve(config.services.size());
    for (const auto& s : config.services) {
        dp::ServiceSpec spec;
        spec.family = s.vip.is_v4() ? 4 : 6;
        std::memcpy(spec.vip, s.vip.bytes.data(), 16);
        spec.port = s.port;
        spec.proto = s.protocol == conf::Protocol::tcp ? dp::kProtoTcp : dp::kProtoUdp;
        dp::ServiceEntry& e = spec.entry;
        switch (s.scheduler) {
            case conf::Scheduler::maglev: e.sched = dp::Sched::maglev; break;
            case conf::Scheduler::sh: e.sched = dp::Sched::sh; break;
            case conf::Scheduler::rr: e.sched = dp::Sched::rr; break;
            case conf::Scheduler::wrr: e.sched = dp::Sched::wrr; break;
            case conf::Scheduler::wlc: e.sched = dp::Sched::wlc; break;
        }
        switch (s.forward) {
            case conf::Forward::dr: e.fwd = dp::Fwd::dr; break;
            case conf::Forward::ipip: e.fwd = dp::Fwd::ipip; break;
        }
        if (!slots.service(s.name, e.counter)) {
            r.error = fmt::format("service {}: more than {} services", s.name, dp::kMaxServiceSlots);
            return r;
        }
        RingInput& ring_in = ring_inputs.emplace_back();
        ring_in.size = ring_size(s);
        std::vector<dp::MaglevBackend>& backends = ring_in.backends;
        backends.reserve(s.realservers.size());
        if (const size_t bad = slots.servers(s.name, s.realservers, server_slots); bad < s.realservers.size()) {
            r.error = fmt::format(
                "service {}: server {}: more than {} servers in all (the limit of per-server "
                "counter slots, kMaxServerSlots; a service's server keeps its slot until restart)",
                s.name, s.realservers[bad].host, dp::kMaxServerSlots);
            return r;
        }
        e.servers.reserve(s.realservers.size());
        for (size_t k = 0; k < s.realservers.size(); ++k) {
            const conf::RealServer& rs = s.realservers[k];
            dp::ServerEntry se{};
            se.counter = server_slots[k];
            se.family = rs.ip.is_v4() ? 4 : 6;
            // Configured servers keep their flows, drained ones too (disabled,
            // weight 0); a server that is gone from the config loses them.
            const bool is_down = down.count({s.name, rs.host}) > 0;
            se.keeps_flows = is_down ? 0 : 1;
            std::memcpy(se.ip, rs.ip.bytes.data(), 16);
            const NextHop hop = next_hop(config, statics, rs.ip, s.forward, kernel);
            add_address(trusted, rs.ip);  // its health-check replies
            add_address(trusted, hop.ip);
            se.vlan = hop.vlan;
            se.port = static_cast<uint8_t>(hop.port);
            if (hop.mac) {
                std::memcpy(se.mac, hop.mac->data(), 6);
                se.has_mac = 1;
            }
            if (!hop.static_mac) r.kernel_hops.insert({hop.port, hop.ip});
            // Drained (disabled or weight 0) servers stay in the list for
            // counters but take no slot in the ring.
            se.weight = rs.enabled && !is_down ? rs.weight : 0;
            if (!hop.mac && se.weight > 0) r.unresolved.push_back({s.name, rs.host, rs.ip, hop.ip});
            if (se.weight > 0) {
                e.pool.push_back(static_cast<uint16_t>(e.servers.size()));
                e.pool_weights.push_back(static_cast<uint16_t>(se.weight));
            }
            backends.push_back({rs.host, se.weight});
            e.servers.push_back(se);
        }
        specs.push_back(std::move(spec));
    }
    {
        RingCache once(ring_build_threads(0));
        std::vector<dp::SharedRing> built = (rings ? *rings : once).get(ring_inputs);
        for (size_t i = 0; i < specs.size(); ++i) specs[i].entry.ring = std::move(built[i]);
    }
    dp::TableParams params;
    const conf::Node& node = config.node;
    if (node.ipip_source_v4) {
        std::memcpy(params.src4, node.ipip_source_v4->addr.bytes.data(), 4);
        params.src4_len = static_cast<uint8_t>(node.ipip_source_v4->length);
    } else {
        std::memcpy(params.src4, node.ipv4.bytes.data(), 4);
        params.src4_len = 32;
    }
    if (node.ipip_source_v6) {
        std::memcpy(params.src6, node.ipip_source_v6->addr.bytes.data(), 16);
        params.src6_len = static_cast<uint8_t>(node.ipip_source_v6->length);
        params.has_src6 = 1;
    } else if (node.ipv6) {
        std::memcpy(params.src6, node.ipv6->bytes.data(), 16);
        params.src6_len = 128;
        params.has_src6 = 1;
    }
    params.answer_echo = config.dataplane.answer_vip_echo ? 1 : 0;
    params.punt = punt_policy(config, std::move(trusted));
    r.table = dp::Table::create(std::move(specs), generation, r.error, params);
    return r;
}

std::optional<std::string> build_and_publish(const conf::Config& config,
                                             const std::set<std::pair<std::string, std::string>>& down,
                                             CounterSlots& slots, RingCache& rings, uint64_t generation,
                                             dp::TablePublisher& publisher, BuildResult* result,
                                             const KernelHops* kernel) {
    BuildResult built = build_table(config, slots, generation, down, &rings, kernel);
    if (!kernel) {
        // Without the kernel, a missing MAC is a config matter: said once
        // while it holds (health changes rebuild the table often).
        static std::set<std::string> last;
        std::set<std::string> now;
        for (const auto& u : built.unresolved) {
            std::string w = fmt::format(
                "service {}: server {} ({}) has no neighbors entry for its next hop {}; its packets will be dropped "
                "as no_neighbor",
                u.service, u.host, u.server.str(), u.hop.str());
            if (!last.count(w)) fmt::print(stderr, "warning: {}\n", w);
            now.insert(std::move(w));
        }
        last = std::move(now);
    }
    if (!built.table) return built.error;
    publisher.publish(std::move(built.table));
    if (result) *result = std::move(built);
    return std::nullopt;
}

}  // namespace tern::ctl
