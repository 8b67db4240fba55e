// What a reload changes: the classification of every key (control/config/config_diff.h).
#include "control/config/config_diff.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace tern;

namespace {

const char* kConf = R"(node: {name: lb1, ipv4: 10.64.0.10}
ports: [{name: uplink, device: net_null0, mtu: 1500}]
flows: {size: 1024, timeouts: {established: 900, udp: 300}}
log: {level: info}
http: {port: 9090}
bgp:
  local_asn: 64600
  med: 10
  peers:
    - {address: 10.64.0.1, asn: 64601}
    - {address: 10.64.0.2, asn: 64602, password: s3cret}
services:
  - {name: a, vip: 198.35.26.96, port: 443, realservers: [{host: rs1, ip: 10.64.0.21}]}
)";

std::string with(std::string s, const std::string& from, const std::string& to) {
    auto pos = s.find(from);
    REQUIRE(pos != std::string::npos);
    s.replace(pos, from.size(), to);
    return s;
}

conf::Config load(const std::string& text) {
    auto r = conf::load_string(text, "t.yaml");
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE(r.config);
    return *r.config;
}

ctl::ConfigDiff diff_to(const std::string& text) { return ctl::diff_config(load(kConf), load(text)); }

std::map<std::string, ctl::Takes> by_path(const ctl::ConfigDiff& d) {
    std::map<std::string, ctl::Takes> out;
    for (const auto& c : d.changes) out[c.path] = c.takes;
    return out;
}

}  // namespace

TEST_CASE("config diff: the diff compares exactly the classified keys", "[reload]") {
    std::set<std::string> rules, compared;
    for (const auto& r : ctl::key_rules()) {
        INFO(r.path);
        CHECK(rules.insert(std::string(r.path)).second);  // once each
    }
    for (const auto& k : ctl::compared_keys()) compared.insert(k);
    for (const auto& k : compared) {
        INFO("compared but not classified: " << k);
        CHECK(rules.count(k) == 1);
    }
    for (const auto& k : rules) {
        INFO("classified but never compared: " << k);
        CHECK(compared.count(k) == 1);
    }
}

TEST_CASE("config diff: conf/REFERENCE.md's reload table says the same", "[reload]") {
    std::ifstream in(TERN_SOURCE_ROOT "/conf/REFERENCE.md");
    REQUIRE(in);
    // Lines of the "## Reload" section: | `key` | live | ... / | `key` | restart | ...
    std::map<std::string, std::string> doc;
    std::string line;
    bool in_section = false;
    while (std::getline(in, line)) {
        if (line.starts_with("## ")) in_section = line.starts_with("## Reload");
        if (!in_section || !line.starts_with("| `")) continue;
        const auto end = line.find('`', 3);
        const auto cell = line.find('|', end);
        const auto cell_end = line.find('|', cell + 1);
        REQUIRE(cell_end != std::string::npos);
        std::string takes = line.substr(cell + 1, cell_end - cell - 1);
        takes.erase(0, takes.find_first_not_of(' '));
        takes.erase(takes.find_last_not_of(' ') + 1);
        doc[line.substr(3, end - 3)] = takes;
    }
    REQUIRE(!doc.empty());
    for (const auto& r : ctl::key_rules()) {
        INFO(r.path);
        REQUIRE(doc.count(std::string(r.path)) == 1);
        CHECK(doc[std::string(r.path)] == (r.takes == ctl::Takes::live ? "live" : "restart"));
    }
    CHECK(doc.size() == ctl::key_rules().size());
}

TEST_CASE("config diff: the same config changes nothing", "[reload]") {
    auto d = diff_to(kConf);
    CHECK(d.empty());
    CHECK(d.text() == "no change");
}

