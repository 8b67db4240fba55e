// Next hops: the config's static entries, the kernel's routes and MACs
// (control/state/next_hops.h), and the rtnetlink messages the kernel view
// reads them from (control/kernel/kernel_view.h).
#include "control/state/next_hops.h"

#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "control/kernel/kernel_view.h"
#include "control/kernel/kernel_views.h"
#include "control/state/table_builder.h"

using namespace tern;

namespace {

conf::IpAddr ip(const char* text) { return *conf::IpAddr::parse(text); }
conf::MacAddr mac(const char* text) { return *conf::parse_mac(text); }

// What a kernel says, set by hand.
class FakeKernel final : public ctl::KernelHops {
public:
    std::map<conf::IpAddr, conf::IpAddr> routes;  // to a next hop through port route_port's interface
    std::map<conf::IpAddr, size_t> route_port;    // default 0
    std::map<ctl::PortHop, conf::MacAddr> port_macs;
    std::map<conf::IpAddr, conf::MacAddr> macs;  // on port 0
    std::set<ctl::PortHop> kept;
    std::optional<ctl::KernelRoute> route(const conf::IpAddr& a) const override {
        auto it = routes.find(a);
        if (it == routes.end()) return std::nullopt;
        auto p = route_port.find(a);
        return ctl::KernelRoute{it->second, p == route_port.end() ? 0 : p->second};
    }
    std::optional<conf::MacAddr> mac(const conf::IpAddr& a, size_t port) const override {
        if (auto it = port_macs.find({port, a}); it != port_macs.end()) return it->second;
        auto it = macs.find(a);
        if (port != 0 || it == macs.end()) return std::nullopt;
        return it->second;
    }
    void keep_resolved(const std::set<ctl::PortHop>& hops) override { kept = hops; }
    uint64_t version() const override { return 1; }
};

conf::Config base() {
    conf::Config c;
    c.node.name = "t";
    c.node.ipv4 = ip("10.0.0.10");
    conf::Port port;
    port.name = "p0";
    port.device = "0000:00:00.0";
    c.ports.push_back(port);
    c.gateway_v4 = ip("10.0.0.1");
    c.neighbors.push_back({ip("10.0.0.1"), mac("02:00:00:00:00:01")});
    c.neighbors.push_back({ip("10.0.0.21"), mac("02:00:00:00:00:21")});
    return c;
}

}  // namespace

TEST_CASE("next hops without subnets: IPIP servers off the neighbors go through the gateway") {
    const conf::Config c = base();
    const auto statics = ctl::static_neighbors(c);
    // In neighbors: on-link, its own MAC.
    auto h = ctl::next_hop(c, statics, ip("10.0.0.21"), conf::Forward::ipip, nullptr);
    CHECK(h.ip == ip("10.0.0.21"));
    CHECK(h.mac == mac("02:00:00:00:00:21"));
    CHECK(h.static_mac);
    // Not in neighbors, no subnets declared: IPIP goes to the gateway (it used to count as on-link).
    h = ctl::next_hop(c, statics, ip("172.16.5.30"), conf::Forward::ipip, nullptr);
    CHECK(h.ip == ip("10.0.0.1"));
    CHECK(h.mac == mac("02:00:00:00:00:01"));
    // DR is always on-link: without the kernel its MAC is unknown.
    h = ctl::next_hop(c, statics, ip("10.0.0.22"), conf::Forward::dr, nullptr);
    CHECK(h.ip == ip("10.0.0.22"));
    CHECK_FALSE(h.mac);
    // No IPv6 gateway: an IPv6 IPIP server counts as on-link.
    h = ctl::next_hop(c, statics, ip("2001:db8::5"), conf::Forward::ipip, nullptr);
    CHECK(h.ip == ip("2001:db8::5"));
}

