// What control does with a pool source's answer (issue 16, parts 1 and 7):
// more servers than the service's table holds is rejected; more serving
// servers out at once than the depool threshold allows is held until the
// console confirms it (or applied at once with hold_removals: false); the
// last good pool stays meanwhile and /alerts says why.
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "control/ops/api.h"
#include "control/state/pools.h"

using namespace tern;

namespace {

struct Lab {
    std::string dir = "/tmp/tern-pool-guard-" + std::to_string(::getpid());
    std::string file = dir + "/pool";
    boost::asio::io_context io;
    std::vector<std::string> lines;
    ctl::Pools pools{io, [this](conf::LogLevel, const std::string& l) { lines.push_back(l); }};

    Lab() { std::filesystem::create_directories(dir); }
    ~Lab() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    conf::Config config(const std::string& extra = "", const std::string& table = "1021") {
        std::string yaml =
            "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
            "services:\n  - name: web\n    vip: 192.0.2.1\n    port: 80\n    depool_threshold: 0.5\n"
            "    table_size: " +
            table + "\n    pool: {url: 'file://" + file + "', interval: 0.1" + extra + "}\n    realservers: []\n";
        auto r = conf::load_string(yaml, "t.yaml");
        REQUIRE(r.config);
        return *r.config;
    }
    // Hosts 10.0.0.N for N in [from, to).
    void write(int from, int to, bool enabled = true) {
        std::ofstream f(file + ".tmp");
        for (int i = from; i < to; ++i)
            f << "{ 'host': '10.0." << i / 250 << "." << i % 250 + 1
              << "', 'weight': 10, 'enabled': " << (enabled ? "True" : "False") << " }\n";
        f.close();
        std::rename((file + ".tmp").c_str(), file.c_str());
    }
    void run() { io.run_for(std::chrono::milliseconds(300)); }
    size_t servers() const { return pools.services().at("web").servers().size(); }
    size_t enabled() const {
        size_t n = 0;
        for (const auto& [h, s] : pools.services().at("web").servers()) n += s.enabled;
        return n;
    }
};

ctl::Pool pool(std::initializer_list<std::pair<const char*, bool>> hosts) {
    ctl::Pool p;
    for (const auto& [h, en] : hosts) p.push_back({h, 10, en});
    return p;
}

}  // namespace

TEST_CASE("pool guard: what counts as too many out at once", "[control]") {
    using ctl::Pools;
    const auto four = pool({{"a", true}, {"b", true}, {"c", true}, {"d", true}});
    CHECK_FALSE(Pools::too_many_removed(four, pool({{"a", true}, {"b", true}}), 0.5));
    CHECK(Pools::too_many_removed(four, pool({{"a", true}}), 0.5).value() ==
          "its source's answer would take 3 of 4 serving servers out at once (depool_threshold 0.5)");
    // Disabled counts as out; a disabled server before does not count.
    CHECK(Pools::too_many_removed(four, pool({{"a", true}, {"b", false}, {"c", false}, {"d", false}}), 0.5));
    CHECK_FALSE(Pools::too_many_removed(pool({{"a", true}, {"b", false}}), pool({{"a", true}}), 0.5));
    CHECK_FALSE(Pools::too_many_removed(four, {}, 0.0));  // threshold 0: anything goes
    CHECK(Pools::too_many_removed(four, {}, 0.5));
    CHECK_FALSE(Pools::too_many_removed({}, four, 0.5));
    CHECK(Pools::too_many_removed(four, pool({{"a", true}, {"b", true}, {"c", true}}), 1.0));
}

TEST_CASE("pool guard: a source's mass removal is held until confirmed", "[control]") {
    Lab lab;
    lab.write(0, 10);
    REQUIRE_FALSE(lab.pools.apply(lab.config()));
    lab.run();
    REQUIRE(lab.servers() == 10);

    lab.write(0, 6);  // 4 of 10 out: within the threshold
    lab.run();
    CHECK(lab.servers() == 6);
    CHECK(lab.pools.held().empty());

    lab.write(0, 2);  // 4 of 6 out: 2 < 6 x 0.5
    lab.run();
    CHECK(lab.servers() == 6);
    REQUIRE(lab.pools.held().count("web") == 1);
    CHECK(lab.pools.held().at("web").confirmable);
    const ctl::Alerts a = ctl::alerts(lab.pools);
    CHECK(a.status == "warning");
    CHECK(a.msg.find("Pool web held, last good pool kept: its source's answer would take 4 of 6 serving servers") !=
          std::string::npos);
    CHECK(a.msg.find("`confirm pool web`") != std::string::npos);

    lab.write(0, 6, false);  // all disabled instead: still held, judged against the last good pool
    lab.run();
    CHECK(lab.enabled() == 6);
    CHECK(lab.pools.held().count("web") == 1);

    lab.write(0, 2);
    lab.run();
    CHECK(lab.pools.confirm("nope").value() == "no service named 'nope'");
    CHECK_FALSE(lab.pools.confirm("web"));
    CHECK(lab.servers() == 2);
    CHECK(lab.pools.held().empty());
    CHECK(ctl::alerts(lab.pools).status == "ok");
    CHECK(lab.pools.confirm("web").value() == "service 'web' has no held pool");

    lab.write(0, 8);  // additions are never held
    lab.run();
    CHECK(lab.servers() == 8);

    lab.write(0, 1);  // held, then the source comes back to the good pool: no longer held
    lab.run();
    CHECK(lab.pools.held().count("web") == 1);
    lab.write(0, 8);
    lab.run();
    CHECK(lab.pools.held().empty());
    CHECK(lab.servers() == 8);
}

TEST_CASE("pool guard: hold_removals false applies a mass removal at once", "[control]") {
    Lab lab;
    lab.write(0, 10);
    REQUIRE_FALSE(lab.pools.apply(lab.config(", hold_removals: false")));
    lab.run();
    REQUIRE(lab.servers() == 10);
    lab.write(0, 1);
    lab.run();
    CHECK(lab.servers() == 1);
    CHECK(lab.pools.held().empty());
}

TEST_CASE("pool guard: more servers than the table holds are rejected", "[control]") {
    Lab lab;
    lab.write(0, 10);
    REQUIRE_FALSE(lab.pools.apply(lab.config("", "1021")));
    lab.run();
    REQUIRE(lab.servers() == 10);
    lab.write(0, 1021);  // table_size 1021 holds 1020
    lab.run();
    CHECK(lab.servers() == 10);
    REQUIRE(lab.pools.held().count("web") == 1);
    CHECK_FALSE(lab.pools.held().at("web").confirmable);
    CHECK(lab.pools.held().at("web").reason ==
          "its source delivered 1021 servers, more than the 1020 the service's table holds");
    CHECK(lab.pools.confirm("web").value().find("cannot be confirmed") != std::string::npos);
    CHECK(lab.servers() == 10);
    lab.write(0, 1020);
    lab.run();
    CHECK(lab.servers() == 1020);
    CHECK(lab.pools.held().empty());
}
