#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "control/ops/api.h"
#include "control/ops/metrics.h"
#include "control/ops/process_stats.h"
#include "test/unit/bgp/fakes.h"

using namespace tern;
using tern::ctl::HttpRequest;

namespace {

conf::Config config(int servers, double threshold = 0.5) {
    std::string text = R"(
node: {name: t, ipv4: 10.0.0.1}
ports: [{name: p, device: net_null0}]
services:
  - name: text-https
    vip: 192.0.2.1
    port: 443
    depool_threshold: )" +
                       std::to_string(threshold) + R"(
    monitors:
      ProxyFetch: {url: "http://en.wikipedia.org/"}
    realservers:
)";
    for (int i = 1; i <= servers; ++i) {
        text +=
            "      - {host: cp100" + std::to_string(i) + ", ip: 10.0.0." + std::to_string(10 + i) + ", weight: 10}\n";
    }
    text += R"(  - name: dns
    vip: 192.0.2.2
    port: 53
    protocol: udp
    realservers:
      - {host: ns1, ip: 10.0.1.1}
      - {host: ns2, ip: 10.0.1.2}
      - {host: ns3, ip: 10.0.1.3}
      - {host: ns4, ip: 10.0.1.4}
)";
    auto r = conf::load_string(text, "t.yaml");
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE(r.config);
    return *r.config;
}

ctl::HttpResponse get(const ctl::Pools& p, const std::string& target, const std::string& accept = "") {
    return ctl::api_answer(p, HttpRequest{target, accept}, [] { return std::string("m 1\n"); });
}

}  // namespace

TEST_CASE("api: PyBal's /pools, /pools/<p>, /pools/<p>/<host> in text and JSON", "[control][api]") {
    boost::asio::io_context io;
    ctl::Pools pools(io, nullptr);
    REQUIRE_FALSE(pools.apply(config(4)));
    auto r = get(pools, "/pools");
    CHECK(r.status == 200);
    CHECK(r.body == "dns\ntext-https\n");
    r = get(pools, "/pools", "application/json");
    CHECK(r.content_type == "application/json");
    CHECK(nlohmann::json::parse(r.body) == nlohmann::json::array({"dns", "text-https"}));
    r = get(pools, "/pools/text-https");
    CHECK(r.body ==
          "cp1001:\tenabled/up/pooled\ncp1002:\tenabled/up/pooled\ncp1003:\tenabled/up/pooled\n"
          "cp1004:\tenabled/up/pooled\n");
    r = get(pools, "/pools/text-https/cp1002", "text/html, application/json");
    auto j = nlohmann::json::parse(r.body);
    CHECK(j == nlohmann::json{{"pooled", true}, {"weight", 10}, {"up", true}, {"enabled", true}});
    CHECK(get(pools, "/pools/text-https/cp1002").body == "enabled/up/pooled\n");
    r = get(pools, "/pools/nope");
    CHECK(r.status == 404);
    CHECK(r.body == "The desired url was not found");
    CHECK(get(pools, "/pools/text-https/nope", "application/json").body ==
          R"({"error":"The desired url was not found"})");
    CHECK(get(pools, "/elsewhere").status == 404);
    CHECK(get(pools, "/metrics").body == "m 1\n");
}

TEST_CASE("api: /alerts goes through OK, WARNING and CRITICAL as PyBal's does", "[control][api]") {
    boost::asio::io_context io;
    ctl::Pools pools(io, nullptr);
    REQUIRE_FALSE(pools.apply(config(4)));
    CHECK(get(pools, "/alerts").body == "OK - All pools are healthy");
    // One server: 1 < 1 x 0.5 + 1: too small to depool.
    REQUIRE_FALSE(pools.apply(config(1)));
    CHECK(get(pools, "/alerts").body == "WARNING - Pool text-https is too small to allow depooling. ");
    auto j = nlohmann::json::parse(get(pools, "/alerts", "application/json").body);
    CHECK(j["status"] == "warning");
}

TEST_CASE("api: the appliance's own conditions (a stalled lcore) are critical before the pools' warnings",
          "[control][api]") {
    boost::asio::io_context io;
    ctl::Pools pools(io, nullptr);
    REQUIRE_FALSE(pools.apply(config(1)));  // a warning of its own
    const auto r = ctl::api_answer(pools, HttpRequest{"/alerts", ""}, nullptr, {}, {"Worker lcores 2 stall"});
    CHECK(r.body == "CRITICAL - Worker lcores 2 stall");
    CHECK(ctl::alerts(pools, {}, {"a", "b"}).msg == "a; b");
    CHECK(ctl::alerts(pools).status == "warning");
}

TEST_CASE("metrics: each worker lcore's loop counter and whether it is stalled", "[control][api]") {
    const std::string m = ctl::lcore_metrics_text({{1, 100}, {2, 7}}, {2});
    CHECK(m.find("# TYPE tern_lcore_loops_total counter\n") != std::string::npos);
    CHECK(m.find("tern_lcore_loops_total{lcore=\"1\"} 100\n") != std::string::npos);
    CHECK(m.find("tern_lcore_stalled{lcore=\"1\"} 0\n") != std::string::npos);
    CHECK(m.find("tern_lcore_stalled{lcore=\"2\"} 1\n") != std::string::npos);
}

