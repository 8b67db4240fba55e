// The console's command registry over a fake daemon: dispatch, help written
// from the descriptors, errors naming the bad word, SERVICE placeholders.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "control/ops/command_registry.h"
#include "control/ops/console_commands.h"

using namespace tern;
using ctl::CommandResult;

namespace {

conf::Config two_servers() {
    auto r = conf::load_string(
        "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
        "neighbors: [{ip: 10.0.0.21, mac: '02:00:00:00:00:21'}, {ip: 10.0.0.22, mac: '02:00:00:00:00:22'}]\n"
        "services:\n  - name: web\n    vip: 192.0.2.1\n    port: 80\n    realservers:\n"
        "      - {host: rs1, ip: 10.0.0.21, weight: 3}\n      - {host: rs2, ip: 10.0.0.22}\n",
        "t.yaml");
    REQUIRE(r.config);
    return *r.config;
}

// A daemon without a dataplane: a control state of its own, canned answers.
class FakeTarget final : public ctl::Operable {
public:
    FakeTarget() { REQUIRE_FALSE(state_.apply(two_servers(), 0)); }
    ctl::ControlState& state() override { return state_; }
    conf::Config effective_config() override {
        REQUIRE_FALSE(state_.publish(0));
        return state_.effective();
    }
    ctl::Stats stats() override { return {}; }
    double uptime() const override { return 1; }
    std::optional<ctl::Stats> rate_base(const std::string&, const ctl::Stats&, double& seconds) override {
        seconds = 0;
        return std::nullopt;
    }
    const bgp::Speaker* speaker() const override { return nullptr; }
    std::string flows(size_t max) override { return "flows " + std::to_string(max) + "\n"; }
    std::string connections(size_t max) override { return "connections " + std::to_string(max) + "\n"; }
    std::string reload() override {
        ++reloads;
        return "reloaded";
    }
    const std::string& config_path() const override { return path_; }
    ctl::Capture* capture() override { return nullptr; }

    int reloads = 0;

private:
    boost::asio::io_context io_;
    ctl::ControlState state_{io_, [](conf::LogLevel, const std::string&) {}, nullptr, {.pool_sources = false}};
    std::string path_ = "/nonexistent/tern.yaml";
};

CommandResult run(ctl::Operable& t, const std::vector<std::string>& words) {
    return ctl::console_commands().run(t, words);
}

const conf::RealServer* server(const conf::Config& c, const std::string& host) {
    for (const auto& rs : c.services.at(0).realservers) {
        if (rs.host == host) return &rs;
    }
    return nullptr;
}

}  // namespace

TEST_CASE("commands: the words reach the descriptor's handler and act through the door", "[control]") {
    FakeTarget t;
    auto r = run(t, {"set", "weight", "web", "rs1", "7"});
    CHECK(r.ok);
    CHECK(r.out == "weight of rs1 in web: 7 (until the next reload)\n");
    r = run(t, {"depool", "rs2"});
    CHECK(r.out == "depooled rs2: done (until the next reload)\n");
    const conf::Config c = t.effective_config();
    CHECK(server(c, "rs1")->weight == 7);
    CHECK_FALSE(server(c, "rs2")->enabled);
    CHECK(t.state().overridden("web", "rs2"));
    CHECK(run(t, {"show", "pools"}).out.find("rs2:\tdisabled") != std::string::npos);
    CHECK(run(t, {"show", "flows"}).out == "flows 20\n");
    CHECK(run(t, {"show", "bgp"}).out == "bgp: not configured\n");
    CHECK(run(t, {"reload"}).out == "reloaded\n");
    CHECK(t.reloads == 1);
    r = run(t, {"confirm", "pool", "web"});
    CHECK_FALSE(r.ok);
    CHECK(r.out == "confirm pool: service 'web' has no held pool\n");
    CHECK(run(t, {"quit"}).quit);
    CHECK(run(t, {"exit"}).quit);
    CHECK_FALSE(run(t, {"help"}).quit);
    CHECK(run(t, {}).out.empty());
}

