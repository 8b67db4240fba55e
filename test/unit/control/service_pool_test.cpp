#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "control/state/service_pool.h"

using namespace tern;
using tern::ctl::ServicePool;

namespace {

std::vector<conf::RealServer> servers(int n, int disabled = 0) {
    std::vector<conf::RealServer> out;
    for (int i = 0; i < n; ++i) {
        conf::RealServer rs;
        rs.host = fmt::format("cp{}", 1001 + i);
        rs.ip = *conf::IpAddr::parse(fmt::format("10.0.0.{}", 1 + i));
        rs.weight = 10;
        rs.enabled = i >= n - disabled ? false : true;
        out.push_back(rs);
    }
    return out;
}

struct Logged {
    std::vector<std::string> lines;
    bool has(const std::string& fragment) const {
        for (const auto& l : lines) {
            if (l.find(fragment) != std::string::npos) return true;
        }
        return false;
    }
};

}  // namespace

TEST_CASE("service pool: N=10, T=0.5: the sixth failing server stays pooled", "[control][pool]") {
    Logged log;
    ServicePool p("text", 0.5, {"ProxyFetch"},
                  [&](tern::conf::LogLevel, const std::string& l) { log.lines.push_back(l); });
    p.set_servers(servers(10));
    for (const auto& [h, s] : p.servers()) {
        CHECK(s.pooled);
        CHECK(s.text_status() == "enabled/up/pooled");
    }
    for (int i = 0; i < 5; ++i) {
        p.monitor_result(fmt::format("cp{}", 1001 + i), 0, false, "500 Internal Server Error");
        CHECK_FALSE(p.server(fmt::format("cp{}", 1001 + i))->pooled);
    }
    CHECK(log.has(
        "Monitoring instance ProxyFetch reports server cp1001 (enabled/up/pooled) down: 500 Internal Server Error"));
    CHECK(p.can_depool());  // 5 up of 10
    p.monitor_result("cp1006", 0, false, "timeout");
    const auto* s6 = p.server("cp1006");
    CHECK(s6->pooled);
    CHECK_FALSE(s6->up);
    CHECK(s6->text_status() == "enabled/down/pooled");
    CHECK(p.pooled_down() == std::vector<std::string>{"cp1006"});
    CHECK(log.has("Could not depool server cp1006 because of too many down!"));
    CHECK(p.could_not_depool() == 1);
    CHECK_FALSE(p.can_depool());
    p.monitor_result("cp1007", 0, false, "timeout");
    CHECK(p.server("cp1007")->pooled);
    CHECK(p.pooled_down() == std::vector<std::string>{"cp1006", "cp1007"});

    SECTION("recovery: a depooled server back lets the oldest pooled-but-down go") {
        p.monitor_result("cp1001", 0, true, "200 OK");
        CHECK(p.server("cp1001")->pooled);
        CHECK(p.server("cp1001")->up);
        // Up: cp1008..cp1010 and cp1001, 4 < 5: nothing moves yet.
        CHECK(p.pooled_down().size() == 2);
        CHECK(p.server("cp1006")->pooled);
        p.monitor_result("cp1002", 0, true, "200 OK");
        // 5 up of 10: the kept servers go (depooling a down server leaves
        // the up count as it is, so both may).
        CHECK_FALSE(p.server("cp1006")->pooled);
        CHECK_FALSE(p.server("cp1007")->pooled);
        CHECK(p.pooled_down().empty());
    }
    SECTION("a pooled-but-down server that recovers is simply left pooled") {
        p.monitor_result("cp1006", 0, true, "200 OK");
        CHECK(p.server("cp1006")->pooled);
        CHECK(p.server("cp1006")->up);
        CHECK(log.has("Leaving previously pooled but down server cp1006 pooled"));
        // 4 up of 10: cp1007 stays pooled.
        CHECK(p.server("cp1007")->pooled);
        CHECK(p.pooled_down() == std::vector<std::string>{"cp1007"});
    }
}

TEST_CASE("service pool: disabled servers count in N", "[control][pool]") {
    ServicePool p("text", 0.5, {"ProxyFetch"}, nullptr);
    p.set_servers(servers(10, 2));  // 8 enabled, 2 disabled
    CHECK_FALSE(p.server("cp1010")->pooled);
    CHECK(p.server("cp1010")->text_status() == "disabled/up/not pooled");
    for (int i = 0; i < 3; ++i) p.monitor_result(fmt::format("cp{}", 1001 + i), 0, false, "x");
    for (int i = 0; i < 3; ++i) CHECK_FALSE(p.server(fmt::format("cp{}", 1001 + i))->pooled);
    // 5 up and enabled of 10: the next one stays.
    p.monitor_result("cp1004", 0, false, "x");
    CHECK(p.server("cp1004")->pooled);
}