TEST_CASE("metrics: PyBal's service gauges under tern_, escaped labels", "[control][api]") {
    boost::asio::io_context io;
    ctl::Pools pools(io, nullptr);
    REQUIRE_FALSE(pools.apply(config(4)));
    const std::string m = ctl::metrics_text(pools, {}, nullptr, 1024);
    CHECK(m.find("# TYPE tern_service_servers gauge\n") != std::string::npos);
    CHECK(m.find("tern_service_servers{service=\"text-https\"} 4\n") != std::string::npos);
    CHECK(m.find("tern_service_servers_pooled{service=\"dns\"} 4\n") != std::string::npos);
    CHECK(m.find("tern_service_depool_threshold{service=\"text-https\"} 0.5\n") != std::string::npos);
    CHECK(m.find("tern_bgp_enabled 0\n") != std::string::npos);
    CHECK(m.find("tern_flow_table_capacity 1024\n") != std::string::npos);
    // Each family's HELP/TYPE once.
    size_t n = 0;
    for (size_t at = m.find("# TYPE tern_service_servers gauge"); at != std::string::npos;
         at = m.find("# TYPE tern_service_servers gauge", at + 1)) {
        ++n;
    }
    CHECK(n == 1);
    CHECK(ctl::prom_escape("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}

TEST_CASE("metrics: PyBal's names beside Tern's, build info, process, publish histogram", "[control][api]") {
    boost::asio::io_context io;
    ctl::Pools pools(io, nullptr);
    REQUIRE_FALSE(pools.apply(config(4)));
    ctl::PublishTimes t;
    t.add(0.0003);  // the 0.0005 bucket
    t.add(0.002);   // the 0.0025 bucket
    t.add(30);      // above every bound
    const std::string m = ctl::metrics_text(pools, {}, nullptr, 0, {}, &t);
    auto has = [&](const std::string& line) {
        INFO(line);
        CHECK(m.find(line) != std::string::npos);
    };
    // PyBal's own names, types and label (pybal/coordinator.py, bgpfailover.py).
    has("# TYPE pybal_service_servers gauge\n");
    has("pybal_service_servers{service=\"text-https\"} 4\n");
    has("pybal_service_servers_enabled{service=\"dns\"} 4\n");
    has("pybal_service_servers_up{service=\"dns\"} 4\n");
    has("pybal_service_servers_pooled{service=\"dns\"} 4\n");
    has("pybal_service_can_depool{service=\"dns\"} 1\n");
    has("pybal_service_pooled_down_servers{service=\"dns\"} 0\n");
    has("# TYPE pybal_service_could_not_depool_total counter\n");
    has("pybal_service_could_not_depool_total{service=\"dns\"} 0\n");
    has("pybal_service_depool_threshold{service=\"text-https\"} 0.5\n");
    has("# TYPE pybal_bgp_enabled gauge\npybal_bgp_enabled 0\n");
    // Tern's own beside them.
    has("tern_service_servers{service=\"text-https\"} 4\n");
    // Build info and the process.
    has("tern_build_info{version=\"");
    for (const char* p :
         {"process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_virtual_memory_bytes ",
          "process_start_time_seconds ", "process_open_fds ", "process_max_fds "}) {
        has(std::string("\n") + p);
    }
    has("# TYPE process_cpu_seconds_total counter\n");
    // The publish histogram: cumulative buckets, +Inf = count, sum.
    has("# TYPE tern_table_publish_duration_seconds histogram\n");
    has("tern_table_publish_duration_seconds_bucket{le=\"0.0001\"} 0\n");
    has("tern_table_publish_duration_seconds_bucket{le=\"0.0005\"} 1\n");
    has("tern_table_publish_duration_seconds_bucket{le=\"0.0025\"} 2\n");
    has("tern_table_publish_duration_seconds_bucket{le=\"2.5\"} 2\n");
    has("tern_table_publish_duration_seconds_bucket{le=\"+Inf\"} 3\n");
    has("tern_table_publish_duration_seconds_sum 30.002");
    has("tern_table_publish_duration_seconds_count 3\n");
}

TEST_CASE("metrics: PyBal's BGP gauges follow the sessions, active and passive", "[control][api]") {
    using namespace tern::bgp;
    boost::asio::io_context io;
    ctl::Pools pools(io, nullptr);
    fake::FakeClock clock;
    fake::FakeTransport transport;
    SpeakerSettings st;
    st.local_asn = 64600;
    st.router_id = 0x0a400001;
    PeerSettings a;  // we connect
    a.address = *Address::parse("10.64.0.1");
    a.remote_asn = 65000;
    PeerSettings b;  // it connects to us
    b.address = *Address::parse("10.64.0.2");
    b.remote_asn = 65000;
    b.passive = true;
    st.peers = {a, b};
    Speaker sp(st, transport, clock, [](const std::string&) {});
    REQUIRE(sp.start().empty());
    auto up = [](fake::Link& l, uint32_t id) {
        Open o;
        o.asn = 65000;
        o.hold_time = 90;
        o.router_id = id;
        o.caps.multiprotocol = {{kAfiIpv4, kSafiUnicast}};
        o.caps.as4 = 65000;
        l.feed(encode(o));
        l.feed(encode(Keepalive{}));
    };
    std::string m = ctl::metrics_text(pools, {}, &sp);
    CHECK(m.find("pybal_bgp_enabled 1\n") != std::string::npos);
    CHECK(m.find("pybal_bgp_session_established{peer=\"10.64.0.1\",local_asn=\"64600\"} 0\n") != std::string::npos);
    // No connection yet: no addresses to label a state count with.
    CHECK(m.find("pybal_bgp_session_state_count") == std::string::npos);

    auto la = transport.complete(true);
    REQUIRE(la);
    up(*la, 0x0a400101);
    auto [conn, lb] = fake::FakeTransport::incoming(*Address::parse("10.64.0.2"));
    lb->local = *Address::parse("10.64.0.10");
    transport.on_accept(std::move(conn));
    up(*lb, 0x0a400102);
    REQUIRE(sp.sessions()[0]->state() == State::established);
    REQUIRE(sp.sessions()[1]->state() == State::established);
    m = ctl::metrics_text(pools, {}, &sp);
    CHECK(m.find("pybal_bgp_session_established{peer=\"10.64.0.2\",local_asn=\"64600\"} 1\n") != std::string::npos);
    CHECK(m.find("pybal_bgp_session_state_count{local_asn=\"64600\",state=\"ESTABLISHED\",local_ip=\"10.64.0.10\","
                 "remote_ip=\"10.64.0.2\",side=\"passive\"} 1\n") != std::string::npos);
    CHECK(m.find("state=\"OPENCONFIRM\",local_ip=\"10.64.0.10\",remote_ip=\"10.64.0.2\",side=\"passive\"} 0\n") !=
          std::string::npos);
    CHECK(m.find("state=\"ESTABLISHED\",local_ip=\"" + la->local.str() +
                 "\",remote_ip=\"10.64.0.1\",side=\"active\"} 1\n") != std::string::npos);
    // The passive peer resets: Established no more, the labels stay.
    lb->peer_close();
    m = ctl::metrics_text(pools, {}, &sp);
    CHECK(m.find("pybal_bgp_session_established{peer=\"10.64.0.2\",local_asn=\"64600\"} 0\n") != std::string::npos);
    CHECK(m.find("state=\"ESTABLISHED\",local_ip=\"10.64.0.10\",remote_ip=\"10.64.0.2\",side=\"passive\"} 0\n") !=
          std::string::npos);
}

TEST_CASE("process stats: /proc/<pid>/stat parsed as Prometheus' clients read it", "[control][api]") {
    // A comm with spaces and a parenthesis; utime 250, stime 50 ticks;
    // starttime 1000 ticks; vsize 123456789; rss 2000 pages.
    const std::string stat =
        "4242 (tern (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 123456789 2000 "
        "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
    const auto s = ctl::parse_proc_stat(stat, 1700000000, 100, 4096);
    REQUIRE(s);
    CHECK(s->cpu_seconds == Approx(3.0));
    CHECK(s->start_time_s == Approx(1700000010.0));
    CHECK(s->virtual_bytes == 123456789.0);
    CHECK(s->resident_bytes == 2000.0 * 4096);
    CHECK_FALSE(ctl::parse_proc_stat("4242 (tern) S 1 2", 0, 100, 4096));
    CHECK_FALSE(ctl::parse_proc_stat("garbage", 0, 100, 4096));
    // This process: plausible numbers.
    const auto self = ctl::read_process_stats();
    REQUIRE(self);
    CHECK(self->open_fds >= 3);
    CHECK(self->max_fds >= self->open_fds);
    CHECK(self->resident_bytes > 0);
    CHECK(self->start_time_s > 1.6e9);
}

TEST_CASE("pools: serving VIPs (bgp.withdraw_unpooled) need a pooled, enabled server of some weight",
          "[control][api]") {
    boost::asio::io_context io;
    ctl::Pools pools(io, nullptr);
    auto c = config(2);
    REQUIRE_FALSE(pools.apply(c));
    CHECK(pools.serving_vips(c).size() == 2);
    REQUIRE_FALSE(pools.set_enabled("text-https", "cp1001", false));
    CHECK(pools.serving_vips(c).size() == 2);
    REQUIRE_FALSE(pools.set_weight("text-https", "cp1002", 0));
    // No server of text-https can take a flow: its VIP is not served.
    const auto vips = pools.serving_vips(c);
    CHECK(vips.size() == 1);
    CHECK(vips.count(*conf::IpAddr::parse("192.0.2.2")) == 1);
}
