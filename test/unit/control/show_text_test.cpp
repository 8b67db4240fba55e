// The console's texts that other tools' users read by eye and by script:
// show services as ipvsadm -Ln prints it, byte for byte.
#include "control/ops/show_text.h"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <string>

#include "control/state/pools.h"

using namespace tern;

TEST_CASE("show services: ipvsadm -Ln's lines, padding and order", "[control]") {
    auto r = conf::load_string(
        "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
        "services:\n"
        "  - {name: dns6, vip: '2001:db8::53', port: 53, protocol: udp, realservers: [{host: n1, ip: '2001:db8::11'}]}\n"
        "  - {name: dns, vip: 192.0.2.53, port: 53, protocol: udp, scheduler: sh,\n"
        "     realservers: [{host: d1, ip: 10.0.0.31}]}\n"
        "  - name: web\n    vip: 192.0.2.1\n    port: 80\n    scheduler: wrr\n    forward: ipip\n"
        "    realservers:\n"
        "      - {host: rs2, ip: 10.0.0.22, weight: 2}\n"
        "      - {host: rs1, ip: 10.0.0.21, weight: 3}\n"
        "      - {host: rs3, ip: 10.0.0.9, weight: 1, enabled: false}\n"
        "  - {name: api, vip: 192.0.2.1, port: 443, realservers: [{host: a1, ip: 10.0.0.41}]}\n",
        "t.yaml");
    REQUIRE(r.config);
    boost::asio::io_context io;
    ctl::Pools pools(
        io, [](conf::LogLevel, const std::string&) {}, false);
    REQUIRE_FALSE(pools.apply(*r.config));
    ctl::Stats stats;
    stats.flow_capacity = 4096;
    ctl::ServiceStats web;
    web.name = "web";
    ctl::ServerStats rs1;
    rs1.host = "rs1";
    rs1.active_conns = 12;
    rs1.inactive_conns = 3;
    web.servers.push_back(rs1);
    stats.services.push_back(web);
    // IPv4 before IPv6, TCP before UDP, then address and port; servers by
    // address; every column padded as ipvsadm's printf pads it, the last too.
    const std::string want =
        "IP Virtual Server version 1.2.1 (size=4096)\n"
        "Prot LocalAddress:Port Scheduler Flags\n"
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        "TCP  192.0.2.1:80 wrr\n"
        "  -> 10.0.0.9:80                  Tunnel  0      0          0         \n"
        "  -> 10.0.0.21:80                 Tunnel  3      12         3         \n"
        "  -> 10.0.0.22:80                 Tunnel  2      0          0         \n"
        "TCP  192.0.2.1:443 mh\n"
        "  -> 10.0.0.41:443                Route   1      0          0         \n"
        "UDP  192.0.2.53:53 sh\n"
        "  -> 10.0.0.31:53                 Route   1      0          0         \n"
        "UDP  [2001:db8::53]:53 mh\n"
        "  -> [2001:db8::11]:53            Route   1      0          0         \n";
    CHECK(ctl::ipvsadm_text(*r.config, stats, pools, "") == want);
    // One service, as `ipvsadm -Ln -t 192.0.2.1:443`: no version line.
    CHECK(ctl::ipvsadm_text(*r.config, stats, pools, "api") ==
          "Prot LocalAddress:Port Scheduler Flags\n"
          "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
          "TCP  192.0.2.1:443 mh\n"
          "  -> 10.0.0.41:443                Route   1      0          0         \n");
}
