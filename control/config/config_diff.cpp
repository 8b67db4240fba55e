#include "control/config/config_diff.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstddef>
#include <optional>

namespace tern::ctl {
namespace {

constexpr Takes live = Takes::live;
constexpr Takes restart = Takes::restart;

// Every key and how a reload of `tern run` applies it (Appliance::reload,
// control/daemon/appliance.cpp). A new key gets a line here and one in
// the diff below; conf/REFERENCE.md's "Reload" table lists the same.
constexpr KeyRule kRules[] = {
    {"node.name", restart, "the EAL's file prefix"},
    {"node.ipv4", live, "IPIP outer source (table); BGP router id and next hop when not set (speaker)"},
    {"node.ipv6", live, "IPIP outer source (table); BGP IPv6 next hop when not set (speaker)"},
    {"node.ipip_source_v4", live, "the next table"},
    {"node.ipip_source_v6", live, "the next table"},
    {"dataplane.answer_vip_echo", live, "the next table"},
    {"dataplane.icmp_rate_limit", live, "each lcore at its next loop"},
    {"dataplane.exception.budget_pps", live, "the next table"},
    {"dataplane.exception.burst", live, "the next table"},
    {"dataplane.exception.priority_pps", live, "the next table"},
    {"dataplane.lcores", restart, "the EAL's lcores are chosen at start"},
    {"dataplane.main_lcore", restart, "the EAL's lcores are chosen at start"},
    {"flows.size", restart, "the flow tables are allocated at start"},
    {"flows.timeouts.established", live, "each lcore at its next loop, for flows as their state is next set"},
    {"flows.timeouts.syn_sent", live, "each lcore at its next loop"},
    {"flows.timeouts.syn_recv", live, "each lcore at its next loop"},
    {"flows.timeouts.fin_wait", live, "each lcore at its next loop"},
    {"flows.timeouts.time_wait", live, "each lcore at its next loop"},
    {"flows.timeouts.close", live, "each lcore at its next loop"},
    {"flows.timeouts.close_wait", live, "each lcore at its next loop"},
    {"flows.timeouts.last_ack", live, "each lcore at its next loop"},
    {"flows.timeouts.udp", live, "each lcore at its next loop"},
    {"flows.timeouts.unproven", live, "each lcore at its next loop"},
    {"flows.timeouts.under_pressure", live, "each lcore at its next loop"},
    {"http.enabled", live, "the HTTP API stops or listens again"},
    {"http.address", live, "the HTTP API listens again"},
    {"http.port", live, "the HTTP API listens again"},
    {"http.max_connections", live, "the HTTP API listens again with the new cap"},
    {"console.enabled", live, "the console socket closes or listens again; attached sessions stay"},
    {"console.socket", live, "the console socket listens again; attached sessions stay"},
    {"log.level", live, "at once"},
    {"ports", restart, "ports are opened at start"},
    {"ports[].name", restart, "names the kernel interface created at start"},
    {"ports[].device", restart, "ports are opened at start"},
    {"ports[].mac", restart, "set on the port at start"},
    {"ports[].mtu", restart, "set on the port at start"},
    {"ports[].subnets", live, "the next table"},
    {"ports[].vlans", live, "the next table"},
    {"neighbors", live, "the next table"},
    {"gateway_v4", live, "the next table"},
    {"gateway_v6", live, "the next table"},
    {"bgp", restart, "the speaker and its listener are made at start"},
    {"bgp.local_asn", live, "every session re-established"},
    {"bgp.med", live, "routes announced again"},
    {"bgp.router_id", live, "every session re-established"},
    {"bgp.hold_time", live, "proposed by new connections; an established session keeps its negotiated one"},
    {"bgp.connect_retry", live, "used from the next connection attempt"},
    {"bgp.as_path_prepend", live, "routes announced again"},
    {"bgp.next_hop_v4", live, "routes announced again"},
    {"bgp.next_hop_v6", live, "routes announced again"},
    {"bgp.communities", live, "routes announced again"},
    {"bgp.large_communities", live, "routes announced again"},
    {"bgp.listen", live, "the listener opened or closed"},
    {"bgp.listen_address", live, "the listener opened again"},
    {"bgp.listen_port", live, "the listener opened again"},
    {"bgp.withdraw_unpooled", live, "routes follow at once"},
    {"bgp.peers[]", live, "that session opened or closed; others untouched"},
    {"bgp.peers[].address", live, "the peer's identity: another peer"},
    {"bgp.peers[].asn", live, "that session re-established"},
    {"bgp.peers[].port", live, "that session re-established"},
    {"bgp.peers[].passive", live, "that session re-established"},
    {"bgp.peers[].password", live, "that session re-established"},
    {"bgp.peers[].ttl_security", live, "that session re-established"},
    {"bgp.peers[].hold_time", live, "proposed by new connections; an established session keeps its negotiated one"},
    {"bgp.peers[].connect_retry", live, "used from the next connection attempt"},
    {"bgp.drain_time", live, "read when tern run stops"},
    {"services[]", live, "pools, monitors and pool sources (ControlState::apply), the next table, the routes"},
};

// The number of fields of an aggregate: the longest brace list that
// initialises it. Counting them makes a new key a build error here until
// it is classified.
struct AnyField {
    // Only ever named in requires-expressions (never called); defined all
    // the same, or clang warns of an internal function without a body.
    template <class T>
    operator T() const {
        return T{};
    }
};
template <class T, class... A>
constexpr size_t field_count() {
    if constexpr (requires { T{A{}..., AnyField{}}; }) {
        return field_count<T, A..., AnyField>();
    } else {
        return sizeof...(A);
    }
}
#define TERN_CLASSIFIED(T, n) \
    static_assert(field_count<conf::T>() == (n), "a new key in conf::" #T ": classify it in config_diff.cpp")
TERN_CLASSIFIED(Config, 13);  // path (not a key) and the twelve sections
TERN_CLASSIFIED(Node, 5);
TERN_CLASSIFIED(Dataplane, 5);
TERN_CLASSIFIED(Exception, 3);
TERN_CLASSIFIED(Flows, 12);
TERN_CLASSIFIED(Http, 4);
TERN_CLASSIFIED(Console, 2);
TERN_CLASSIFIED(Log, 1);
TERN_CLASSIFIED(Port, 6);
TERN_CLASSIFIED(Vlan, 2);
TERN_CLASSIFIED(Neighbor, 2);
TERN_CLASSIFIED(Bgp, 16);
TERN_CLASSIFIED(BgpPeer, 8);
TERN_CLASSIFIED(BgpLargeCommunity, 3);
// Services apply whole through ControlState::apply: a new key of these
// must be read there (Pools, DesiredState, the table builder) to be live.
TERN_CLASSIFIED(Service, 14);
TERN_CLASSIFIED(RealServer, 5);
TERN_CLASSIFIED(Monitor, 6);
TERN_CLASSIFIED(PoolSource, 5);  // hold_removals and ca are read by Pools and the source
#undef TERN_CLASSIFIED

// "bgp.peers[12].asn" -> "bgp.peers[].asn"
std::string pattern(std::string_view path) {
    std::string out;
    for (size_t i = 0; i < path.size(); ++i) {
        out += path[i];
        if (path[i] == '[') {
            while (i + 1 < path.size() && path[i + 1] != ']') ++i;
        }
    }
    return out;
}

std::string show(uint64_t v) { return std::to_string(v); }
std::string show(bool v) { return v ? "true" : "false"; }
std::string show(const std::string& v) { return v.empty() ? "\"\"" : v; }
std::string show(const conf::IpAddr& v) { return v.str(); }
std::string show(const conf::Prefix& v) { return v.str(); }
std::string show(const conf::MacAddr& v) { return conf::mac_str(v); }
std::string show(conf::LogLevel v) { return conf::to_string(v); }
template <class T>
std::string show(const std::optional<T>& v) {
    return v ? show(*v) : "unset";
}

// Every overload is declared before the templates that call them.
bool same(const conf::Prefix& a, const conf::Prefix& b);
bool same(const conf::Vlan& a, const conf::Vlan& b);
bool same(const conf::Neighbor& a, const conf::Neighbor& b);
bool same(const conf::BgpLargeCommunity& a, const conf::BgpLargeCommunity& b);
bool same(const conf::RealServer& a, const conf::RealServer& b);
bool same(const conf::PoolSource& a, const conf::PoolSource& b);
bool same(const conf::Monitor& a, const conf::Monitor& b);
template <class T>
bool same(const T& a, const T& b) {
    return a == b;
}
template <class T>
bool same(const std::optional<T>& a, const std::optional<T>& b) {
    return a.has_value() == b.has_value() && (!a || same(*a, *b));
}
template <class T>
bool same(const std::vector<T>& a, const std::vector<T>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const T& x, const T& y) { return same(x, y); });
}
bool same(const conf::Prefix& a, const conf::Prefix& b) { return a.addr == b.addr && a.length == b.length; }
bool same(const conf::Vlan& a, const conf::Vlan& b) { return a.id == b.id && same(a.subnets, b.subnets); }
bool same(const conf::Neighbor& a, const conf::Neighbor& b) { return a.ip == b.ip && a.mac == b.mac; }
bool same(const conf::BgpLargeCommunity& a, const conf::BgpLargeCommunity& b) {
    return a.global == b.global && a.local1 == b.local1 && a.local2 == b.local2;
}
bool same(const conf::RealServer& a, const conf::RealServer& b) {
    return a.host == b.host && a.ip == b.ip && a.weight == b.weight && a.enabled == b.enabled;
}
bool same(const conf::PoolSource& a, const conf::PoolSource& b) {
    return a.url == b.url && a.interval == b.interval && a.hold_removals == b.hold_removals && a.ca == b.ca;
}
bool same(const conf::Service& a, const conf::Service& b) {
    return a.name == b.name && a.vip == b.vip && a.port == b.port && a.protocol == b.protocol &&
           a.scheduler == b.scheduler && a.forward == b.forward && a.depool_threshold == b.depool_threshold &&
           a.table_size == b.table_size && a.removed_server_grace == b.removed_server_grace &&
           same(a.monitors, b.monitors) && same(a.realservers, b.realservers) && same(a.pool, b.pool) &&
           a.bgp_med == b.bgp_med;
}
// A monitor's options are a YAML node: compared as YAML text.
bool same(const conf::Monitor& a, const conf::Monitor& b) {
    auto text = [](const std::shared_ptr<const YAML::Node>& n) { return n ? YAML::Dump(*n) : std::string(); };
    return a.name == b.name && text(a.options) == text(b.options);
}

class Differ {
public:
    explicit Differ(std::vector<std::string>* compared) : compared_(compared) {}

