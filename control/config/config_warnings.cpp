#include "control/config/config_warnings.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

namespace tern::ctl {
namespace {

// "scheme://user:password@host/...": credentials in the authority.
bool has_userinfo(const std::string& url) {
    const size_t scheme = url.find("://");
    if (scheme == std::string::npos) return false;
    const size_t start = scheme + 3;
    const size_t end = url.find('/', start);
    const std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
    return authority.find('@') != std::string::npos;
}

bool loopback(const conf::IpAddr& ip) {
    if (ip.is_v4()) return ip.bytes[0] == 127;
    if (!ip.is_v6()) return false;
    for (size_t i = 0; i < 15; ++i) {
        if (ip.bytes[i] != 0) return false;
    }
    return ip.bytes[15] == 1;
}

}  // namespace

std::vector<std::string> config_warnings(const conf::Config& config, const std::string& path) {
    std::vector<std::string> out;
    std::vector<std::string> secrets;
    if (config.bgp) {
        for (size_t i = 0; i < config.bgp->peers.size(); ++i) {
            if (!config.bgp->peers[i].password.empty()) secrets.push_back(fmt::format("bgp.peers[{}].password", i));
        }
    }
    for (size_t i = 0; i < config.services.size(); ++i) {
        const auto& s = config.services[i];
        if (s.pool && has_userinfo(s.pool->url)) secrets.push_back(fmt::format("services[{}].pool.url", i));
    }
    struct stat st {};
    if (!secrets.empty() && ::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH) != 0) {
        std::string keys;
        for (const auto& k : secrets) keys += (keys.empty() ? "" : ", ") + k;
        out.push_back(
            fmt::format("{}: warning: readable by every user (mode {:04o}) and holds secrets ({}); "
                        "make it 0600 or 0640 for the group that runs tern",
                        path, st.st_mode & 07777, keys));
    }
    if (config.http.enabled && !loopback(config.http.address)) {
        out.push_back(
            fmt::format("{}: warning: http.address {}: the HTTP API (/pools, /alerts, /metrics; no "
                        "authentication) is reachable beyond this host; bind it to 127.0.0.1 or ::1 "
                        "unless a firewall guards port {}",
                        path, config.http.address.str(), config.http.port));
    }
    // RunCommand as root: the command gets tern's capabilities.
    for (const auto& s : config.services) {
        for (const auto& m : s.monitors) {
            if (m.name != "RunCommand" || !m.options || !m.options->IsMap()) continue;
            const YAML::Node user = (*m.options)["user"];
            if (!user || !user.IsScalar() || (user.Scalar() != "root" && user.Scalar() != "0")) continue;
            out.push_back(
                fmt::format("{}:{}:{}: warning: {}.user {}: the command runs as root, with tern run's remaining "
                            "capabilities (cap_net_admin, ...); a user of its own is safer",
                            path, m.mark.line, m.mark.column, m.path, user.Scalar()));
        }
    }
    return out;
}

}  // namespace tern::ctl