TEST_CASE("next hops: declared subnets are on-link, the kernel's routes and MACs fill in the rest") {
    conf::Config c = base();
    c.ports[0].subnets.push_back(*conf::Prefix::parse("10.0.0.0/24"));
    conf::Vlan v;
    v.id = 7;
    v.subnets.push_back(*conf::Prefix::parse("10.7.0.0/24"));
    c.ports[0].vlans.push_back(v);
    const auto statics = ctl::static_neighbors(c);
    FakeKernel k;
    k.routes[ip("10.0.0.30")] = ip("10.0.0.99");   // never asked: the declared subnet wins
    k.routes[ip("172.16.5.30")] = ip("10.0.0.2");  // a more specific router than the gateway
    k.macs[ip("10.0.0.2")] = mac("02:00:00:00:00:02");
    k.macs[ip("10.0.0.30")] = mac("02:00:00:00:00:30");
    k.macs[ip("10.0.0.21")] = mac("02:00:00:00:99:99");  // the config's entry overrides the kernel's

    auto h = ctl::next_hop(c, statics, ip("10.0.0.30"), conf::Forward::ipip, &k);
    CHECK(h.ip == ip("10.0.0.30"));
    CHECK(h.mac == mac("02:00:00:00:00:30"));
    CHECK_FALSE(h.static_mac);
    h = ctl::next_hop(c, statics, ip("172.16.5.30"), conf::Forward::ipip, &k);
    CHECK(h.ip == ip("10.0.0.2"));
    CHECK(h.mac == mac("02:00:00:00:00:02"));
    // No route through our interface: the config's gateway.
    h = ctl::next_hop(c, statics, ip("172.16.9.9"), conf::Forward::ipip, &k);
    CHECK(h.ip == ip("10.0.0.1"));
    CHECK(h.static_mac);
    h = ctl::next_hop(c, statics, ip("10.0.0.21"), conf::Forward::dr, &k);
    CHECK(h.mac == mac("02:00:00:00:00:21"));
    // A VLAN subnet's server: its VLAN, the kernel's MAC.
    k.macs[ip("10.7.0.5")] = mac("02:00:00:00:07:05");
    h = ctl::next_hop(c, statics, ip("10.7.0.5"), conf::Forward::dr, &k);
    CHECK(h.vlan == 7);
    CHECK(h.mac == mac("02:00:00:00:07:05"));
}

namespace {

// base() with a second, server-facing port: uplink 10.0.0.0/24 (the
// gateway's), servers on 10.1.0.0/24 and VLAN 9's 10.9.0.0/24.
conf::Config two_ports() {
    conf::Config c = base();
    c.ports[0].subnets.push_back(*conf::Prefix::parse("10.0.0.0/24"));
    conf::Port servers;
    servers.name = "servers";
    servers.device = "0000:00:00.1";
    servers.subnets.push_back(*conf::Prefix::parse("10.1.0.0/24"));
    conf::Vlan v;
    v.id = 9;
    v.subnets.push_back(*conf::Prefix::parse("10.9.0.0/24"));
    servers.vlans.push_back(v);
    c.ports.push_back(servers);
    return c;
}

}  // namespace

TEST_CASE("next hops on several ports: the port of the subnet that holds the next hop") {
    const conf::Config c = two_ports();
    const auto statics = ctl::static_neighbors(c);
    FakeKernel k;
    k.port_macs[{1, ip("10.1.0.5")}] = mac("02:00:00:01:00:05");
    k.macs[ip("10.1.0.5")] = mac("02:00:00:00:99:99");  // the same address on the uplink's interface: not this one
    // DR on the server-facing subnet: port 1, its MAC as learned on port 1's interface.
    auto h = ctl::next_hop(c, statics, ip("10.1.0.5"), conf::Forward::dr, &k);
    CHECK(h.port == 1);
    CHECK(h.vlan == 0);
    CHECK(h.mac == mac("02:00:00:01:00:05"));
    // A VLAN of the second port.
    h = ctl::next_hop(c, statics, ip("10.9.0.7"), conf::Forward::dr, &k);
    CHECK(h.port == 1);
    CHECK(h.vlan == 9);
    // IPIP elsewhere through the gateway: the gateway's port (the uplink).
    h = ctl::next_hop(c, statics, ip("172.16.5.30"), conf::Forward::ipip, &k);
    CHECK(h.ip == ip("10.0.0.1"));
    CHECK(h.port == 0);
    // The kernel routes it through the second port's interface: that port.
    k.routes[ip("172.16.5.30")] = ip("10.1.0.1");
    k.route_port[ip("172.16.5.30")] = 1;
    h = ctl::next_hop(c, statics, ip("172.16.5.30"), conf::Forward::ipip, &k);
    CHECK(h.ip == ip("10.1.0.1"));
    CHECK(h.port == 1);
    // On-link by the kernel only (no declared subnet holds it): the port its route leaves through.
    k.routes[ip("192.168.50.9")] = ip("192.168.50.9");
    k.route_port[ip("192.168.50.9")] = 1;
    h = ctl::next_hop(c, statics, ip("192.168.50.9"), conf::Forward::dr, &k);
    CHECK(h.ip == ip("192.168.50.9"));
    CHECK(h.port == 1);
    // No route, no subnet: the first port.
    h = ctl::next_hop(c, statics, ip("192.168.60.9"), conf::Forward::dr, &k);
    CHECK(h.port == 0);
    // Without the kernel (replay, check), the config alone.
    h = ctl::next_hop(c, statics, ip("10.1.0.6"), conf::Forward::dr, nullptr);
    CHECK(h.port == 1);
}

