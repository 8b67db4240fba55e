#include "control/desired_state.h"

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

TEST_CASE("desired state: overrides name the bad input", "[control]") {
    ctl::DesiredState st(two_servers(0));
    CHECK(st.set_weight("web", "rs9", 5).value() == "service 'web' has no server 'rs9'");
    CHECK(st.set_weight("nope", "rs1", 5).value() == "no service named 'nope'");
    CHECK(st.set_enabled("", "rs9", false).value() == "no service has a server 'rs9'");
    CHECK_FALSE(st.set_weight("web", "rs1", 7));
    CHECK_FALSE(st.set_enabled("", "rs2", false));
    CHECK_FALSE(st.set_down("web", "rs1", true));
    const conf::Config c = st.effective();
    CHECK(c.services[0].realservers[0].weight == 7);
    CHECK_FALSE(c.services[0].realservers[1].enabled);
    CHECK(st.down().count({"web", "rs1"}) == 1);
}

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
