// The registry of monitor kinds: every descriptor is whole and consistent,
// and make_monitor goes through it.
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "health/monitor.h"
#include "health/monitor_kind.h"

using namespace tern::health;

TEST_CASE("monitor kinds: each descriptor is whole, its defaults of its options' types", "[health]") {
    REQUIRE_FALSE(monitor_kinds().empty());
    std::set<std::string> names;
    for (const MonitorKind* k : monitor_kinds()) {
        INFO(k->name);
        CHECK(names.insert(k->name).second);
        CHECK(find_kind(k->name) == k);
        CHECK(k->make != nullptr);
        std::set<std::string> options;
        for (const auto& o : k->options) {
            INFO(o.name);
            CHECK(options.insert(o.name).second);
            CHECK(o.default_value.index() == static_cast<size_t>(o.type));
        }
        const MonitorSpec spec = default_spec(*k);
        CHECK(spec.kind == k->name);
        CHECK(spec.rise == 1);
        CHECK(spec.fall == 1);
    }
    for (const auto& o : common_options()) CHECK(o.default_value.index() == static_cast<size_t>(o.type));
    CHECK(find_kind("proxyfetch") == nullptr);  // names are exact
}

TEST_CASE("monitor kinds: make_monitor makes each kind, and nothing for an unknown one", "[health]") {
    boost::asio::io_context io;
    const Target t{"svc", "h1", boost::asio::ip::make_address("127.0.0.1"), 80};
    for (const MonitorKind* k : monitor_kinds()) {
        auto m = make_monitor(io, default_spec(*k), t, nullptr);
        REQUIRE(m);
        CHECK(std::string(m->name()) == k->name);
    }
    MonitorSpec other;
    other.kind = "VIPPing";
    CHECK_FALSE(make_monitor(io, other, t, nullptr));
    // RunCommand's own defaults.
    const MonitorSpec rc = default_spec(*find_kind("RunCommand"));
    CHECK(rc.interval == 60);
    CHECK(rc.timeout == 20);
    CHECK(rc.get<std::string>("user") == "nobody");
}

TEST_CASE("monitor kinds: RunCommand's user must exist", "[health]") {
    const MonitorKind& k = *find_kind("RunCommand");
    const auto user = std::find_if(k.options.begin(), k.options.end(),
                                   [](const OptionSpec& o) { return std::string(o.name) == "user"; });
    REQUIRE(user != k.options.end());
    REQUIRE(user->check != nullptr);
    CHECK(user->check(std::string("root")).empty());
    CHECK(user->check(std::string("nobody")).empty());
    const auto why = user->check(std::string("tern-no-such-user"));
    REQUIRE(why.size() == 1);
    CHECK(why[0] == "no user 'tern-no-such-user'");
}