TEST_CASE("node addresses: on the interface of the port whose subnet holds them, else the first") {
    conf::Config c = two_ports();
    c.node.ipv4 = ip("10.1.0.10");
    c.node.ipv6 = ip("2001:db8::10");
    auto first = ctl::node_addresses(c, 0);
    auto second = ctl::node_addresses(c, 1);
    REQUIRE(second.size() == 1);
    CHECK(second[0].addr == ip("10.1.0.10"));
    CHECK(second[0].length == 24);
    REQUIRE(first.size() == 1);  // on no subnet: the first port, a host route
    CHECK(first[0].addr == ip("2001:db8::10"));
    CHECK(first[0].length == 128);
    c.node.ipv4 = ip("10.0.0.10");
    first = ctl::node_addresses(c, 0);
    REQUIRE(first.size() == 2);
    CHECK(first[0].length == 24);
    CHECK(ctl::node_addresses(c, 1).empty());
}

TEST_CASE("next hops on several ports: a gateway on no declared subnet stays on the first port") {
    conf::Config c = two_ports();
    c.ports[0].subnets.clear();
    c.gateway_v4 = ip("10.200.0.1");
    c.neighbors.push_back({ip("10.200.0.1"), mac("02:00:00:00:20:01")});
    const auto statics = ctl::static_neighbors(c);
    auto h = ctl::next_hop(c, statics, ip("172.16.5.30"), conf::Forward::ipip, nullptr);
    CHECK(h.ip == ip("10.200.0.1"));
    CHECK(h.port == 0);
    CHECK(h.static_mac);
}

TEST_CASE("build_table: each server's output port; the kernel keeps hops resolved on their port") {
    conf::Config c = two_ports();
    conf::Service s;
    s.name = "web";
    s.vip = ip("192.0.2.10");
    s.port = 80;
    s.table_size = 251;
    s.forward = conf::Forward::dr;
    for (const auto& [host, addr] : {std::pair{"a", "10.0.0.21"}, {"b", "10.1.0.22"}, {"c", "10.9.0.23"}}) {
        conf::RealServer rs;
        rs.host = host;
        rs.ip = ip(addr);
        s.realservers.push_back(rs);
    }
    c.services.push_back(s);
    ctl::CounterSlots slots;
    FakeKernel k;
    k.port_macs[{1, ip("10.1.0.22")}] = mac("02:00:00:01:00:22");
    k.port_macs[{1, ip("10.9.0.23")}] = mac("02:00:00:09:00:23");
    auto built = ctl::build_table(c, slots, 1, {}, nullptr, &k);
    REQUIRE(built.table);
    CHECK(built.unresolved.empty());
    CHECK(built.kernel_hops == std::set<ctl::PortHop>{{1, ip("10.1.0.22")}, {1, ip("10.9.0.23")}});
    const auto& servers = built.table->service(0).servers;
    CHECK(servers[0].port == 0);
    CHECK(servers[0].inline_ok == 1);  // the first port's untagged next hop: the inline path's
    CHECK(servers[1].port == 1);
    CHECK(servers[1].inline_ok == 0);  // another port: the general path, with that port's MAC
    CHECK(servers[1].has_mac == 1);
    CHECK(servers[2].port == 1);
    CHECK(servers[2].vlan == 9);
}

