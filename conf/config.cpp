// The tern.yaml schema: every key, its type and range, and the checks that
// span several keys. conf/REFERENCE.md documents the same, for people.
#include "conf/config.h"

#include <fmt/format.h>

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

// Reports keys that appear twice in one map (yaml-cpp keeps the first silently).
void duplicate_keys(YamlReader& r, const YAML::Node& map, const std::string& path) {
    std::set<std::string> seen;
    for (const auto& kv : map) {
        if (!kv.first.IsScalar()) continue;
        if (!seen.insert(kv.first.Scalar()).second) {
            r.error(kv.first, join_path(path, kv.first.Scalar()), "key given twice");
        }
    }
}

bool map_at(YamlReader& r, const YAML::Node& n, const std::string& path,
            std::initializer_list<std::string_view> keys) {
    if (!r.is_map(n, path)) return false;
    duplicate_keys(r, n, path);
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
            r.error(n, p, fmt::format("'{}' is not a prefix like 10.64.0.0/24 (host bits must be zero)",
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
    std::map<std::string, size_t> names;
    for (size_t i = 0; i < list.size(); ++i) {
        const std::string path = index_path("ports", i);
        const YAML::Node p = list[i];
        if (!map_at(r, p, path, {"name", "device", "mac", "mtu", "subnets", "vlans"})) continue;
        Port port;
        if (auto v = r.str(p, path, "name", true)) {
            port.name = *v;
            auto [it, fresh] = names.emplace(*v, i);
            if (!fresh) r.error(p["name"], join_path(path, "name"), fmt::format("port name '{}' is already used by ports[{}]", *v, it->second));
        }
        if (auto v = r.str(p, path, "device", true)) port.device = *v;
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
                    if (!fresh) r.error(v["id"], join_path(vp, "id"), fmt::format("VLAN {} is already listed as vlans[{}]", *id, it->second));
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
            if (!fresh) r.error(n["ip"], join_path(path, "ip"), fmt::format("{} is already listed as neighbors[{}]", ip->str(), it->second));
        }
        if (ip && mac) c.neighbors.push_back({*ip, *mac});
    }
}

void parse_bgp(YamlReader& r, const YAML::Node& root, Config& c) {
    const YAML::Node b = root["bgp"];
    if (!b.IsDefined()) return;
    if (!map_at(r, b, "bgp", {"local_asn", "med", "peers"})) return;
    Bgp bgp;
    if (auto v = r.uint(b, "bgp", "local_asn", 1, kMaxU32, true)) bgp.local_asn = static_cast<uint32_t>(*v);
    if (auto v = r.uint(b, "bgp", "med", 0, kMaxU32, false)) bgp.med = static_cast<uint32_t>(*v);
    const YAML::Node peers = b["peers"];
    if (peers.IsDefined() && r.is_list(peers, "bgp.peers")) {
        std::set<IpAddr> seen;
        for (size_t i = 0; i < peers.size(); ++i) {
            const std::string path = index_path("bgp.peers", i);
            const YAML::Node p = peers[i];
            if (!map_at(r, p, path, {"address", "asn"})) continue;
            BgpPeer peer;
            auto a = r.ip(p, path, "address", 0, true);
            auto asn = r.uint(p, path, "asn", 1, kMaxU32, true);
            if (a && !seen.insert(*a).second) r.error(p["address"], join_path(path, "address"), fmt::format("peer {} is listed twice", a->str()));
            if (a) peer.address = *a;
            if (asn) peer.asn = static_cast<uint32_t>(*asn);
            bgp.peers.push_back(peer);
        }
    }
    c.bgp = bgp;
}

void parse_monitors(YamlReader& r, const YAML::Node& m, const std::string& path, Service& s) {
    if (!map_at(r, m, path, {"ProxyFetch", "IdleConnection", "RunCommand", "DNSQuery", "UDP"})) return;
    for (const auto& kv : m) {
        if (!kv.first.IsScalar()) continue;
        const std::string type = kv.first.Scalar();
        const std::string p = join_path(path, type);
        if (!kv.second.IsMap() && !kv.second.IsNull()) {
            r.error(kv.second, p, "the monitor's options must be a map");
            continue;
        }
        Monitor mon;
        mon.type = type;
        mon.mark = r.mark(kv.first);
        if (kv.second.IsMap()) {
            YAML::Emitter e;
            e << kv.second;
            mon.options_yaml = e.c_str();
        }
        s.monitors.push_back(std::move(mon));
    }
}

void parse_realservers(YamlReader& r, const YAML::Node& list, const std::string& path, Service& s,
                       bool vip_ok) {
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
            if (!fresh) r.error(n["host"], join_path(p, "host"), fmt::format("host '{}' is already listed as {}", *host, index_path(path, it->second)));
        }
        if (ip) {
            rs.ip = *ip;
            auto [it, fresh] = ips.emplace(*ip, i);
            if (!fresh) r.error(n["ip"], join_path(p, "ip"), fmt::format("{} is already listed as {}", ip->str(), index_path(path, it->second)));
            if (vip_ok && ip->family != s.vip.family) {
                const char* why = s.forward == Forward::dr
                                      ? "direct routing only rewrites MACs, so a server must have the VIP's address family"
                                      : "IPIP encapsulates IPv4 in IPv4 and IPv6 in IPv6 only";
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

void parse_services(YamlReader& r, const YAML::Node& root, Config& c) {
    const YAML::Node list = root["services"];
    if (!list.IsDefined() || list.IsNull()) return;
    if (!r.is_list(list, "services")) return;
    std::map<std::string, size_t> names;
    std::map<std::tuple<IpAddr, uint16_t, Protocol>, std::string> endpoints;
    for (size_t i = 0; i < list.size(); ++i) {
        const std::string path = index_path("services", i);
        const YAML::Node n = list[i];
        if (!map_at(r, n, path, {"name", "vip", "port", "protocol", "scheduler", "forward",
                                 "depool_threshold", "table_size", "monitors", "realservers"})) {
            continue;
        }
        Service s;
        s.mark = r.mark(n);
        auto name = r.str(n, path, "name", true);
        if (name) {
            s.name = *name;
            auto [it, fresh] = names.emplace(*name, i);
            if (!fresh) r.error(n["name"], join_path(path, "name"), fmt::format("service name '{}' is already used by services[{}]", *name, it->second));
        }
        auto vip = r.ip(n, path, "vip", 0, true);
        if (vip) s.vip = *vip;
        auto port = r.uint(n, path, "port", 1, 65535, true);
        if (port) s.port = static_cast<uint16_t>(*port);
        if (auto v = r.choice(n, path, "protocol", {"tcp", "udp"}, false)) s.protocol = static_cast<Protocol>(*v);
        if (auto v = r.choice(n, path, "scheduler", {"maglev", "sh", "wrr", "rr", "wlc"}, false)) s.scheduler = static_cast<Scheduler>(*v);
        if (auto v = r.choice(n, path, "forward", {"dr", "ipip"}, false)) s.forward = static_cast<Forward>(*v);
        if (auto v = r.real(n, path, "depool_threshold", 0.0, 1.0, false)) s.depool_threshold = *v;
        if (auto v = r.uint(n, path, "table_size", 1021, 1000003, false)) {
            if (!is_prime(*v)) {
                r.error(n["table_size"], join_path(path, "table_size"), fmt::format("{} is not a prime (Maglev needs one; 65537 and 655373 are)", *v));
            } else {
                s.table_size = static_cast<uint32_t>(*v);
            }
        }
        if (n["monitors"].IsDefined() && !n["monitors"].IsNull()) parse_monitors(r, n["monitors"], join_path(path, "monitors"), s);
        const YAML::Node rs = n["realservers"];
        if (!rs.IsDefined()) {
            r.error(n, join_path(path, "realservers"), "missing required key 'realservers' (an empty list is allowed)");
        } else if (!rs.IsNull()) {
            parse_realservers(r, rs, join_path(path, "realservers"), s, vip.has_value());
        }
        if (s.realservers.size() >= s.table_size) {
            r.error(n, join_path(path, "table_size"), fmt::format("{} must exceed the number of real servers ({})", s.table_size, s.realservers.size()));
        }
        if (vip && port && name) {
            auto key = std::make_tuple(*vip, s.port, s.protocol);
            auto [it, fresh] = endpoints.emplace(key, s.name);
            if (!fresh) {
                r.error(n, path, fmt::format("services '{}' and '{}' both claim {}:{}/{}", it->second, s.name, vip->str(), s.port, to_string(s.protocol)));
            }
        }
        c.services.push_back(std::move(s));
    }
}

void parse_dataplane(YamlReader& r, const YAML::Node& root, Config& c) {
    const YAML::Node d = root["dataplane"];
    if (!d.IsDefined()) return;
    if (!map_at(r, d, "dataplane", {"answer_vip_echo", "icmp_rate_limit"})) return;
    if (auto v = r.boolean(d, "dataplane", "answer_vip_echo", false)) c.dataplane.answer_vip_echo = *v;
    if (auto v = r.uint(d, "dataplane", "icmp_rate_limit", 0, 1000000, false)) c.dataplane.icmp_rate_limit = static_cast<uint32_t>(*v);
}

// Once everything parsed: can every server be reached the way its service
// forwards? DR needs the server on a connected subnet; IPIP needs it there
// or a gateway of its family on one. Only checked when subnets are named.
void check_reachability(YamlReader& r, const YAML::Node& root, const Config& c) {
    if (!r.errors().empty()) return;  // indices below assume a clean parse
    const YAML::Node services = root["services"];
    if (c.has_subnets()) {
        for (const auto& [gw, key] : {std::pair{c.gateway_v4, "gateway_v4"}, std::pair{c.gateway_v6, "gateway_v6"}}) {
            if (gw && !c.attachment(*gw)) r.error(root[key], key, fmt::format("{} is on no connected subnet of any port", gw->str()));
        }
    }
    for (size_t i = 0; i < c.services.size(); ++i) {
        const Service& s = c.services[i];
        if (s.forward == Forward::ipip) {
            const bool v4 = s.vip.is_v4();
            if (!v4 && !c.node.ipv6 && !c.node.ipip_source_v6) {
                r.error(services[i]["forward"], index_path("services", i) + ".forward", "IPIP for an IPv6 VIP needs node.ipv6 or node.ipip_source_v6 as the outer source");
            }
        }
        if (!c.has_subnets()) continue;
        for (size_t j = 0; j < s.realservers.size(); ++j) {
            const RealServer& rs = s.realservers[j];
            if (c.attachment(rs.ip)) continue;
            const std::string p = index_path(index_path("services", i) + ".realservers", j) + ".ip";
            const YAML::Node at = services[i]["realservers"][j]["ip"];
            if (s.forward == Forward::dr) {
                r.error(at, p, fmt::format("{} is on no connected subnet: direct routing needs the server on our subnet (use forward: ipip)", rs.ip.str()));
            } else if (!(rs.ip.is_v4() ? c.gateway_v4 : c.gateway_v6)) {
                r.error(at, p, fmt::format("{} is on no connected subnet and there is no gateway_v{} to reach it", rs.ip.str(), rs.ip.is_v4() ? 4 : 6));
            }
        }
    }
}

}  // namespace

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
    for (const auto& p : ports) {
        for (const auto& s : p.subnets) {
            if (s.contains(ip) && s.length > best_len) {
                best_len = s.length;
                best = Attachment{0};
            }
        }
        for (const auto& v : p.vlans) {
            for (const auto& s : v.subnets) {
                if (s.contains(ip) && s.length > best_len) {
                    best_len = s.length;
                    best = Attachment{v.id};
                }
            }
        }
    }
    return best;
}

LoadResult load_string(const std::string& text, const std::string& name) {
    LoadResult result;
    std::vector<Error>& errors = result.errors;
    YamlReader r(name, errors);
    YAML::Node root;
    try {
        const std::vector<YAML::Node> docs = YAML::LoadAll(text);
        if (docs.size() > 1) {
            errors.push_back({name, 0, 0, "(file)",
                              fmt::format("{} YAML documents ('---'); a config is exactly one", docs.size())});
            return result;
        }
        if (!docs.empty()) root = docs[0];
    } catch (const YAML::Exception& e) {
        errors.push_back({name, e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1, "(file)",
                          fmt::format("not valid YAML: {}", e.msg)});
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
    duplicate_keys(r, root, "");
    r.known_keys(root, "", {"node", "ports", "neighbors", "gateway_v4", "gateway_v6", "bgp", "services", "dataplane"});
    Config c;
    c.path = name;
    parse_node(r, root, c);
    parse_ports(r, root, c);
    parse_neighbors(r, root, c);
    c.gateway_v4 = r.ip(root, "", "gateway_v4", 4, false);
    c.gateway_v6 = r.ip(root, "", "gateway_v6", 6, false);
    parse_bgp(r, root, c);
    parse_dataplane(r, root, c);
    parse_services(r, root, c);
    check_reachability(r, root, c);
    if (errors.empty()) result.config = std::move(c);
    return result;
}

LoadResult load_file(const std::string& path) {
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
    return load_string(ss.str(), path);
}

}  // namespace tern::conf
