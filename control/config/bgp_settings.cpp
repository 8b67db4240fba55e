#include "control/config/bgp_settings.h"

#include <map>

namespace tern::ctl {

using bgp::Address;
using bgp::PeerSettings;
using bgp::Prefix;
using bgp::Route;
using bgp::SpeakerSettings;

Address to_address(const conf::IpAddr& ip) {
    Address a;
    a.family = ip.is_v4() ? 4 : 6;
    a.bytes = ip.bytes;
    return a;
}

SpeakerSettings speaker_settings(const conf::Config& c) {
    const conf::Bgp& b = *c.bgp;
    SpeakerSettings s;
    s.local_asn = b.local_asn;
    const Address id = to_address(b.router_id.value_or(c.node.ipv4));
    s.router_id = static_cast<uint32_t>(id.bytes[0]) << 24 | id.bytes[1] << 16 | id.bytes[2] << 8 | id.bytes[3];
    s.next_hop_v4 = to_address(b.next_hop_v4.value_or(c.node.ipv4));
    if (b.next_hop_v6) {
        s.next_hop_v6 = to_address(*b.next_hop_v6);
    } else if (c.node.ipv6) {
        s.next_hop_v6 = to_address(*c.node.ipv6);
    }
    s.communities = b.communities;
    for (const auto& l : b.large_communities) s.large_communities.push_back({l.global, l.local1, l.local2});
    s.as_path_prepend = b.as_path_prepend;
    s.listen = b.listen;
    if (b.listen_address) s.listen_address = to_address(*b.listen_address);
    s.listen_port = b.listen_port;
    for (const auto& p : b.peers) {
        PeerSettings ps;
        ps.address = to_address(p.address);
        ps.port = p.port;
        ps.remote_asn = p.asn;
        ps.hold_time = p.hold_time.value_or(b.hold_time);
        ps.connect_retry = p.connect_retry.value_or(b.connect_retry);
        ps.passive = p.passive;
        ps.socket.md5_password = p.password;
        ps.socket.ttl_security = p.ttl_security;
        s.peers.push_back(ps);
    }
    return s;
}

std::vector<Route> vip_routes(const conf::Config& c) {
    std::map<conf::IpAddr, uint32_t> vips;
    const uint32_t med = c.bgp ? c.bgp->med : 0;
    for (const auto& s : c.services) vips.emplace(s.vip, s.bgp_med.value_or(med));
    std::vector<Route> out;
    for (const auto& [vip, m] : vips) out.push_back({Prefix::host(to_address(vip)), m});
    return out;
}

}  // namespace tern::ctl
