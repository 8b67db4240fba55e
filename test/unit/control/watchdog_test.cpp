#include "control/daemon/watchdog.h"

#include <catch2/catch.hpp>

using tern::ctl::Heartbeat;
using tern::ctl::LcoreWatchdog;
using namespace std::chrono_literals;

TEST_CASE("watchdog: pings once per period while every lcore advances", "[watchdog]") {
    LcoreWatchdog w(500ms);
    const auto t0 = LcoreWatchdog::Clock::time_point{} + 1h;
    CHECK(w.check(t0, {{1, 10}, {2, 7}}).ping);  // the first check compares with nothing
    // Within the period: nothing, whatever the lcores did.
    CHECK_FALSE(w.check(t0 + 100ms, {{1, 11}, {2, 8}}).ping);
    CHECK(w.check(t0 + 500ms, {{1, 20}, {2, 9}}).ping);
    CHECK(w.check(t0 + 1000ms, {{1, 21}, {2, 10}}).ping);
}

TEST_CASE("watchdog: a stalled lcore stops the pings and is named once", "[watchdog]") {
    LcoreWatchdog w(500ms);
    const auto t0 = LcoreWatchdog::Clock::time_point{} + 1h;
    REQUIRE(w.check(t0, {{1, 10}, {2, 7}}).ping);
    auto v = w.check(t0 + 500ms, {{1, 20}, {2, 7}});
    CHECK_FALSE(v.ping);
    CHECK(v.stalled == std::vector<unsigned>{2});
    v = w.check(t0 + 1000ms, {{1, 30}, {2, 7}});
    CHECK_FALSE(v.ping);
    CHECK(v.stalled.empty());  // named when it stalled, not again
    // It moves again: pings resume, and it is named as resumed.
    v = w.check(t0 + 1500ms, {{1, 40}, {2, 8}});
    CHECK(v.ping);
    CHECK(v.resumed == std::vector<unsigned>{2});
    CHECK(v.stalled.empty());
    v = w.check(t0 + 2000ms, {{1, 50}, {2, 9}});
    CHECK(v.ping);
    CHECK(v.resumed.empty());
}

TEST_CASE("watchdog: with no lcores only the control loop feeds it", "[watchdog]") {
    LcoreWatchdog w(1s);
    const auto t0 = LcoreWatchdog::Clock::time_point{} + 1h;
    CHECK(w.check(t0, {}).ping);
    CHECK_FALSE(w.check(t0 + 999ms, {}).ping);
    CHECK(w.check(t0 + 1s, {}).ping);
}