TEST_CASE("build_table: pooled servers without a MAC are listed, the kernel's hops are kept resolved") {
    conf::Config c = base();
    conf::Service s;
    s.name = "web";
    s.vip = ip("192.0.2.10");
    s.port = 80;
    s.table_size = 251;
    s.forward = conf::Forward::dr;
    for (const auto& [host, addr] : {std::pair{"a", "10.0.0.21"}, {"b", "10.0.0.22"}, {"c", "10.0.0.23"}}) {
        conf::RealServer rs;
        rs.host = host;
        rs.ip = ip(addr);
        s.realservers.push_back(rs);
    }
    s.realservers[2].weight = 0;  // drained: takes no new flows, not an alert
    c.services.push_back(s);
    ctl::CounterSlots slots;
    FakeKernel k;
    auto built = ctl::build_table(c, slots, 1, {}, nullptr, &k);
    REQUIRE(built.table);
    REQUIRE(built.unresolved.size() == 1);
    CHECK(built.unresolved[0].host == "b");
    CHECK(built.unresolved[0].hop == ip("10.0.0.22"));
    CHECK(built.kernel_hops == std::set<ctl::PortHop>{{0, ip("10.0.0.22")}, {0, ip("10.0.0.23")}});
    const auto& servers = built.table->service(0).servers;
    CHECK(servers[0].has_mac == 1);
    CHECK(servers[1].has_mac == 0);

    k.macs[ip("10.0.0.22")] = mac("02:00:00:00:00:22");
    built = ctl::build_table(c, slots, 2, {}, nullptr, &k);
    CHECK(built.unresolved.empty());
    REQUIRE(built.table->service(0).servers[1].has_mac == 1);
    CHECK(std::memcmp(built.table->service(0).servers[1].mac, mac("02:00:00:00:00:22").data(), 6) == 0);
}

namespace {

// rtnetlink messages as the kernel sends them.
std::vector<uint8_t> neigh_msg(uint16_t type, int ifindex, const char* addr, const char* lladdr, uint16_t state,
                               bool managed) {
    std::vector<uint8_t> buf(512);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
    const conf::IpAddr a = ip(addr);
    nd->ndm_family = static_cast<uint8_t>(a.family);
    nd->ndm_ifindex = ifindex;
    nd->ndm_state = state;
    mnl_attr_put(nlh, NDA_DST, a.is_v4() ? 4 : 16, a.bytes.data());
    if (lladdr) mnl_attr_put(nlh, NDA_LLADDR, 6, mac(lladdr).data());
    if (managed) mnl_attr_put_u32(nlh, NDA_FLAGS_EXT, NTF_EXT_MANAGED);
    buf.resize(nlh->nlmsg_len);
    return buf;
}

std::vector<uint8_t> route_msg(uint16_t type, const char* dst, int len, const char* gw, int oif, uint32_t metric = 0) {
    std::vector<uint8_t> buf(512);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    auto* rt = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    const conf::IpAddr d = ip(dst);
    rt->rtm_family = static_cast<uint8_t>(d.family);
    rt->rtm_dst_len = static_cast<uint8_t>(len);
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_type = RTN_UNICAST;
    if (len) mnl_attr_put(nlh, RTA_DST, d.is_v4() ? 4 : 16, d.bytes.data());
    if (gw) mnl_attr_put(nlh, RTA_GATEWAY, d.is_v4() ? 4 : 16, ip(gw).bytes.data());
    mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(oif));
    if (metric) mnl_attr_put_u32(nlh, RTA_PRIORITY, metric);
    buf.resize(nlh->nlmsg_len);
    return buf;
}

const nlmsghdr* hdr(const std::vector<uint8_t>& b) { return reinterpret_cast<const nlmsghdr*>(b.data()); }

}  // namespace

TEST_CASE("rtnetlink: neighbour and route messages parse as the kernel sends them") {
    auto n =
        ctl::parse_neighbour(hdr(neigh_msg(RTM_NEWNEIGH, 5, "10.0.0.22", "02:00:00:00:00:22", NUD_REACHABLE, true)));
    REQUIRE(n);
    CHECK_FALSE(n->deleted);
    CHECK(n->ifindex == 5);
    CHECK(n->ip == ip("10.0.0.22"));
    CHECK(n->mac == mac("02:00:00:00:00:22"));
    CHECK(n->managed);
    n = ctl::parse_neighbour(hdr(neigh_msg(RTM_DELNEIGH, 5, "2001:db8::5", nullptr, NUD_FAILED, false)));
    REQUIRE(n);
    CHECK(n->deleted);
    CHECK_FALSE(n->mac);
    CHECK(n->ip == ip("2001:db8::5"));
    // Not a neighbour message.
    CHECK_FALSE(ctl::parse_neighbour(hdr(route_msg(RTM_NEWROUTE, "0.0.0.0", 0, "10.0.0.1", 5))));

    auto r = ctl::parse_route(hdr(route_msg(RTM_NEWROUTE, "172.16.0.0", 12, "10.0.0.2", 5, 100)));
    REQUIRE(r);
    CHECK(r->dst.length == 12);
    CHECK(r->dst.addr == ip("172.16.0.0"));
    CHECK(r->gateway == ip("10.0.0.2"));
    CHECK(r->oif == 5);
    CHECK(r->priority == 100);
    CHECK(r->table == RT_TABLE_MAIN);
    // A truncated message is no message.
    auto cut = route_msg(RTM_NEWROUTE, "172.16.0.0", 12, "10.0.0.2", 5);
    reinterpret_cast<nlmsghdr*>(cut.data())->nlmsg_len = sizeof(nlmsghdr) + 4;
    CHECK_FALSE(ctl::parse_route(hdr(cut)));
}