    template <class T>
    void field(const std::string& path, const T& a, const T& b) {
        seen(path);
        if (!same(a, b)) add(path, fmt::format("{} -> {}", show(a), show(b)));
    }
    // A list or map compared whole: "changed".
    template <class T>
    void whole(const std::string& path, const T& a, const T& b) {
        seen(path);
        if (!same(a, b)) add(path, "changed");
    }
    void seen(const std::string& path) {
        if (compared_ != nullptr) compared_->push_back(pattern(path));
    }
    void add(const std::string& path, std::string what) {
        const KeyRule* r = key_rule(path);
        // Unreachable while kRules is complete (the unit test); never silent.
        out.changes.push_back({path, r ? std::move(what) : what + " (unclassified)", r ? r->takes : restart});
    }

    ConfigDiff out;

private:
    std::vector<std::string>* compared_;
};

void diff_ports(Differ& d, const std::vector<conf::Port>& a, const std::vector<conf::Port>& b) {
    d.seen("ports");
    if (a.size() != b.size()) d.add("ports", fmt::format("{} -> {} ports", a.size(), b.size()));
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
        const std::string p = fmt::format("ports[{}].", i);
        d.field(p + "name", a[i].name, b[i].name);
        d.field(p + "device", a[i].device, b[i].device);
        d.field(p + "mac", a[i].mac, b[i].mac);
        d.field(p + "mtu", uint64_t{a[i].mtu}, uint64_t{b[i].mtu});
        d.whole(p + "subnets", a[i].subnets, b[i].subnets);
        d.whole(p + "vlans", a[i].vlans, b[i].vlans);
    }
}

