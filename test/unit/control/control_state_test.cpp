#include "control/state/control_state.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "test/unit/eal_env.h"

using namespace tern;

namespace {

conf::Config four_servers(const std::string& grace = "0") {
    auto r = conf::load_string(
        "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
        "neighbors: [{ip: 10.0.0.21, mac: '02:00:00:00:00:21'}, {ip: 10.0.0.22, mac: '02:00:00:00:00:22'},"
        " {ip: 10.0.0.23, mac: '02:00:00:00:00:23'}, {ip: 10.0.0.24, mac: '02:00:00:00:00:24'}]\n"
        "services:\n  - name: web\n    vip: 192.0.2.1\n    port: 80\n    depool_threshold: 0.5\n"
        "    removed_server_grace: " +
            grace +
            "\n    realservers:\n"
            "      - {host: rs1, ip: 10.0.0.21}\n      - {host: rs2, ip: 10.0.0.22}\n"
            "      - {host: rs3, ip: 10.0.0.23}\n      - {host: rs4, ip: 10.0.0.24}\n",
        "t.yaml");
    REQUIRE(r.config);
    return *r.config;
}

const conf::RealServer* server(const conf::Config& c, const std::string& host) {
    for (const auto& rs : c.services.at(0).realservers) {
        if (rs.host == host) return &rs;
    }
    return nullptr;
}

// A state that builds no tables (as replay's planning copy).
struct Fixture {
    boost::asio::io_context io;
    std::vector<std::string> lines;
    ctl::ControlState st{io,
                         [this](conf::LogLevel, const std::string& line) { lines.push_back(line); },
                         nullptr,
                         {.pool_sources = false}};
};

}  // namespace

TEST_CASE("control state: every override names the bad input", "[control]") {
    Fixture f;
    REQUIRE_FALSE(f.st.apply(four_servers(), 0));
    CHECK(f.st.set_weight("web", "rs9", 5).value() == "service 'web' has no server 'rs9'");
    CHECK(f.st.set_weight("nope", "rs1", 5).value() == "no service named 'nope'");
    CHECK(f.st.set_enabled("", "rs9", false).value() == "no service has a server 'rs9'");
    CHECK(f.st.set_down("web", "rs9", true).value() == "service 'web' has no server 'rs9'");
    CHECK(f.st.set_weight("web", "rs1", 70000).value() == "weight 70000 is not between 0 and 65535");
    CHECK_FALSE(f.st.set_weight("web", "rs1", 7));
    CHECK_FALSE(f.st.set_enabled("", "rs2", false));
    CHECK_FALSE(f.st.publish(0));
    const conf::Config c = f.st.effective();
    CHECK(server(c, "rs1")->weight == 7);
    CHECK_FALSE(server(c, "rs2")->enabled);
    CHECK(f.st.down().empty());  // disabled is drained, not down
    CHECK(f.st.overridden("web", "rs1"));
}

TEST_CASE("control state: down by hand obeys the depool threshold", "[control]") {
    Fixture f;
    REQUIRE_FALSE(f.st.apply(four_servers(), 0));
    REQUIRE_FALSE(f.st.publish(0));
    for (const char* h : {"rs1", "rs2", "rs3"}) REQUIRE_FALSE(f.st.set_down("web", h, true));
    REQUIRE_FALSE(f.st.publish(0));
    // 0.5 x 4: two may leave; the third stays pooled.
    CHECK(f.st.down() == std::set<ctl::ServerId>{{"web", "rs1"}, {"web", "rs2"}});
    CHECK(f.st.pools().services().at("web").pooled_down() == std::vector<std::string>{"rs3"});
    bool said = false;
    for (const auto& l : f.lines) said = said || l.find("Could not depool server rs3") != std::string::npos;
    CHECK(said);
    // rs1 back: it is repooled and rs3 goes at last.
    REQUIRE_FALSE(f.st.set_down("web", "rs1", false));
    REQUIRE_FALSE(f.st.publish(0));
    CHECK(f.st.down() == std::set<ctl::ServerId>{{"web", "rs2"}, {"web", "rs3"}});
    // A reload with the same servers keeps the marks; operator overrides end.
    REQUIRE_FALSE(f.st.set_weight("web", "rs4", 3));
    REQUIRE_FALSE(f.st.apply(four_servers(), 10));
    REQUIRE_FALSE(f.st.publish(10));
    CHECK(f.st.down() == std::set<ctl::ServerId>{{"web", "rs2"}, {"web", "rs3"}});
    CHECK(server(f.st.effective(), "rs4")->weight == 1);
}

TEST_CASE("control state: a removed server drains for its grace, through apply and expire", "[control]") {
    Fixture f;
    REQUIRE_FALSE(f.st.apply(four_servers("30"), 0));
    REQUIRE_FALSE(f.st.publish(0));
    conf::Config next = four_servers("30");
    next.services[0].realservers.pop_back();  // rs4 leaves
    REQUIRE_FALSE(f.st.apply(next, 100));
    REQUIRE_FALSE(f.st.publish(100));
    const conf::Config eff = f.st.effective();
    const conf::RealServer* rs4 = server(eff, "rs4");
    REQUIRE(rs4 != nullptr);
    CHECK_FALSE(rs4->enabled);
    CHECK(f.st.next_expiry() == 130u);
    f.st.expire(130);
    REQUIRE_FALSE(f.st.publish(130));
    CHECK(server(f.st.effective(), "rs4") == nullptr);
}

TEST_CASE("control state: publish builds a table only when something changed", "[control]") {
    REQUIRE(test::ensure_eal());
    boost::asio::io_context io;
    dp::TablePublisher publisher(RTE_MAX_LCORE);
    REQUIRE(publisher.ok());
    ctl::ControlState st(io, nullptr, &publisher, {.pool_sources = false});
    REQUIRE_FALSE(st.apply(four_servers(), 0));
    REQUIRE_FALSE(st.publish(0));
    CHECK(st.generation() == 1);
    const dp::Table* first = publisher.current().load();
    REQUIRE(first != nullptr);
    CHECK(first->generation() == 1);
    REQUIRE_FALSE(st.publish(0));
    CHECK(st.generation() == 1);  // nothing changed: no new table
    REQUIRE_FALSE(st.set_weight("web", "rs1", 5));
    REQUIRE_FALSE(st.publish(0));
    CHECK(st.generation() == 2);
    CHECK(publisher.current().load()->generation() == 2);
    publisher.synchronize();
}