TEST_CASE("commands: help is written from the descriptors", "[control]") {
    FakeTarget t;
    const std::string help = run(t, {"help"}).out;
    CHECK(help == ctl::console_commands().help());
    // Every listed descriptor has its line, tokens then help at column 36.
    for (const auto& e : ctl::console_commands().entries()) {
        if (std::string(e.command.help).empty()) continue;
        CHECK(help.find(std::string(e.command.tokens)) != std::string::npos);
    }
    CHECK(help.find("show stats [port|lcore|service]     counters\n") != std::string::npos);
    CHECK(help.find("capture start PORT|all FILE [COUNT [FILTER...]]\n"
                    "                                    packets of a port into a pcapng file; COUNT 0: until\n"
                    "                                    stopped; FILTER in pcap-filter syntax (tcp port 80)\n") !=
          std::string::npos);
    CHECK(help.find("exit") == std::string::npos);  // an alias, not listed

    ctl::CommandRegistry r;
    r.add(
        {"frob SERVICE [N]", "frob a service", [](ctl::Operable&, const ctl::Args& a) { return ctl::done(a.get(2)); }});
    r.add({"hidden", "", [](ctl::Operable&, const ctl::Args&) { return ctl::done("x"); }});
    CHECK(r.help() == "frob SERVICE [N]                    frob a service\n");
    CHECK(r.run(t, {"frob", "web", "5"}).out == "5\n");
    CHECK(r.run(t, {"hidden"}).out == "x\n");
}

TEST_CASE("commands: errors name the bad word", "[control]") {
    FakeTarget t;
    auto err = [&](const std::vector<std::string>& w) {
        auto r = run(t, w);
        CHECK_FALSE(r.ok);
        return r.out;
    };
    CHECK(err({"frobnicate", "now"}) == "unknown command 'frobnicate'; 'help' lists them\n");
    CHECK(err({"show", "servicez"}).starts_with("show: unknown 'servicez'; try services, service, pools, stats,"));
    CHECK(err({"show"}).starts_with("show: what? services, service, pools"));
    CHECK(err({"set", "wait"}) == "set: unknown 'wait'; usage: set weight SERVICE HOST N\n");
    CHECK(err({"set", "weight", "web"}) == "set weight: missing arguments; usage: set weight SERVICE HOST N\n");
    CHECK(err({"show", "pools", "now"}) == "show pools: unexpected 'now'; usage: show pools\n");
    CHECK(err({"show", "stats", "disk"}) == "show stats: unknown 'disk'; usage: show stats [port|lcore|service]\n");
    CHECK(err({"set", "weight", "web", "rs1", "70000"}) == "set weight: '70000' is not a weight between 0 and 65535\n");
    CHECK(err({"set", "weight", "web", "zz", "3"}) == "set weight: service 'web' has no server 'zz'\n");
    CHECK(err({"add", "realserver", "web", "rs3", "10.0.0.300"}) ==
          "add realserver: '10.0.0.300' is not an IP address\n");
    CHECK(err({"capture", "stop"}) == "capture: no ports to capture in this process\n");
}

TEST_CASE("commands: a SERVICE placeholder takes any word and the handler checks it", "[control]") {
    FakeTarget t;
    const auto& entries = ctl::console_commands().entries();
    const auto it = std::find_if(entries.begin(), entries.end(),
                                 [](const auto& e) { return std::string(e.command.tokens) == "show service SERVICE"; });
    REQUIRE(it != entries.end());
    REQUIRE(it->tokens.size() == 3);
    CHECK(it->tokens[2].kind == ctl::Token::Kind::name);
    CHECK(it->tokens[2].names == ctl::Token::Names::service);
    const auto r = run(t, {"show", "service", "web"});
    CHECK(r.ok);
    CHECK(r.out.find("TCP  192.0.2.1:80 ") != std::string::npos);
    CHECK(r.out.find("rs1:\tenabled/up/pooled") != std::string::npos);
    const auto bad = run(t, {"show", "service", "nope"});
    CHECK_FALSE(bad.ok);
    CHECK(bad.out == "show service: no service named 'nope'\n");
}

TEST_CASE("commands: descriptors' tokens are parsed or refused", "[control]") {
    const auto t = ctl::parse_tokens("capture start PORT|all FILE [COUNT [FILTER...]]");
    REQUIRE(t.size() == 6);
    CHECK(t[0].kind == ctl::Token::Kind::word);
    CHECK(t[2].kind == ctl::Token::Kind::free);
    CHECK(t[2].text == "PORT|all");
    CHECK_FALSE(t[3].optional);
    CHECK(t[4].optional);
    CHECK((t[5].optional && t[5].rest));
    const auto alts = ctl::parse_tokens("show stats [port|lcore|service]");
    CHECK(alts[2].words == std::vector<std::string>{"port", "lcore", "service"});
    CHECK(ctl::parse_tokens("pool HOST")[1].names == ctl::Token::Names::host);
    CHECK_THROWS_AS(ctl::parse_tokens("SERVICE show"), std::logic_error);
    CHECK_THROWS_AS(ctl::parse_tokens("show [a b"), std::logic_error);
    CHECK_THROWS_AS(ctl::parse_tokens("show [N] M"), std::logic_error);
    CHECK_THROWS_AS(ctl::parse_tokens("show A... B"), std::logic_error);
}
