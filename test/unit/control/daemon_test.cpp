// tern run's small pure parts: the pinned EAL lcores of dataplane.lcores and
// the log's line format (journald or timestamps), DPDK's lines and levels in it.
#include <catch2/catch.hpp>
#include <regex>

#include "control/daemon/eal.h"
#include "control/daemon/eal_log.h"
#include "control/daemon/log.h"

using namespace tern;

TEST_CASE("eal: dataplane.lcores pins the workers, the main lcore apart", "[eal]") {
    conf::Dataplane d;
    CHECK(ctl::pinned_lcores_args(d).empty());  // the floating default
    d.lcores = {1, 2};
    CHECK(ctl::pinned_lcores_args(d) == std::vector<std::string>{"-l", "0,1,2", "--main-lcore", "0"});
    d.lcores = {0, 1, 3};
    CHECK(ctl::pinned_lcores_args(d) == std::vector<std::string>{"-l", "2,0,1,3", "--main-lcore", "2"});
    d.main_lcore = 7;
    CHECK(ctl::pinned_lcores_args(d) == std::vector<std::string>{"-l", "7,0,1,3", "--main-lcore", "7"});
}

TEST_CASE("log: journald gets priorities, anything else timestamps", "[log]") {
    CHECK(ctl::journal_stream_is("8:12345", 8, 12345));
    CHECK_FALSE(ctl::journal_stream_is("8:12345", 8, 12346));
    CHECK_FALSE(ctl::journal_stream_is("", 8, 12345));
    const int64_t t = 1764764401123456;  // 2025-12-03T12:20:01.123456Z
    CHECK(ctl::log_line(conf::LogLevel::error, "boom", true, t) == "<3>boom\n");
    CHECK(ctl::log_line(conf::LogLevel::info, "hello", true, t) == "<6>hello\n");
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK(ctl::log_line(conf::LogLevel::info, "hello", false, t) == "2025-12-03T12:20:01.123+00:00 tern: hello\n");
    CHECK(ctl::log_line(conf::LogLevel::warning, "w", false, t) == "2025-12-03T12:20:01.123+00:00 tern: warning: w\n");
    setenv("TZ", "CET-1", 1);
    tzset();
    CHECK(ctl::log_line(conf::LogLevel::error, "e", false, t) == "2025-12-03T13:20:01.123+01:00 tern: error: e\n");
    unsetenv("TZ");
    tzset();
}

TEST_CASE("log: DPDK's levels map onto tern's, its bytes into lines", "[log]") {
    CHECK(ctl::log_level_of_rte(1) == conf::LogLevel::error);  // RTE_LOG_EMERG
    CHECK(ctl::log_level_of_rte(4) == conf::LogLevel::error);  // RTE_LOG_ERR
    CHECK(ctl::log_level_of_rte(5) == conf::LogLevel::warning);
    CHECK(ctl::log_level_of_rte(6) == conf::LogLevel::info);  // RTE_LOG_NOTICE
    CHECK(ctl::log_level_of_rte(7) == conf::LogLevel::info);
    CHECK(ctl::log_level_of_rte(8) == conf::LogLevel::debug);
    ctl::LogLines lines;
    CHECK(lines.feed("EAL: Detected CPU lco").empty());
    CHECK(lines.feed("res: 2\nEAL: Detected NUMA nodes: 1\n\nEAL: x") ==
          std::vector<std::string>{"EAL: Detected CPU lcores: 2", "EAL: Detected NUMA nodes: 1"});
    CHECK(lines.feed("\n") == std::vector<std::string>{"EAL: x"});
}