TEST_CASE("config diff: live keys and restart keys", "[reload]") {
    SECTION("a timeout, the log level and the http port apply live") {
        auto d = diff_to(with(with(with(kConf, "established: 900", "established: 300"), "level: info", "level: debug"),
                              "port: 9090", "port: 9191"));
        auto m = by_path(d);
        REQUIRE(m.size() == 3);
        CHECK(m["flows.timeouts.established"] == ctl::Takes::live);
        CHECK(m["log.level"] == ctl::Takes::live);
        CHECK(m["http.port"] == ctl::Takes::live);
        CHECK(d.restart().empty());
        CHECK(d.touches("flows.timeouts"));
        CHECK(d.touches("http"));
        CHECK_FALSE(d.touches("bgp"));
        CHECK(d.text() ==
              "flows.timeouts.established 900 -> 300 applied; http.port 9090 -> 9191 applied; "
              "log.level info -> debug applied");
    }
    SECTION("ports, flows.size and node.name need a restart") {
        auto d = diff_to(with(with(with(kConf, "device: net_null0", "device: net_null1"), "size: 1024", "size: 2048"),
                              "name: lb1", "name: lb2"));
        auto m = by_path(d);
        REQUIRE(m.size() == 3);
        CHECK(m["ports[0].device"] == ctl::Takes::restart);
        CHECK(m["flows.size"] == ctl::Takes::restart);
        CHECK(m["node.name"] == ctl::Takes::restart);
        CHECK(d.live().empty());
        CHECK(d.text().find("ports[0].device net_null0 -> net_null1: takes effect at the next restart") !=
              std::string::npos);
    }
    SECTION("bgp appearing or going needs a restart") {
        std::string text = kConf;
        text.erase(text.find("bgp:"), text.find("services:") - text.find("bgp:"));
        auto d = diff_to(text);
        REQUIRE(d.changes.size() == 1);
        CHECK(d.changes[0].path == "bgp");
        CHECK(d.changes[0].what == "removed");
        CHECK(d.changes[0].takes == ctl::Takes::restart);
    }
    SECTION("a service added applies live") {
        auto d = diff_to(std::string(kConf) + "  - {name: b, vip: 198.35.26.97, port: 80, realservers: []}\n");
        REQUIRE(d.changes.size() == 1);
        CHECK(d.changes[0].path == "services[1]");
        CHECK(d.changes[0].what == "(b) added");
        CHECK(d.changes[0].takes == ctl::Takes::live);
    }
}

TEST_CASE("config diff: bgp peers are matched by address", "[reload]") {
    SECTION("one added, one removed, one changed; passwords are never shown") {
        auto d = diff_to(with(with(kConf, "{address: 10.64.0.1, asn: 64601}", "{address: 10.64.0.3, asn: 64603}"),
                              "password: s3cret", "password: other"));
        REQUIRE(d.changes.size() == 3);  // 10.64.0.1 removed (old index 0), 10.64.0.3 added (new index 0)
        auto m = by_path(d);
        CHECK(m["bgp.peers[1].password"] == ctl::Takes::live);
        CHECK(d.text().find("s3cret") == std::string::npos);
        CHECK(d.text().find("other") == std::string::npos);
        CHECK(d.text().find("bgp.peers[0] (10.64.0.1) removed; ") != std::string::npos);
        CHECK(d.text().find("bgp.peers[0] (10.64.0.3) added; ") != std::string::npos);
    }
    SECTION("reordered peers are no change") {
        const std::string p1 = "    - {address: 10.64.0.1, asn: 64601}\n";
        const std::string p2 = "    - {address: 10.64.0.2, asn: 64602, password: s3cret}\n";
        auto d = diff_to(with(kConf, p1 + p2, p2 + p1));
        CHECK(d.empty());
    }
    SECTION("med and hold time") {
        auto d =
            diff_to(with(with(kConf, "med: 10", "med: 20"), "local_asn: 64600", "local_asn: 64600\n  hold_time: 30"));
        CHECK(d.text() == "bgp.med 10 -> 20 applied; bgp.hold_time 90 -> 30 applied");
    }
}
