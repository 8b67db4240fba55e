#include "control/state/next_hops.h"

namespace tern::ctl {

std::map<conf::IpAddr, conf::MacAddr> static_neighbors(const conf::Config& config) {
    std::map<conf::IpAddr, conf::MacAddr> macs;
    for (const auto& n : config.neighbors) macs[n.ip] = n.mac;
    return macs;
}

NextHop next_hop(const conf::Config& config, const std::map<conf::IpAddr, conf::MacAddr>& statics,
                 const conf::IpAddr& server, conf::Forward forward, const KernelHops* kernel) {
    NextHop hop{server, std::nullopt, 0, 0, false};
    const bool on_link = statics.count(server) > 0 || config.attachment(server).has_value();
    const std::optional<KernelRoute> routed = kernel ? kernel->route(server) : std::nullopt;
    if (!on_link && forward == conf::Forward::ipip) {
        const auto& gateway = server.is_v4() ? config.gateway_v4 : config.gateway_v6;
        if (routed) {
            hop.ip = routed->via;
        } else if (gateway) {
            hop.ip = *gateway;
        }
    }
    if (auto att = config.attachment(hop.ip)) {
        hop.vlan = att->vlan;
        hop.port = att->port;
    } else if (routed) {
        hop.port = routed->port;
    }
    if (auto it = statics.find(hop.ip); it != statics.end()) {
        hop.mac = it->second;
        hop.static_mac = true;
    } else if (kernel) {
        hop.mac = kernel->mac(hop.ip, hop.port);
    }
    return hop;
}

}  // namespace tern::ctl
