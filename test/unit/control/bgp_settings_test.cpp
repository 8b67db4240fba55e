// The bgp: config keys (conf/) and their mapping to the speaker's settings (control/bgp_settings).
#include "control/config/bgp_settings.h"

#include <catch2/catch.hpp>

using namespace tern;

namespace {

const char* kConf = R"(node: {name: lb1, ipv4: 10.64.0.10, ipv6: "2620:0:860:101::10"}
ports: [{name: uplink, device: net_null0}]
bgp:
  local_asn: 4200000001
  med: 10
  router_id: 10.64.0.99
  hold_time: 30
  connect_retry: 2
  as_path_prepend: 2
  next_hop_v4: 10.64.0.11
  communities: ["14907:7", "65535:65281"]
  large_communities: ["64600:1:2"]
  listen_port: 1179
  peers:
    - {address: 10.64.0.1, asn: 14907, password: s3cret, ttl_security: true, hold_time: 9}
    - {address: "2620:0:860:101::1", asn: 14907, port: 1790, passive: true, connect_retry: 7}
services:
  - {name: a, vip: 198.35.26.96, port: 443, bgp_med: 100, realservers: []}
  - {name: b, vip: 198.35.26.96, port: 80, bgp_med: 100, realservers: []}
  - {name: c, vip: "2620:0:862:ed1a::1", port: 443, realservers: []}
)";

std::string with(const std::string& from, const std::string& to) {
    std::string s = kConf;
    auto pos = s.find(from);
    REQUIRE(pos != std::string::npos);
    s.replace(pos, from.size(), to);
    return s;
}

void one_error(const std::string& text, const std::string& path, const std::string& fragment) {
    auto r = conf::load_string(text, "t.yaml");
    INFO(text);
    REQUIRE(r.errors.size() == 1);
    INFO(r.errors[0].str());
    CHECK(r.errors[0].path == path);
    CHECK(r.errors[0].message.find(fragment) != std::string::npos);
    CHECK(r.errors[0].line > 0);
}

}  // namespace

TEST_CASE("bgp settings: every key reaches the speaker", "[bgp][conf]") {
    auto r = conf::load_string(kConf, "t.yaml");
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE(r.config);
    auto s = ctl::speaker_settings(*r.config);
    CHECK(s.local_asn == 4200000001u);
    CHECK(s.router_id == 0x0a400063);
    CHECK(s.next_hop_v4->str() == "10.64.0.11");
    CHECK(s.next_hop_v6->str() == "2620:0:860:101::10");  // node.ipv6
    CHECK(s.communities == std::vector<uint32_t>{(14907u << 16) | 7, 0xffffff01});
    REQUIRE(s.large_communities.size() == 1);
    CHECK(s.large_communities[0].local2 == 2);
    CHECK(s.as_path_prepend == 2);
    CHECK(s.listen_port == 1179);
    REQUIRE(s.peers.size() == 2);
    CHECK(s.peers[0].hold_time == 9);
    CHECK(s.peers[0].connect_retry == 2);
    CHECK(s.peers[0].socket.md5_password == "s3cret");
    CHECK(s.peers[0].socket.ttl_security);
    CHECK(s.peers[1].hold_time == 30);
    CHECK(s.peers[1].port == 1790);
    CHECK(s.peers[1].passive);
    CHECK(s.peers[1].connect_retry == 7);
    auto routes = ctl::vip_routes(*r.config);
    REQUIRE(routes.size() == 2);
    CHECK(routes[0].prefix.str() == "198.35.26.96/32");
    CHECK(routes[0].med == 100);
    CHECK(routes[1].prefix.str() == "2620:0:862:ed1a::1/128");
    CHECK(routes[1].med == 10);
}

TEST_CASE("bgp settings: errors name the key", "[bgp][conf]") {
    SECTION("services of one VIP disagree on the MED") {
        one_error(with("port: 80, bgp_med: 100", "port: 80, bgp_med: 5"), "services[1].bgp_med", "one MED");
    }
    SECTION("one service of a VIP falls back to bgp.med") {
        one_error(with("port: 80, bgp_med: 100", "port: 80"), "services[1].bgp_med", "gives 10");
    }
    SECTION("hold time 2") { one_error(with("hold_time: 30", "hold_time: 2"), "bgp.hold_time", "at least 3"); }
    SECTION("bad community") {
        one_error(with("\"14907:7\"", "\"14907:70000\""), "bgp.communities[0]", "not a community");
    }
    SECTION("bad large community") {
        one_error(with("\"64600:1:2\"", "\"64600:1\""), "bgp.large_communities[0]", "large community");
    }
    SECTION("long password") {
        one_error(with("password: s3cret", "password: " + std::string(81, 'x')), "bgp.peers[0].password", "1 to 80");
    }
    SECTION("passive without listening") {
        one_error(with("listen_port: 1179", "listen: false"), "bgp.peers[1].passive", "bgp.listen");
    }
    SECTION("IPv6 VIP without an IPv6 next hop") {
        one_error(with(", ipv6: \"2620:0:860:101::10\"", ""), "bgp.next_hop_v6", "IPv6 next hop");
    }
    SECTION("unknown peer key") {
        one_error(with("ttl_security: true", "ttl_securty: true"), "bgp.peers[0].ttl_securty", "ttl_security");
    }
}
