// The tern.yaml schema: every key, its type and range, and the checks that
// span several keys. conf/REFERENCE.md documents the same, for people.
#include "conf/config.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "conf/yaml_reader.h"

namespace tern::conf {
namespace {

constexpr uint64_t kMaxU32 = 4294967295ull;

bool is_prime(uint64_t n) {
    if (n < 2) return false;
    for (uint64_t d = 2; d * d <= n; ++d) {
        if (n % d == 0) return false;
    }
    return true;
}

bool map_at(YamlReader& r, const YAML::Node& n, const std::string& path, std::initializer_list<std::string_view> keys) {
    if (!r.is_map(n, path)) return false;
    r.duplicate_keys(n, path);
    r.known_keys(n, path, keys);
    return true;
}

void parse_node(YamlReader& r, const YAML::Node& root, Config& c) {
    const YAML::Node n = root["node"];
    if (!n.IsDefined()) {
        r.error(root, "node", "missing required key 'node'");
        return;
    }
    if (!map_at(r, n, "node", {"name", "ipv4", "ipv6", "ipip_source_v4", "ipip_source_v6"})) return;
    if (auto v = r.str(n, "node", "name", true)) c.node.name = *v;
    if (auto v = r.ip(n, "node", "ipv4", 4, true)) c.node.ipv4 = *v;
    c.node.ipv6 = r.ip(n, "node", "ipv6", 6, false);
    c.node.ipip_source_v4 = r.prefix(n, "node", "ipip_source_v4", 4, false);
    c.node.ipip_source_v6 = r.prefix(n, "node", "ipip_source_v6", 6, false);
}

std::vector<Prefix> parse_subnets(YamlReader& r, const YAML::Node& map, const std::string& path) {
    std::vector<Prefix> out;
    const YAML::Node list = map["subnets"];
    const std::string lp = join_path(path, "subnets");
    if (!list.IsDefined() || !r.is_list(list, lp)) return out;
    for (size_t i = 0; i < list.size(); ++i) {
        const YAML::Node n = list[i];
        const std::string p = index_path(lp, i);
        auto pre = n.IsScalar() ? Prefix::parse(n.Scalar()) : std::nullopt;
        if (!pre) {
            r.error(n, p,
                    fmt::format("'{}' is not a prefix like 10.64.0.0/24 (host bits must be zero)",
                                n.IsScalar() ? n.Scalar() : "?"));
            continue;
        }
        out.push_back(*pre);
    }
    return out;
}

void parse_ports(YamlReader& r, const YAML::Node& root, Config& c) {
    const YAML::Node list = root["ports"];
    if (!list.IsDefined()) {
        r.error(root, "ports", "missing required key 'ports' (at least one port)");
        return;
    }
    if (!r.is_list(list, "ports")) return;
    if (list.size() == 0) r.error(list, "ports", "at least one port is needed");
    if (list.size() > kMaxPorts) {
        r.error(list, "ports", fmt::format("{} ports configured; at most {}", list.size(), kMaxPorts));
        return;
    }
    std::map<std::string, size_t> names;
    std::map<std::string, size_t> ifaces;   // tern-<name>, as the kernel cuts it (15 characters)
    std::map<std::string, size_t> devices;  // PCI addresses and vdev names
    for (size_t i = 0; i < list.size(); ++i) {
        const std::string path = index_path("ports", i);
        const YAML::Node p = list[i];
        if (!map_at(r, p, path, {"name", "device", "mac", "mtu", "subnets", "vlans"})) continue;
        Port port;
        if (auto v = r.str(p, path, "name", true)) {
            port.name = *v;
            auto [it, fresh] = names.emplace(*v, i);
            if (!fresh)
                r.error(p["name"], join_path(path, "name"),
                        fmt::format("port name '{}' is already used by ports[{}]", *v, it->second));
            const std::string iface = ("tern-" + *v).substr(0, 15);
            auto [at, unique] = ifaces.emplace(iface, i);
            if (fresh && !unique)
                r.error(p["name"], join_path(path, "name"),
                        fmt::format("port name '{}' gives the kernel interface {}, as ports[{}] does (interface "
                                    "names are cut to 15 characters)",
                                    *v, iface, at->second));
        }
        if (auto v = r.str(p, path, "device", true)) {
            port.device = *v;
            // A vdev's name is its string up to the first comma.
            auto [it, fresh] = devices.emplace(v->substr(0, v->find(',')), i);
            if (!fresh)
                r.error(p["device"], join_path(path, "device"),
                        fmt::format("device '{}' is already ports[{}]'s", *v, it->second));
        }
        port.mac = r.mac(p, path, "mac", false);
        if (auto v = r.uint(p, path, "mtu", 68, 9216, false)) port.mtu = static_cast<uint32_t>(*v);
        port.subnets = parse_subnets(r, p, path);
        const YAML::Node vlans = p["vlans"];
        if (vlans.IsDefined() && r.is_list(vlans, join_path(path, "vlans"))) {
            std::map<uint64_t, size_t> ids;
            for (size_t j = 0; j < vlans.size(); ++j) {
                const std::string vp = index_path(join_path(path, "vlans"), j);
                const YAML::Node v = vlans[j];
                if (!map_at(r, v, vp, {"id", "subnets"})) continue;
                Vlan vlan;
                if (auto id = r.uint(v, vp, "id", 1, 4094, true)) {
                    vlan.id = static_cast<uint16_t>(*id);
                    auto [it, fresh] = ids.emplace(*id, j);
                    if (!fresh)
                        r.error(v["id"], join_path(vp, "id"),
                                fmt::format("VLAN {} is already listed as vlans[{}]", *id, it->second));
                }
                vlan.subnets = parse_subnets(r, v, vp);
                port.vlans.push_back(std::move(vlan));
            }
        }
        c.ports.push_back(port);
    }
}

void parse_neighbors(YamlReader& r, const YAML::Node& root, Config& c) {
    const YAML::Node list = root["neighbors"];
    if (!list.IsDefined() || !r.is_list(list, "neighbors")) return;
    std::map<IpAddr, size_t> seen;
    for (size_t i = 0; i < list.size(); ++i) {
        const std::string path = index_path("neighbors", i);
        const YAML::Node n = list[i];
        if (!map_at(r, n, path, {"ip", "mac"})) continue;
        auto ip = r.ip(n, path, "ip", 0, true);
        auto mac = r.mac(n, path, "mac", true);
        if (ip) {
            auto [it, fresh] = seen.emplace(*ip, i);
            if (!fresh)
                r.error(n["ip"], join_path(path, "ip"),
                        fmt::format("{} is already listed as neighbors[{}]", ip->str(), it->second));
        }
        if (ip && mac) c.neighbors.push_back({*ip, *mac});
    }
}

// "A:B" (RFC 1997, each 0..65535) or "A:B:C" (RFC 8092, each 0..4294967295).
std::optional<std::vector<uint32_t>> community_parts(const std::string& text, size_t parts, uint64_t max) {
    std::vector<uint32_t> out;
    size_t pos = 0;
    for (size_t i = 0; i < parts; ++i) {
        const size_t end = i + 1 == parts ? text.size() : text.find(':', pos);
        if (end == std::string::npos || end == pos || end - pos > 10) return std::nullopt;
        uint64_t v = 0;
        for (size_t k = pos; k < end; ++k) {
            if (text[k] < '0' || text[k] > '9') return std::nullopt;
            v = v * 10 + static_cast<uint64_t>(text[k] - '0');
        }
        if (v > max) return std::nullopt;
        out.push_back(static_cast<uint32_t>(v));
        pos = end + 1;
    }
    return out;
}

void parse_communities(YamlReader& r, const YAML::Node& b, const char* key, size_t parts, Bgp& bgp) {
    const YAML::Node list = b[key];
    const std::string path = join_path("bgp", key);
    if (!list.IsDefined() || !r.is_list(list, path)) return;
    if (list.size() > 64) r.error(list, path, "at most 64 are allowed");
    for (size_t i = 0; i < list.size(); ++i) {
        const YAML::Node n = list[i];
        auto v = n.IsScalar() ? community_parts(n.Scalar(), parts, parts == 2 ? 65535 : kMaxU32) : std::nullopt;
        if (!v) {
            r.error(n, index_path(path, i),
                    parts == 2 ? "not a community like \"14907:7\" (two numbers 0..65535)"
                               : "not a large community like \"64600:1:2\" (three numbers 0..4294967295)");
            continue;
        }
        if (parts == 2) {
            bgp.communities.push_back((*v)[0] << 16 | (*v)[1]);
        } else {
            bgp.large_communities.push_back({(*v)[0], (*v)[1], (*v)[2]});
        }
    }
}

std::optional<uint16_t> hold_time(YamlReader& r, const YAML::Node& m, const std::string& path) {
    auto v = r.uint(m, path, "hold_time", 0, 65535, false);
    if (v && (*v == 1 || *v == 2)) {
        r.error(m["hold_time"], join_path(path, "hold_time"),
                "must be 0 (no keepalives) or at least 3 seconds (RFC 4271)");
        return std::nullopt;
    }
    if (v) return static_cast<uint16_t>(*v);
    return std::nullopt;
}

void parse_bgp(YamlReader& r, const YAML::Node& root, Config& c) {
    const YAML::Node b = root["bgp"];
    if (!b.IsDefined()) return;
    if (!map_at(r, b, "bgp",
                {"local_asn", "med", "router_id", "hold_time", "connect_retry", "as_path_prepend", "next_hop_v4",
                 "next_hop_v6", "communities", "large_communities", "listen", "listen_address", "listen_port", "peers",
                 "withdraw_unpooled", "drain_time"})) {
        return;
    }
    Bgp bgp;
    if (auto v = r.uint(b, "bgp", "local_asn", 1, kMaxU32, true)) bgp.local_asn = static_cast<uint32_t>(*v);
    if (auto v = r.uint(b, "bgp", "med", 0, kMaxU32, false)) bgp.med = static_cast<uint32_t>(*v);
    bgp.router_id = r.ip(b, "bgp", "router_id", 4, false);
    if (auto v = hold_time(r, b, "bgp")) bgp.hold_time = *v;
    if (auto v = r.uint(b, "bgp", "connect_retry", 1, 65535, false)) bgp.connect_retry = static_cast<uint16_t>(*v);
    if (auto v = r.uint(b, "bgp", "as_path_prepend", 0, 16, false)) bgp.as_path_prepend = static_cast<uint32_t>(*v);
    bgp.next_hop_v4 = r.ip(b, "bgp", "next_hop_v4", 4, false);
    bgp.next_hop_v6 = r.ip(b, "bgp", "next_hop_v6", 6, false);
    parse_communities(r, b, "communities", 2, bgp);
    parse_communities(r, b, "large_communities", 3, bgp);
    if (auto v = r.boolean(b, "bgp", "listen", false)) bgp.listen = *v;
    if (auto v = r.boolean(b, "bgp", "withdraw_unpooled", false)) bgp.withdraw_unpooled = *v;
    bgp.listen_address = r.ip(b, "bgp", "listen_address", 0, false);
    if (auto v = r.uint(b, "bgp", "listen_port", 1, 65535, false)) bgp.listen_port = static_cast<uint16_t>(*v);
    if (auto v = r.uint(b, "bgp", "drain_time", 0, 3600, false)) bgp.drain_time = static_cast<uint32_t>(*v);
    const YAML::Node peers = b["peers"];
    if (peers.IsDefined() && r.is_list(peers, "bgp.peers")) {
        std::set<IpAddr> seen;
        for (size_t i = 0; i < peers.size(); ++i) {
            const std::string path = index_path("bgp.peers", i);
            const YAML::Node p = peers[i];
            if (!map_at(
                    r, p, path,
                    {"address", "asn", "port", "passive", "password", "ttl_security", "hold_time", "connect_retry"})) {
                continue;
            }
            BgpPeer peer;
            auto a = r.ip(p, path, "address", 0, true);
            auto asn = r.uint(p, path, "asn", 1, kMaxU32, true);
            if (a && !seen.insert(*a).second)
                r.error(p["address"], join_path(path, "address"), fmt::format("peer {} is listed twice", a->str()));
            if (a) peer.address = *a;
            if (asn) peer.asn = static_cast<uint32_t>(*asn);
            if (auto v = r.uint(p, path, "port", 1, 65535, false)) peer.port = static_cast<uint16_t>(*v);
            if (auto v = r.boolean(p, path, "passive", false)) peer.passive = *v;
            if (auto v = r.str(p, path, "password", false)) {
                if (v->empty() || v->size() > 80) {
                    r.error(p["password"], join_path(path, "password"), "a TCP MD5 password has 1 to 80 characters");
                } else {
                    peer.password = *v;
                }
            }
            if (auto v = r.boolean(p, path, "ttl_security", false)) peer.ttl_security = *v;
            peer.hold_time = hold_time(r, p, path);
            if (auto v = r.uint(p, path, "connect_retry", 1, 65535, false))
                peer.connect_retry = static_cast<uint16_t>(*v);
            if (peer.passive && !bgp.listen)
                r.error(p["passive"], join_path(path, "passive"), "a passive peer needs bgp.listen: true");
            bgp.peers.push_back(peer);
        }
    }
    c.bgp = bgp;
}

// Once services are parsed: every VIP announced has one MED and a next hop.
void check_bgp(YamlReader& r, const YAML::Node& root, const Config& c) {
    if (!c.bgp || !r.errors().empty()) return;  // indices below assume a clean parse
    const YAML::Node services = root["services"];
    std::map<IpAddr, size_t> first;  // VIP -> index of its first service
    bool v6 = false;
    for (size_t i = 0; i < c.services.size(); ++i) {
        const Service& s = c.services[i];
        v6 = v6 || s.vip.is_v6();
        auto [it, fresh] = first.emplace(s.vip, i);
        if (fresh) continue;
        const Service& f = c.services[it->second];
        const uint32_t a = f.bgp_med.value_or(c.bgp->med), m = s.bgp_med.value_or(c.bgp->med);
        if (a != m) {
            const YAML::Node at = services[i]["bgp_med"].IsDefined() ? services[i]["bgp_med"] : services[i];
            r.error(at, index_path("services", i) + ".bgp_med",
                    fmt::format("VIP {} is announced with one MED, but service '{}' gives {} and '{}' gives {}",
                                s.vip.str(), f.name, a, s.name, m));
        }
    }
    if (v6 && !c.bgp->next_hop_v6 && !c.node.ipv6) {
        r.error(root["bgp"], "bgp.next_hop_v6",
                "IPv6 VIPs are announced with an IPv6 next hop: set bgp.next_hop_v6 or node.ipv6");
    }
}

// A service's monitors, kept as written: their kinds and options are read
// by control against health's registry (control/config/monitor_spec.h).
void parse_monitors(YamlReader& r, const YAML::Node& m, const std::string& path, Service& s,
                    const MonitorReader& read) {
    if (!r.is_map(m, path)) return;
    r.duplicate_keys(m, path);
    for (const auto& kv : m) {
        if (!kv.first.IsScalar()) {
            r.error(kv.first, path, "keys must be plain names");
            continue;
        }
        Monitor mon;
        mon.name = kv.first.Scalar();
        mon.parent_path = path;
        mon.path = join_path(path, mon.name);
        mon.key = std::make_shared<const YAML::Node>(kv.first);
        mon.options = std::make_shared<const YAML::Node>(kv.second);
        mon.mark = r.mark(kv.first);
        if (read) read(r, mon);
        s.monitors.push_back(std::move(mon));
    }
}

void parse_pool(YamlReader& r, const YAML::Node& n, const std::string& path, Service& s) {
    PoolSource ps;
    ps.mark = r.mark(n);
    std::optional<std::string> url;
    if (n.IsScalar()) {
        url = n.Scalar();
    } else if (r.is_map(n, path)) {
        r.duplicate_keys(n, path);
        r.known_keys(n, path, {"url", "interval", "hold_removals", "ca"});
        url = r.str(n, path, "url", true);
        if (auto v = r.real(n, path, "interval", 0.1, 86400, false)) ps.interval = *v;
        if (auto v = r.boolean(n, path, "hold_removals", false)) ps.hold_removals = *v;
        if (auto v = r.str(n, path, "ca", false)) {
            if (v->empty() || v->front() != '/') {
                r.error(n["ca"], join_path(path, "ca"), "a CA file needs an absolute path");
            } else {
                ps.ca = *v;
            }
        }
    } else {
        return;
    }
    if (!url) return;
    static const char* const schemes[] = {"file://",  "http://",  "https://", "etcd://",
                                          "etcds://", "etcd3://", "etcd3s://"};
    bool known = false;
    for (const char* sc : schemes) known = known || url->rfind(sc, 0) == 0;
    const YAML::Node at = n.IsScalar() ? n : n["url"];
    const std::string p = n.IsScalar() ? path : join_path(path, "url");
    if (!known) {
        r.error(at, p,
                fmt::format("'{}': the pool source must be a file://, http://, https://, etcd://, "
                            "etcds://, etcd3:// or etcd3s:// URL",
                            *url));
        return;
    }
    if (url->rfind("file://", 0) == 0 && (url->size() < 8 || (*url)[7] != '/')) {
        r.error(at, p, fmt::format("'{}': a file:// URL needs an absolute path (file:///etc/pybal/pools/x)", *url));
        return;
    }
    if (!ps.ca.empty() && url->rfind("https://", 0) != 0 && url->rfind("etcds://", 0) != 0 &&
        url->rfind("etcd3s://", 0) != 0) {
        r.error(n["ca"], join_path(path, "ca"), "a CA is for https://, etcds:// and etcd3s:// URLs");
        return;
    }
    ps.url = *url;
    s.pool = ps;
}

void parse_realservers(YamlReader& r, const YAML::Node& list, const std::string& path, Service& s, bool vip_ok) {
    if (!r.is_list(list, path)) return;
    std::map<std::string, size_t> hosts;
    std::map<IpAddr, size_t> ips;
    for (size_t i = 0; i < list.size(); ++i) {
        const std::string p = index_path(path, i);
        const YAML::Node n = list[i];
        if (!map_at(r, n, p, {"host", "ip", "weight", "enabled"})) continue;
        RealServer rs;
        rs.mark = r.mark(n);
        auto host = r.str(n, p, "host", true);
        auto ip = r.ip(n, p, "ip", 0, true);
        if (host) {
            rs.host = *host;
            auto [it, fresh] = hosts.emplace(*host, i);
            if (!fresh)
                r.error(n["host"], join_path(p, "host"),
                        fmt::format("host '{}' is already listed as {}", *host, index_path(path, it->second)));
        }
        if (ip) {
            rs.ip = *ip;
            auto [it, fresh] = ips.emplace(*ip, i);
            if (!fresh)
                r.error(n["ip"], join_path(p, "ip"),
                        fmt::format("{} is already listed as {}", ip->str(), index_path(path, it->second)));
            if (vip_ok && ip->family != s.vip.family) {
                const char* why = "";
                switch (s.forward) {
                    case Forward::dr:
                        why = "direct routing only rewrites MACs, so a server must have the VIP's address family";
                        break;
                    case Forward::ipip: why = "IPIP encapsulates IPv4 in IPv4 and IPv6 in IPv6 only"; break;
                }
                r.error(n["ip"], join_path(p, "ip"),
                        fmt::format("IPv{} server {} under IPv{} VIP {}: {}", ip->is_v4() ? 4 : 6, ip->str(),
                                    s.vip.is_v4() ? 4 : 6, s.vip.str(), why));
            }
        }
        if (auto v = r.uint(n, p, "weight", 0, 65535, false)) rs.weight = static_cast<uint32_t>(*v);
        if (auto v = r.boolean(n, p, "enabled", false)) rs.enabled = *v;
        s.realservers.push_back(rs);
    }
}

void parse_services(YamlReader& r, const YAML::Node& root, Config& c, const MonitorReader& read) {
    const YAML::Node list = root["services"];
    if (!list.IsDefined() || list.IsNull()) return;
    if (!r.is_list(list, "services")) return;
    std::map<std::string, size_t> names;
    std::map<std::tuple<IpAddr, uint16_t, Protocol>, std::string> endpoints;
    for (size_t i = 0; i < list.size(); ++i) {
        const std::string path = index_path("services", i);
        const YAML::Node n = list[i];
        if (!map_at(r, n, path,
                    {"name", "vip", "port", "protocol", "scheduler", "forward", "depool_threshold", "table_size",
                     "monitors", "realservers", "bgp_med", "removed_server_grace", "pool"})) {
            continue;
        }
        Service s;
        s.mark = r.mark(n);
        auto name = r.str(n, path, "name", true);
        if (name) {
            s.name = *name;
            auto [it, fresh] = names.emplace(*name, i);
            if (!fresh)
                r.error(n["name"], join_path(path, "name"),
                        fmt::format("service name '{}' is already used by services[{}]", *name, it->second));
        }
        auto vip = r.ip(n, path, "vip", 0, true);
        if (vip) s.vip = *vip;
        auto port = r.uint(n, path, "port", 1, 65535, true);
        if (port) s.port = static_cast<uint16_t>(*port);
        if (auto v = r.choice(n, path, "protocol", {"tcp", "udp"}, false)) s.protocol = static_cast<Protocol>(*v);
        if (auto v = r.choice(n, path, "scheduler", {"maglev", "sh", "wrr", "rr", "wlc"}, false))
            s.scheduler = static_cast<Scheduler>(*v);
        if (auto v = r.choice(n, path, "forward", {"dr", "ipip"}, false)) s.forward = static_cast<Forward>(*v);
        if (auto v = r.real(n, path, "depool_threshold", 0.0, 1.0, false)) s.depool_threshold = *v;
        if (auto v = r.uint(n, path, "removed_server_grace", 0, 86400, false))
            s.removed_server_grace = static_cast<uint32_t>(*v);
        if (auto v = r.uint(n, path, "bgp_med", 0, kMaxU32, false)) s.bgp_med = static_cast<uint32_t>(*v);
        const YAML::Node ts = n["table_size"];
        if (ts.IsDefined() && ts.IsScalar() && ts.Scalar() == "auto") {
            s.table_size = 0;
        } else if (ts.IsDefined() && ts.IsScalar() && !ts.Scalar().empty() &&
                   !std::isdigit(static_cast<unsigned char>(ts.Scalar()[0]))) {
            r.error(ts, join_path(path, "table_size"),
                    fmt::format("'{}' is neither auto nor a prime between 1021 and 1000003", ts.Scalar()));
        } else if (auto v = r.uint(n, path, "table_size", 1021, 1000003, false)) {
            if (!is_prime(*v)) {
                r.error(n["table_size"], join_path(path, "table_size"),
                        fmt::format("{} is not a prime (Maglev needs one; 65537 and 655373 are)", *v));
            } else {
                s.table_size = static_cast<uint32_t>(*v);
            }
        }
        if (n["monitors"].IsDefined() && !n["monitors"].IsNull())
            parse_monitors(r, n["monitors"], join_path(path, "monitors"), s, read);
        if (n["pool"].IsDefined() && !n["pool"].IsNull()) parse_pool(r, n["pool"], join_path(path, "pool"), s);
        const YAML::Node rs = n["realservers"];
        if (!rs.IsDefined()) {
            r.error(n, join_path(path, "realservers"), "missing required key 'realservers' (an empty list is allowed)");
        } else if (!rs.IsNull()) {
            parse_realservers(r, rs, join_path(path, "realservers"), s, vip.has_value());
        }
        if (s.table_size != 0 && s.realservers.size() >= s.table_size) {
            r.error(n, join_path(path, "table_size"),
                    fmt::format("{} must exceed the number of real servers ({})", s.table_size, s.realservers.size()));
        }
        if (vip && port && name) {
            auto key = std::make_tuple(*vip, s.port, s.protocol);
            auto [it, fresh] = endpoints.emplace(key, s.name);
            if (!fresh) {
                r.error(n, path,
                        fmt::format("services '{}' and '{}' both claim {}:{}/{}", it->second, s.name, vip->str(),
                                    s.port, to_string(s.protocol)));
            }
        }
        c.services.push_back(std::move(s));
    }
}

void parse_dataplane(YamlReader& r, const YAML::Node& root, Config& c) {
    const YAML::Node d = root["dataplane"];
    if (!d.IsDefined()) return;
    if (!map_at(r, d, "dataplane", {"answer_vip_echo", "exception", "icmp_rate_limit", "lcores", "main_lcore"})) return;
    if (const YAML::Node e = d["exception"];
        e.IsDefined() && map_at(r, e, "dataplane.exception", {"budget_pps", "burst", "priority_pps"})) {
        Exception& x = c.dataplane.exception;
        if (auto v = r.uint(e, "dataplane.exception", "budget_pps", 1, 10000000, false))
            x.budget_pps = static_cast<uint32_t>(*v);
        if (auto v = r.uint(e, "dataplane.exception", "burst", 1, 1000000, false)) x.burst = static_cast<uint32_t>(*v);
        if (auto v = r.uint(e, "dataplane.exception", "priority_pps", 10, 10000000, false))
            x.priority_pps = static_cast<uint32_t>(*v);
    }
    if (auto v = r.boolean(d, "dataplane", "answer_vip_echo", false)) c.dataplane.answer_vip_echo = *v;
    if (auto v = r.uint(d, "dataplane", "icmp_rate_limit", 0, 1000000, false))
        c.dataplane.icmp_rate_limit = static_cast<uint32_t>(*v);
    if (auto v = r.str(d, "dataplane", "lcores", false)) {
        auto cpus = parse_cpu_list(*v);
        if (auto* err = std::get_if<std::string>(&cpus)) {
            r.error(d["lcores"], "dataplane.lcores", *err);
        } else {
            c.dataplane.lcores = std::get<std::vector<unsigned>>(cpus);
        }
    }
    if (auto v = r.uint(d, "dataplane", "main_lcore", 0, kMaxLcore, false)) {
        c.dataplane.main_lcore = static_cast<unsigned>(*v);
        const auto& l = c.dataplane.lcores;
        if (l.empty()) {
            r.error(d["main_lcore"], "dataplane.main_lcore", "needs dataplane.lcores (the workers' CPUs)");
        } else if (std::find(l.begin(), l.end(), *v) != l.end()) {
            r.error(
                d["main_lcore"], "dataplane.main_lcore",
                fmt::format("{} is also a worker in dataplane.lcores; the control thread needs a CPU of its own", *v));
        }
    } else if (!c.dataplane.lcores.empty() && c.dataplane.lcores.size() > kMaxLcore) {
        r.error(d["lcores"], "dataplane.lcores", "leaves no lcore number for the control thread");
    }
}

void parse_http(YamlReader& r, const YAML::Node& root, Config& c) {
    const YAML::Node h = root["http"];
    if (!h.IsDefined() || h.IsNull()) return;
    if (!map_at(r, h, "http", {"enabled", "address", "port", "max_connections"})) return;
    if (auto v = r.boolean(h, "http", "enabled", false)) c.http.enabled = *v;
    if (auto v = r.ip(h, "http", "address", 0, false)) c.http.address = *v;
    if (auto v = r.uint(h, "http", "port", 0, 65535, false)) c.http.port = static_cast<uint16_t>(*v);
    if (auto v = r.uint(h, "http", "max_connections", 1, 100000, false))
        c.http.max_connections = static_cast<uint32_t>(*v);
}

void parse_console(YamlReader& r, const YAML::Node& root, Config& c) {
    const YAML::Node h = root["console"];
    if (!h.IsDefined() || h.IsNull()) return;
    if (!map_at(r, h, "console", {"enabled", "socket"})) return;
    if (auto v = r.boolean(h, "console", "enabled", false)) c.console.enabled = *v;
    if (auto v = r.str(h, "console", "socket", false)) {
        if ((*v)[0] != '/' || v->size() > 100) {
            r.error(h["socket"], "console.socket",
                    fmt::format("'{}' must be an absolute path of at most 100 characters", *v));
        } else {
            c.console.socket = *v;
        }
    }
}

void parse_flows(YamlReader& r, const YAML::Node& root, Config& c) {
    const YAML::Node f = root["flows"];
    if (!f.IsDefined()) return;
    if (!map_at(r, f, "flows", {"size", "timeouts"})) return;
    if (auto v = r.uint(f, "flows", "size", 64, 1ull << 28, false)) {
        if ((*v & (*v - 1)) != 0) {
            r.error(f["size"], "flows.size", fmt::format("{} is not a power of two", *v));
        } else {
            c.flows.size = *v;
        }
    }
    const YAML::Node t = f["timeouts"];
    if (!t.IsDefined()) return;
    if (!map_at(r, t, "flows.timeouts",
                {"established", "syn_sent", "syn_recv", "fin_wait", "time_wait", "close", "close_wait", "last_ack",
                 "udp", "unproven", "under_pressure"})) {
        return;
    }
    const std::pair<const char*, uint32_t*> keys[] = {{"established", &c.flows.established},
                                                      {"syn_sent", &c.flows.syn_sent},
                                                      {"syn_recv", &c.flows.syn_recv},
                                                      {"fin_wait", &c.flows.fin_wait},
                                                      {"time_wait", &c.flows.time_wait},
                                                      {"close", &c.flows.close},
                                                      {"close_wait", &c.flows.close_wait},
                                                      {"last_ack", &c.flows.last_ack},
                                                      {"udp", &c.flows.udp},
                                                      {"unproven", &c.flows.unproven},
                                                      {"under_pressure", &c.flows.under_pressure}};
    for (const auto& [key, dst] : keys) {
        if (auto v = r.uint(t, "flows.timeouts", key, 1, 86400 * 7, false)) *dst = static_cast<uint32_t>(*v);
    }
}

// Once everything parsed: can every server be reached the way its service
// forwards? DR needs the server on a connected subnet; IPIP needs it there
// or a gateway of its family on one. Only checked when subnets are named.
void check_reachability(YamlReader& r, const YAML::Node& root, const Config& c) {
    if (!r.errors().empty()) return;  // indices below assume a clean parse
    const YAML::Node services = root["services"];
    if (c.has_subnets()) {
        for (const auto& [gw, key] : {std::pair{c.gateway_v4, "gateway_v4"}, std::pair{c.gateway_v6, "gateway_v6"}}) {
            if (gw && !c.attachment(*gw))
                r.error(root[key], key, fmt::format("{} is on no connected subnet of any port", gw->str()));
        }
    }
    for (size_t i = 0; i < c.services.size(); ++i) {
        const Service& s = c.services[i];
        if (s.forward == Forward::ipip) {
            const bool v4 = s.vip.is_v4();
            if (!v4 && !c.node.ipv6 && !c.node.ipip_source_v6) {
                r.error(services[i]["forward"], index_path("services", i) + ".forward",
                        "IPIP for an IPv6 VIP needs node.ipv6 or node.ipip_source_v6 as the outer source");
            }
        }
        if (!c.has_subnets()) continue;
        for (size_t j = 0; j < s.realservers.size(); ++j) {
            const RealServer& rs = s.realservers[j];
            if (c.attachment(rs.ip)) continue;
            const std::string p = index_path(index_path("services", i) + ".realservers", j) + ".ip";
            const YAML::Node at = services[i]["realservers"][j]["ip"];
            switch (s.forward) {
                case Forward::dr:
                    r.error(
                        at, p,
                        fmt::format(
                            "{} is on no connected subnet: direct routing needs the server on our subnet (use forward: ipip)",
                            rs.ip.str()));
                    break;
                case Forward::ipip:
                    if (!(rs.ip.is_v4() ? c.gateway_v4 : c.gateway_v6)) {
                        r.error(at, p,
                                fmt::format("{} is on no connected subnet and there is no gateway_v{} to reach it",
                                            rs.ip.str(), rs.ip.is_v4() ? 4 : 6));
                    }
                    break;
            }
        }
    }
}

// How many YAML documents `text` holds, counting to two (a config is exactly
// one), or nullopt when yaml-cpp cannot get past the start of one. Not
// YAML::LoadAll: yaml-cpp 0.7 never gets past a flow indicator where a
// document should start (", x"), and LoadAll lists the same empty document
// until memory runs out (found by the config fuzz target, test/fuzz). A
// document that starts where the one before it started read nothing.
struct DocumentStarts final : YAML::EventHandler {
    std::vector<YAML::Mark> starts;
    void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};

std::optional<size_t> count_documents(const std::string& text, YAML::Mark& stuck) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts h;
    size_t n = 0;
    while (n < 2 && parser.HandleNextDocument(h)) {
        ++n;
        if (n == 2 && h.starts[1].pos == h.starts[0].pos) {
            stuck = h.starts[1];
            return std::nullopt;
        }
    }
    return n;
}

}  // namespace