void diff_peer(Differ& d, const std::string& p, const conf::BgpPeer& a, const conf::BgpPeer& b) {
    d.field(p + "address", a.address, b.address);
    d.field(p + "asn", uint64_t{a.asn}, uint64_t{b.asn});
    d.field(p + "port", uint64_t{a.port}, uint64_t{b.port});
    d.field(p + "passive", a.passive, b.passive);
    d.seen(p + "password");  // never shown
    if (a.password != b.password) d.add(p + "password", "changed");
    d.field(p + "ttl_security", a.ttl_security, b.ttl_security);
    auto opt = [](const std::optional<uint16_t>& v) { return v ? std::optional<uint64_t>(*v) : std::nullopt; };
    d.field(p + "hold_time", opt(a.hold_time), opt(b.hold_time));
    d.field(p + "connect_retry", opt(a.connect_retry), opt(b.connect_retry));
}

// Peers are matched by address: the index is the new config's (the old
// one's for a removed peer).
void diff_peers(Differ& d, const std::vector<conf::BgpPeer>& a, const std::vector<conf::BgpPeer>& b) {
    d.seen("bgp.peers[]");
    auto find = [](const std::vector<conf::BgpPeer>& in, const conf::IpAddr& ip) {
        return std::find_if(in.begin(), in.end(), [&](const conf::BgpPeer& x) { return x.address == ip; });
    };
    for (size_t i = 0; i < a.size(); ++i) {
        if (find(b, a[i].address) == b.end()) {
            d.add(fmt::format("bgp.peers[{}]", i), fmt::format("({}) removed", a[i].address.str()));
        }
    }
    for (size_t j = 0; j < b.size(); ++j) {
        auto old = find(a, b[j].address);
        if (old == a.end()) {
            d.add(fmt::format("bgp.peers[{}]", j), fmt::format("({}) added", b[j].address.str()));
        } else {
            diff_peer(d, fmt::format("bgp.peers[{}].", j), *old, b[j]);
        }
    }
}

