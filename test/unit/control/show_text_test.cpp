// The console's texts that other tools' users read by eye and by script:
// show services as ipvsadm -Ln prints it, byte for byte; show connections
// as ipvsadm -Lnc.
#include "control/ops/show_text.h"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <cstring>
#include <string>
#include <vector>

#include "control/state/pools.h"
#include "control/state/table_builder.h"
#include "dataplane/flow_table.h"

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

TEST_CASE("show connections: ipvsadm -Lnc's layout", "[control]") {
    auto r = conf::load_string(
        "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
        "services:\n"
        "  - {name: web, vip: 192.0.2.1, port: 80, realservers: [{host: rs1, ip: 10.0.0.21}]}\n"
        "  - {name: dns6, vip: '2001:db8::53', port: 53, protocol: udp, realservers: [{host: n1, ip: '2001:db8::11'}]}\n",
        "t.yaml");
    REQUIRE(r.config);
    ctl::CounterSlots slots;
    uint32_t web_slot = 0, dns_slot = 0;
    REQUIRE(slots.server("web", "rs1", web_slot));
    REQUIRE(slots.server("dns6", "n1", dns_slot));
    auto flow = [](const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t proto, uint32_t slot,
                   dp::ConnState state, uint32_t expires) {
        dp::FlowSample f{0, {}, state, expires};
        const auto s = *conf::IpAddr::parse(src), d = *conf::IpAddr::parse(dst);
        f.entry.key.family = s.is_v4() ? 4 : 6;
        std::memcpy(f.entry.key.src, s.bytes.data(), 16);
        std::memcpy(f.entry.key.dst, d.bytes.data(), 16);
        f.entry.key.sport = htons(sport);
        f.entry.key.dport = htons(dport);
        f.entry.key.proto = proto;
        f.entry.server_slot = slot;
        return f;
    };
    const std::vector<dp::FlowSample> flows = {
        flow("198.51.100.7", 40000, "192.0.2.1", 80, 6, web_slot, dp::ConnState::established, 1000 + 898),
        flow("2001:db8:c::9", 5353, "2001:db8::53", 53, 17, dns_slot, dp::ConnState::udp, 1000 + 61),
        flow("198.51.100.8", 40001, "192.0.2.1", 80, 6, web_slot, dp::ConnState::fin_wait, 999)};
    CHECK(ctl::connections_text(flows, slots, *r.config, 1000) ==
          "IPVS connection entries\n"
          "pro expire state       source             virtual            destination\n"
          "TCP 14:58  ESTABLISHED 198.51.100.7:40000 192.0.2.1:80       10.0.0.21:80\n"
          "UDP 01:01  UDP         [2001:db8:c::9]:5353 [2001:db8::53]:53  [2001:db8::11]:53\n"
          "TCP 00:00  FIN_WAIT    198.51.100.8:40001 192.0.2.1:80       10.0.0.21:80\n");
}

TEST_CASE("show services stats and rate: ipvsadm --stats and --rate", "[control]") {
    auto r = conf::load_string(
        "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
        "services:\n"
        "  - {name: web, vip: 192.0.2.1, port: 80, realservers: [{host: rs1, ip: 10.0.0.21}, "
        "{host: rs2, ip: 10.0.0.22}]}\n",
        "t.yaml");
    REQUIRE(r.config);
    boost::asio::io_context io;
    ctl::Pools pools(
        io, [](conf::LogLevel, const std::string&) {}, false);
    REQUIRE_FALSE(pools.apply(*r.config));
    auto snapshot = [](uint64_t conns1, uint64_t pk1, uint64_t by1, uint64_t conns2, uint64_t pk2, uint64_t by2) {
        ctl::Stats st;
        st.flow_capacity = 1024;
        ctl::ServiceStats web;
        web.name = "web";
        ctl::ServerStats a, b;
        a.host = "rs1";
        a.conns = conns1;
        a.packets = pk1;
        a.bytes = by1;
        b.host = "rs2";
        b.conns = conns2;
        b.packets = pk2;
        b.bytes = by2;
        web.servers = {a, b};
        web.conns = conns1 + conns2;
        web.packets = pk1 + pk2;
        web.bytes = by1 + by2;
        st.services.push_back(web);
        return st;
    };
    const ctl::Stats then = snapshot(10, 100, 6000, 0, 0, 0);
    const ctl::Stats now = snapshot(30, 300, 123456789012ull, 4, 8, 480);
    // print_largenum: 9 columns, then K, M, G past 10^8, 10^9, 10^11.
    CHECK(ctl::ipvsadm_stats_text(*r.config, now, pools, "") ==
          "IP Virtual Server version 1.2.1 (size=1024)\n"
          "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n"
          "  -> RemoteAddress:Port\n"
          "TCP  192.0.2.1:80                       34      308        0     123G        0\n"
          "  -> 10.0.0.21:80                       30      300        0     123G        0\n"
          "  -> 10.0.0.22:80                        4        8        0      480        0\n");
    // Per second over 2 s; a server's CPS, InPPS and OutPPS as plain %8u.
    CHECK(ctl::ipvsadm_rate_text(*r.config, now, then, 2.0, pools, "") ==
          "IP Virtual Server version 1.2.1 (size=1024)\n"
          "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n"
          "  -> RemoteAddress:Port\n"
          "TCP  192.0.2.1:80                       12      104        0   61728M        0\n"
          "  -> 10.0.0.21:80                       10      100        0   61728M        0\n"
          "  -> 10.0.0.22:80                        2        4        0      240        0\n");
}

TEST_CASE("show port stats all: testpmd's block, throughput since the last show", "[control]") {
    ctl::PortStats now;
    now.id = 0;
    now.rx_packets = 6238955584;
    now.rx_bytes = 399293161472;
    now.tx_packets = 42;
    now.tx_bytes = 4200;
    now.rx_missed = 3;
    now.rx_errors = 1;
    now.tx_errors = 2;
    const std::string head =
        "\n  ######################## NIC statistics for port 0  ########################\n"
        "  RX-packets: 6238955584 RX-missed: 3          RX-bytes:  399293161472\n"
        "  RX-errors: 1\n"
        "  RX-nombuf:  0         \n"
        "  TX-packets: 42         TX-errors: 2          TX-bytes:  4200\n"
        "\n  Throughput (since last show)\n";
    const std::string tail = "  ############################################################################\n";
    // The first show has nothing to compare with.
    CHECK(ctl::testpmd_port_stats_text(now, nullptr, 0) ==
          head +
              "  Rx-pps:            0          Rx-bps:            0\n"
              "  Tx-pps:            0          Tx-bps:            0\n" +
              tail);
    ctl::PortStats before = now;
    before.rx_packets -= 2000;
    before.rx_bytes -= 128000;
    CHECK(ctl::testpmd_port_stats_text(now, &before, 2.0) ==
          head +
              "  Rx-pps:         1000          Rx-bps:       512000\n"
              "  Tx-pps:            0          Tx-bps:            0\n" +
              tail);
}