std::variant<std::vector<unsigned>, std::string> parse_cpu_list(const std::string& text) {
    std::set<unsigned> cpus;
    auto number = [](const std::string& w) -> std::optional<unsigned> {
        if (w.empty() || w.size() > 4 || w.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
        const unsigned v = static_cast<unsigned>(std::stoul(w));
        if (v > kMaxLcore) return std::nullopt;
        return v;
    };
    size_t at = 0;
    while (at <= text.size()) {
        const size_t comma = std::min(text.find(',', at), text.size());
        const std::string part = text.substr(at, comma - at);
        const size_t dash = part.find('-');
        const auto lo = number(part.substr(0, dash));
        const auto hi = dash == std::string::npos ? lo : number(part.substr(dash + 1));
        if (!lo || !hi || *hi < *lo) {
            return fmt::format("'{}' in '{}' is not a CPU number 0..{} or a range A-B of them (\"1-2,4\")", part, text,
                               kMaxLcore);
        }
        for (unsigned c = *lo; c <= *hi; ++c) cpus.insert(c);
        at = comma + 1;
    }
    return std::vector<unsigned>(cpus.begin(), cpus.end());
}

bool Config::has_subnets() const {
    for (const auto& p : ports) {
        if (!p.subnets.empty()) return true;
        for (const auto& v : p.vlans) {
            if (!v.subnets.empty()) return true;
        }
    }
    return false;
}

std::optional<Attachment> Config::attachment(const IpAddr& ip) const {
    std::optional<Attachment> best;
    int best_len = -1;
    for (size_t i = 0; i < ports.size(); ++i) {
        const Port& p = ports[i];
        for (const auto& s : p.subnets) {
            if (s.contains(ip) && s.length > best_len) {
                best_len = s.length;
                best = Attachment{0, i};
            }
        }
        for (const auto& v : p.vlans) {
            for (const auto& s : v.subnets) {
                if (s.contains(ip) && s.length > best_len) {
                    best_len = s.length;
                    best = Attachment{v.id, i};
                }
            }
        }
    }
    return best;
}

LoadResult load_string(const std::string& text, const std::string& name, const MonitorReader& monitors) {
    LoadResult result;
    std::vector<Error>& errors = result.errors;
    YamlReader r(name, errors);
    YAML::Node root;
    try {
        YAML::Mark stuck;
        const std::optional<size_t> docs = count_documents(text, stuck);
        if (!docs) {
            errors.push_back({name, stuck.line + 1, stuck.column + 1, "(file)",
                              "not valid YAML: no document can be read here (a stray ',', '?' or flow indicator?)"});
            return result;
        }
        if (*docs > 1) {
            errors.push_back({name, 0, 0, "(file)", "several YAML documents ('---'); a config is exactly one"});
            return result;
        }
        if (*docs == 1) root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        errors.push_back({name, e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1,
                          "(file)", fmt::format("not valid YAML: {}", e.msg)});
        return result;
    }
    if (!root.IsDefined() || root.IsNull()) {
        errors.push_back({name, 0, 0, "(file)", "file is empty"});
        return result;
    }
    if (!root.IsMap()) {
        r.error(root, "(file)", "the top level must be a map of keys (node, ports, services, ...)");
        return result;
    }
    r.duplicate_keys(root, "");
    r.known_keys(root, "",
                 {"node", "ports", "neighbors", "gateway_v4", "gateway_v6", "bgp", "services", "dataplane", "flows",
                  "http", "console", "log"});
    Config c;
    c.path = name;
    parse_node(r, root, c);
    parse_ports(r, root, c);
    parse_neighbors(r, root, c);
    c.gateway_v4 = r.ip(root, "", "gateway_v4", 4, false);
    c.gateway_v6 = r.ip(root, "", "gateway_v6", 6, false);
    parse_bgp(r, root, c);
    parse_dataplane(r, root, c);
    parse_http(r, root, c);
    parse_console(r, root, c);
    if (const YAML::Node l = root["log"]; l.IsDefined() && !l.IsNull() && map_at(r, l, "log", {"level"})) {
        if (auto v = r.choice(l, "log", "level", {"debug", "info", "warning", "error"}, false)) {
            c.log.level = static_cast<LogLevel>(*v);
        }
    }
    parse_flows(r, root, c);
    parse_services(r, root, c, monitors);
    check_reachability(r, root, c);
    check_bgp(r, root, c);
    if (errors.empty()) result.config = std::move(c);
    return result;
}

LoadResult load_file(const std::string& path, const MonitorReader& monitors) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        LoadResult result;
        result.errors.push_back({path, 0, 0, "(file)", "cannot read: it is a directory"});
        return result;
    }
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        LoadResult result;
        result.errors.push_back({path, 0, 0, "(file)", fmt::format("cannot read: {}", std::strerror(errno))});
        return result;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    return load_string(ss.str(), path, monitors);
}

}  // namespace tern::conf