void diff_bgp(Differ& d, const conf::Bgp& a, const conf::Bgp& b) {
    d.field("bgp.local_asn", uint64_t{a.local_asn}, uint64_t{b.local_asn});
    d.field("bgp.med", uint64_t{a.med}, uint64_t{b.med});
    d.field("bgp.router_id", a.router_id, b.router_id);
    d.field("bgp.hold_time", uint64_t{a.hold_time}, uint64_t{b.hold_time});
    d.field("bgp.connect_retry", uint64_t{a.connect_retry}, uint64_t{b.connect_retry});
    d.field("bgp.as_path_prepend", uint64_t{a.as_path_prepend}, uint64_t{b.as_path_prepend});
    d.field("bgp.next_hop_v4", a.next_hop_v4, b.next_hop_v4);
    d.field("bgp.next_hop_v6", a.next_hop_v6, b.next_hop_v6);
    d.whole("bgp.communities", a.communities, b.communities);
    d.whole("bgp.large_communities", a.large_communities, b.large_communities);
    d.field("bgp.listen", a.listen, b.listen);
    d.field("bgp.listen_address", a.listen_address, b.listen_address);
    d.field("bgp.listen_port", uint64_t{a.listen_port}, uint64_t{b.listen_port});
    d.field("bgp.withdraw_unpooled", a.withdraw_unpooled, b.withdraw_unpooled);
    d.field("bgp.drain_time", uint64_t{a.drain_time}, uint64_t{b.drain_time});
    diff_peers(d, a.peers, b.peers);
}

// Services are matched by name; what changed inside one is the pools' log's business.
void diff_services(Differ& d, const std::vector<conf::Service>& a, const std::vector<conf::Service>& b) {
    d.seen("services[]");
    auto find = [](const std::vector<conf::Service>& in, const std::string& name) {
        return std::find_if(in.begin(), in.end(), [&](const conf::Service& x) { return x.name == name; });
    };
    for (size_t i = 0; i < a.size(); ++i) {
        if (find(b, a[i].name) == b.end())
            d.add(fmt::format("services[{}]", i), fmt::format("({}) removed", a[i].name));
    }
    for (size_t j = 0; j < b.size(); ++j) {
        auto old = find(a, b[j].name);
        if (old == a.end()) {
            d.add(fmt::format("services[{}]", j), fmt::format("({}) added", b[j].name));
        } else if (!same(*old, b[j])) {
            d.add(fmt::format("services[{}]", j), fmt::format("({}) changed", b[j].name));
        }
    }
}

