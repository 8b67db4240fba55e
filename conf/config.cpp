// Minimal loader (no validation yet): full schema validation lands with conf/REFERENCE.md.
#include "conf/config.h"
#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>
#include <cstring>
#include <cstdio>
namespace tern::conf {
bool IpAddr::is_v4() const { return family == AF_INET; }
bool IpAddr::is_v6() const { return family == AF_INET6; }
std::string IpAddr::str() const { char b[64]; inet_ntop(family, bytes.data(), b, sizeof b); return b; }
std::optional<IpAddr> IpAddr::parse(const std::string& t) { IpAddr a; if (inet_pton(AF_INET, t.c_str(), a.bytes.data()) == 1) { a.family = AF_INET; return a; } if (inet_pton(AF_INET6, t.c_str(), a.bytes.data()) == 1) { a.family = AF_INET6; return a; } return std::nullopt; }
std::optional<MacAddr> parse_mac(const std::string& t) { MacAddr m; unsigned v[6]; if (sscanf(t.c_str(), "%x:%x:%x:%x:%x:%x", &v[0],&v[1],&v[2],&v[3],&v[4],&v[5]) != 6) return std::nullopt; for (int i=0;i<6;i++) m[i]=v[i]; return m; }
bool Port::device_is_pci() const { return device.size() > 4 && device[4] == ':' && device.find(',') == std::string::npos && device.rfind("net_",0) != 0; }
const char* to_string(Protocol p) { return p == Protocol::tcp ? "tcp" : "udp"; }
const char* to_string(Scheduler s) { const char* n[] = {"maglev","sh","wrr","rr","wlc"}; return n[(int)s]; }
const char* to_string(Forward f) { return f == Forward::dr ? "dr" : "ipip"; }
std::string Error::str() const { return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + path + ": " + message; }
LoadResult load_file(const std::string& path) {
  LoadResult r; Config c; c.path = path;
  YAML::Node y = YAML::LoadFile(path);
  c.node.name = y["node"]["name"].as<std::string>(); c.node.ipv4 = *IpAddr::parse(y["node"]["ipv4"].as<std::string>());
  for (auto p : y["ports"]) { Port po; po.name = p["name"].as<std::string>(); po.device = p["device"].as<std::string>(); if (p["mac"]) po.mac = parse_mac(p["mac"].as<std::string>()); c.ports.push_back(po); }
  for (auto n : y["neighbors"]) c.neighbors.push_back({*IpAddr::parse(n["ip"].as<std::string>()), *parse_mac(n["mac"].as<std::string>())});
  for (auto s : y["services"]) { Service sv; sv.name = s["name"].as<std::string>(); sv.vip = *IpAddr::parse(s["vip"].as<std::string>()); sv.port = s["port"].as<int>();
    if (s["protocol"] && s["protocol"].as<std::string>() == "udp") sv.protocol = Protocol::udp;
    if (s["scheduler"] && s["scheduler"].as<std::string>() == "sh") sv.scheduler = Scheduler::sh;
    for (auto rs : s["realservers"]) { RealServer x; x.host = rs["host"].as<std::string>(); x.ip = *IpAddr::parse(rs["ip"].as<std::string>()); if (rs["weight"]) x.weight = rs["weight"].as<int>(); if (rs["enabled"]) x.enabled = rs["enabled"].as<bool>(); sv.realservers.push_back(x); }
    c.services.push_back(sv); }
  r.config = c; return r;
}
}
