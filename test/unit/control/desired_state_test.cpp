#include "control/state/desired_state.h"

#include <catch2/catch.hpp>

using namespace tern;

namespace {
conf::Config two_servers(uint32_t grace) {
    auto r = conf::load_string(
        "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
        "services:\n  - name: web\n    vip: 192.0.2.1\n    port: 80\n    removed_server_grace: " +
            std::to_string(grace) +
            "\n    realservers:\n      - {host: rs1, ip: 10.0.0.21}\n      - {host: rs2, ip: 10.0.0.22}\n",
        "t.yaml");
    REQUIRE(r.config);
    return *r.config;
}
}  // namespace

TEST_CASE("desired state: a removed server drains for its grace period", "[control]") {
    ctl::DesiredState st(two_servers(30));
    conf::Config next = two_servers(30);
    next.services[0].realservers.pop_back();  // rs2 leaves
    st.reload(next, 100);
    conf::Config c = st.effective();
    REQUIRE(c.services[0].realservers.size() == 2);
    CHECK(c.services[0].realservers[1].host == "rs2");
    CHECK_FALSE(c.services[0].realservers[1].enabled);
    CHECK(st.next_expiry() == 130u);
    CHECK_FALSE(st.expire(129));
    CHECK(st.expire(130));
    CHECK(st.effective().services[0].realservers.size() == 1);
    CHECK_FALSE(st.next_expiry());
}

TEST_CASE("desired state: without grace a removed server is gone at once", "[control]") {
    ctl::DesiredState st(two_servers(0));
    conf::Config next = two_servers(0);
    next.services[0].realservers.pop_back();
    st.reload(next, 100);
    CHECK(st.effective().services[0].realservers.size() == 1);
}

TEST_CASE("desired state: set_pool replaces a service's servers, drains those that leave", "[control]") {
    auto loaded = tern::conf::load_string(R"(
node: {name: t, ipv4: 10.0.0.1}
ports: [{name: p, device: net_null0}]
services:
  - name: web
    vip: 192.0.2.1
    port: 80
    removed_server_grace: 30
    realservers:
      - {host: a, ip: 10.0.0.11}
      - {host: b, ip: 10.0.0.12}
)",
                                          "t.yaml");
    REQUIRE(loaded.config);
    tern::ctl::DesiredState st(*loaded.config);
    auto servers = loaded.config->services[0].realservers;
    servers[0].weight = 7;  // the pool's weight (an operator's, a pool file's)
    CHECK(st.set_pool("web", servers, {}, 100));
    // Same servers, nothing down: no change.
    CHECK_FALSE(st.set_pool("web", servers, {}, 100));
    // b depooled for health.
    CHECK(st.set_pool("web", servers, {"b"}, 100));
    CHECK(st.down().count({"web", "b"}) == 1);
    CHECK(st.set_pool("web", servers, {}, 100));
    // b leaves the pool: a ghost (drained) for the grace period; a keeps its weight.
    servers.pop_back();
    CHECK(st.set_pool("web", servers, {}, 100));
    CHECK(st.down().empty());
    auto eff = st.effective();
    REQUIRE(eff.services[0].realservers.size() == 2);
    CHECK(eff.services[0].realservers[0].weight == 7);
    CHECK(eff.services[0].realservers[1].host == "b");
    CHECK_FALSE(eff.services[0].realservers[1].enabled);
    // Unknown service: nothing.
    CHECK_FALSE(st.set_pool("nope", servers, {}, 100));
}