void diff(Differ& d, const conf::Config& a, const conf::Config& b) {
    d.field("node.name", a.node.name, b.node.name);
    d.field("node.ipv4", a.node.ipv4, b.node.ipv4);
    d.field("node.ipv6", a.node.ipv6, b.node.ipv6);
    d.field("node.ipip_source_v4", a.node.ipip_source_v4, b.node.ipip_source_v4);
    d.field("node.ipip_source_v6", a.node.ipip_source_v6, b.node.ipip_source_v6);
    d.field("dataplane.answer_vip_echo", a.dataplane.answer_vip_echo, b.dataplane.answer_vip_echo);
    d.field("dataplane.icmp_rate_limit", uint64_t{a.dataplane.icmp_rate_limit}, uint64_t{b.dataplane.icmp_rate_limit});
    const conf::Exception &ea = a.dataplane.exception, &eb = b.dataplane.exception;
    d.field("dataplane.exception.budget_pps", uint64_t{ea.budget_pps}, uint64_t{eb.budget_pps});
    d.field("dataplane.exception.burst", uint64_t{ea.burst}, uint64_t{eb.burst});
    d.field("dataplane.exception.priority_pps", uint64_t{ea.priority_pps}, uint64_t{eb.priority_pps});
    d.whole("dataplane.lcores", a.dataplane.lcores, b.dataplane.lcores);
    auto lcore = [](const std::optional<unsigned>& v) { return v ? std::optional<uint64_t>(*v) : std::nullopt; };
    d.field("dataplane.main_lcore", lcore(a.dataplane.main_lcore), lcore(b.dataplane.main_lcore));
    const conf::Flows &fa = a.flows, &fb = b.flows;
    d.field("flows.size", fa.size, fb.size);
    const std::pair<const char*, uint32_t conf::Flows::*> timeouts[] = {
        {"established", &conf::Flows::established},
        {"syn_sent", &conf::Flows::syn_sent},
        {"syn_recv", &conf::Flows::syn_recv},
        {"fin_wait", &conf::Flows::fin_wait},
        {"time_wait", &conf::Flows::time_wait},
        {"close", &conf::Flows::close},
        {"close_wait", &conf::Flows::close_wait},
        {"last_ack", &conf::Flows::last_ack},
        {"udp", &conf::Flows::udp},
        {"unproven", &conf::Flows::unproven},
        {"under_pressure", &conf::Flows::under_pressure}};
    for (const auto& [name, member] : timeouts) {
        d.field(fmt::format("flows.timeouts.{}", name), uint64_t{fa.*member}, uint64_t{fb.*member});
    }
    d.field("http.enabled", a.http.enabled, b.http.enabled);
    d.field("http.address", a.http.address, b.http.address);
    d.field("http.port", uint64_t{a.http.port}, uint64_t{b.http.port});
    d.field("http.max_connections", uint64_t{a.http.max_connections}, uint64_t{b.http.max_connections});
    d.field("console.enabled", a.console.enabled, b.console.enabled);
    d.field("console.socket", a.console.socket, b.console.socket);
    d.field("log.level", a.log.level, b.log.level);
    diff_ports(d, a.ports, b.ports);
    d.whole("neighbors", a.neighbors, b.neighbors);
    d.field("gateway_v4", a.gateway_v4, b.gateway_v4);
    d.field("gateway_v6", a.gateway_v6, b.gateway_v6);
    d.seen("bgp");
    if (a.bgp.has_value() != b.bgp.has_value()) {
        d.add("bgp", a.bgp ? "removed" : "added");
    } else if (a.bgp) {
        diff_bgp(d, *a.bgp, *b.bgp);
    }
    diff_services(d, a.services, b.services);
}

}  // namespace

std::span<const KeyRule> key_rules() { return kRules; }

const KeyRule* key_rule(std::string_view path) {
    const std::string p = pattern(path);
    for (const auto& r : kRules) {
        if (r.path == p) return &r;
    }
    return nullptr;
}

bool ConfigDiff::touches(std::string_view prefix) const {
    return std::any_of(changes.begin(), changes.end(), [&](const Change& c) {
        const std::string_view p = c.path;
        return p.starts_with(prefix) && (p.size() == prefix.size() || p[prefix.size()] == '.' ||
                                         p[prefix.size()] == '[' || prefix.ends_with('.'));
    });
}

std::vector<Change> ConfigDiff::live() const {
    std::vector<Change> out;
    std::copy_if(changes.begin(), changes.end(), std::back_inserter(out),
                 [](const Change& c) { return c.takes == Takes::live; });
    return out;
}

std::vector<Change> ConfigDiff::restart() const {
    std::vector<Change> out;
    std::copy_if(changes.begin(), changes.end(), std::back_inserter(out),
                 [](const Change& c) { return c.takes == Takes::restart; });
    return out;
}

std::string ConfigDiff::text() const {
    if (changes.empty()) return "no change";
    std::string out;
    for (const auto& c : changes) {
        if (!out.empty()) out += "; ";
        // "x 1 -> 2 applied", "bgp.peers[1] (10.0.0.2) added", "ports[0].device a -> b: takes effect ..."
        const bool value = c.what.find(" -> ") != std::string::npos;
        out += fmt::format("{} {}{}", c.path, c.what,
                           c.takes == Takes::restart ? ": takes effect at the next restart"
                           : value                   ? " applied"
                                                     : "");
    }
    return out;
}

ConfigDiff diff_config(const conf::Config& running, const conf::Config& next) {
    Differ d(nullptr);
    diff(d, running, next);
    return std::move(d.out);
}

std::vector<std::string> compared_keys() {
    // One of every list element, so that the diff walks into each.
    conf::Config c;
    c.ports.resize(1);
    c.bgp.emplace();
    c.bgp->peers.resize(1);
    std::vector<std::string> keys;
    Differ d(&keys);
    diff(d, c, c);
    return keys;
}

}  // namespace tern::ctl