TEST_CASE("service pool: inactive servers (not in the pool) don't count", "[control][pool]") {
    ServicePool p("text", 0.5, {"ProxyFetch"}, nullptr);
    p.set_servers(servers(8));  // 2 more are inactive in conftool: absent here
    for (int i = 0; i < 4; ++i) p.monitor_result(fmt::format("cp{}", 1001 + i), 0, false, "x");
    for (int i = 0; i < 4; ++i) CHECK_FALSE(p.server(fmt::format("cp{}", 1001 + i))->pooled);
    p.monitor_result("cp1005", 0, false, "x");
    CHECK(p.server("cp1005")->pooled);
}

TEST_CASE("service pool: a server is up only when all its monitors are", "[control][pool]") {
    ServicePool p("text", 0.5, {"ProxyFetch", "IdleConnection"}, nullptr);
    p.set_servers(servers(4));
    p.monitor_result("cp1001", 1, false, "Connection refused");
    CHECK(p.server("cp1001")->text_status() == "enabled/down/not pooled");
    p.monitor_result("cp1001", 0, true, "ok");
    // One of two monitors up: partially up, still out.
    CHECK(p.server("cp1001")->text_status() == "enabled/partially up/not pooled");
    p.monitor_result("cp1001", 1, true, "ok");
    CHECK(p.server("cp1001")->text_status() == "enabled/up/pooled");
}

TEST_CASE("service pool: pool changes keep the health of servers that stay", "[control][pool]") {
    Logged log;
    ServicePool p("text", 0.5, {"ProxyFetch"},
                  [&](tern::conf::LogLevel, const std::string& l) { log.lines.push_back(l); });
    p.set_servers(servers(4));
    p.monitor_result("cp1001", 0, false, "x");
    REQUIRE_FALSE(p.server("cp1001")->pooled);
    auto next = servers(5);
    next[1].weight = 20;
    next[2].enabled = false;
    p.set_servers(next);
    CHECK_FALSE(p.server("cp1001")->up);
    CHECK_FALSE(p.server("cp1001")->pooled);
    CHECK(p.server("cp1002")->weight == 20);
    CHECK(p.server("cp1003")->text_status() == "disabled/up/not pooled");
    CHECK(p.server("cp1005")->pooled);
    CHECK(log.has("New enabled server cp1005, weight 10"));
    CHECK(log.has("Merged enabled server cp1002, weight 20"));
    // Gone from the pool: forgotten.
    p.set_servers(servers(3));
    CHECK(p.server("cp1005") == nullptr);
    CHECK(log.has("Removing server cp1005 (no longer found in new configuration)"));
    // Enabled again while up: pooled again.
    p.set_servers(servers(3));
    CHECK(p.server("cp1003")->pooled);
}

TEST_CASE("service pool: disabling a pooled-but-down server takes it out", "[control][pool]") {
    ServicePool p("text", 0.5, {"ProxyFetch"}, nullptr);
    p.set_servers(servers(2));
    p.monitor_result("cp1001", 0, false, "x");  // 1 of 2 up: 1 >= 1, depooled
    p.monitor_result("cp1002", 0, false, "x");  // 0 of 2: kept
    REQUIRE(p.server("cp1002")->pooled);
    auto next = servers(2);
    next[1].enabled = false;
    p.set_servers(next);
    CHECK_FALSE(p.server("cp1002")->pooled);
    CHECK(p.pooled_down().empty());
}

TEST_CASE("service pool: threshold 0 depools everything, 1 keeps any failing server", "[control][pool]") {
    ServicePool zero("a", 0.0, {"UDP"}, nullptr);
    zero.set_servers(servers(3));
    for (int i = 0; i < 3; ++i) zero.monitor_result(fmt::format("cp{}", 1001 + i), 0, false, "x");
    for (const auto& [h, s] : zero.servers()) CHECK_FALSE(s.pooled);
    ServicePool one("b", 1.0, {"UDP"}, nullptr);
    one.set_servers(servers(3));
    one.monitor_result("cp1001", 0, false, "x");
    CHECK(one.server("cp1001")->pooled);
}
