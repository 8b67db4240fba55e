// tern-pool-watch --config FILE [--service NAME]: runs the pool sources of a
// tern.yaml's services and prints each pool they deliver and each failure:
//   <seconds> <service> pool host:weight:enabled,...   (sorted; "-" when empty)
//   <seconds> <service> error <what failed>
//   <seconds> <service> ok                              (good again)
// Until SIGTERM/SIGINT. For the integration tests, and for trying a pool URL.
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdio>

#include "conf/config.h"
#include "control/config/monitor_spec.h"
#include "control/sources/pool_source.h"

int main(int argc, char** argv) {
    using namespace tern;
    std::string config, service;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--config") {
            config = argv[i + 1];
        } else if (a == "--service") {
            service = argv[i + 1];
        }
    }
    if (config.empty()) {
        fmt::print(stderr, "usage: tern-pool-watch --config FILE [--service NAME]\n");
        return 2;
    }
    auto loaded = ctl::load_checked_file(config);
    if (!loaded.config) {
        for (const auto& e : loaded.errors) fmt::print(stderr, "{}\n", e.str());
        return 2;
    }
    boost::asio::io_context io;
    const auto start = std::chrono::steady_clock::now();
    auto t = [start] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    std::vector<std::unique_ptr<ctl::PoolSource>> sources;
    for (const auto& s : loaded.config->services) {
        if (!s.pool || (!service.empty() && s.name != service)) continue;
        std::string err;
        auto src = ctl::PoolSource::make(
            io, *s.pool,
            [&t, name = s.name](const ctl::Pool& pool) {
                std::string list;
                for (const auto& e : pool)
                    list += fmt::format("{}{}:{}:{}", list.empty() ? "" : ",", e.host, e.weight, e.enabled ? 1 : 0);
                fmt::print("{:.3f} {} pool {}\n", t(), name, list.empty() ? "-" : list);
                std::fflush(stdout);
            },
            [&t, name = s.name](const std::string& error) {
                if (error.empty()) {
                    fmt::print("{:.3f} {} ok\n", t(), name);
                } else {
                    fmt::print("{:.3f} {} error {}\n", t(), name, error);
                }
                std::fflush(stdout);
            },
            [](conf::LogLevel, const std::string& line) { fmt::print(stderr, "{}\n", line); }, &err);
        if (!src) {
            fmt::print(stderr, "{}: {}\n", s.name, err);
            return 2;
        }
        sources.push_back(std::move(src));
    }
    if (sources.empty()) {
        fmt::print(stderr, "tern-pool-watch: no service with a pool source\n");
        return 2;
    }
    for (auto& s : sources) s->start();
    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code&, int) {
        for (auto& s : sources) s->stop();
        io.stop();
    });
    io.run();
    return 0;
}