TEST_CASE("kernel view: routes through our interface by longest prefix; MACs learned, moved, kept") {
    boost::asio::io_context io;
    std::vector<std::string> lines;
    ctl::KernelView kv(io, [&](conf::LogLevel, const std::string& l) { lines.push_back(l); });
    // Not opened: ifindex 0 stands for our interface here; 9 is another.
    const int ours = kv.ifindex(), other = 9;
    kv.handle(hdr(route_msg(RTM_NEWROUTE, "10.0.0.0", 24, nullptr, ours)));
    kv.handle(hdr(route_msg(RTM_NEWROUTE, "0.0.0.0", 0, "10.0.0.1", ours)));
    kv.handle(hdr(route_msg(RTM_NEWROUTE, "172.16.0.0", 12, "192.168.1.1", other)));
    kv.handle(hdr(route_msg(RTM_NEWROUTE, "172.17.0.0", 16, "10.0.0.3", ours, 200)));
    kv.handle(hdr(route_msg(RTM_NEWROUTE, "172.17.0.0", 16, "10.0.0.2", ours, 100)));
    CHECK(kv.route(ip("10.0.0.30")) == ip("10.0.0.30"));    // on-link
    CHECK(kv.route(ip("198.51.100.1")) == ip("10.0.0.1"));  // the default
    CHECK_FALSE(kv.route(ip("172.16.5.5")));                // more specific, through another interface
    CHECK(kv.route(ip("172.17.5.5")) == ip("10.0.0.2"));    // the lower metric
    CHECK_FALSE(kv.route(ip("2001:db8::1")));               // no IPv6 route
    kv.handle(hdr(route_msg(RTM_DELROUTE, "172.17.0.0", 16, "10.0.0.2", ours, 100)));
    CHECK(kv.route(ip("172.17.5.5")) == ip("10.0.0.3"));

    const uint64_t v0 = kv.version();
    kv.handle(hdr(neigh_msg(RTM_NEWNEIGH, ours, "10.0.0.22", "02:00:00:00:00:22", NUD_REACHABLE, true)));
    CHECK(kv.mac(ip("10.0.0.22")) == mac("02:00:00:00:00:22"));
    CHECK(kv.version() == v0);  // not a next hop the tables use
    kv.handle(hdr(neigh_msg(RTM_NEWNEIGH, other, "10.0.0.23", "02:00:00:00:00:23", NUD_REACHABLE, false)));
    CHECK_FALSE(kv.mac(ip("10.0.0.23")));  // another interface's
    // Failing or flushed: the last MAC stays.
    kv.handle(hdr(neigh_msg(RTM_NEWNEIGH, ours, "10.0.0.22", nullptr, NUD_FAILED, true)));
    kv.handle(hdr(neigh_msg(RTM_DELNEIGH, ours, "10.0.0.22", nullptr, NUD_FAILED, true)));
    CHECK(kv.mac(ip("10.0.0.22")) == mac("02:00:00:00:00:22"));
    // A new MAC (a gratuitous ARP) replaces it and is said.
    kv.handle(hdr(neigh_msg(RTM_NEWNEIGH, ours, "10.0.0.22", "02:00:00:00:0b:0b", NUD_STALE, true)));
    CHECK(kv.mac(ip("10.0.0.22")) == mac("02:00:00:00:0b:0b"));
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.back().find("10.0.0.22 moved from 02:00:00:00:00:22 to 02:00:00:00:0b:0b") != std::string::npos);
}
