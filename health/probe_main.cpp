// tern-health-probe --config FILE [--service NAME] [--host HOST] [--duration S]
// Runs the monitors of a tern.yaml's services against their real servers and
// prints one line per verdict, as it happens:
//   <seconds since start> <service> <host> <monitor> up|down <reason>
// Runs until --duration passes, or SIGTERM/SIGINT. `tern run` runs the same
// monitors under control's depool logic.
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "health/monitor.h"

int main(int argc, char** argv) {
    using namespace tern;
    std::string config_path, service, host;
    double duration = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 < argc && a == "--config") {
            config_path = argv[++i];
        } else if (i + 1 < argc && a == "--service") {
            service = argv[++i];
        } else if (i + 1 < argc && a == "--host") {
            host = argv[++i];
        } else if (i + 1 < argc && a == "--duration") {
            duration = std::stod(argv[++i]);
        } else {
            fmt::print(stderr, "usage: tern-health-probe --config FILE [--service NAME] [--host HOST] [--duration S]\n");
            return 2;
        }
    }
    if (config_path.empty()) {
        fmt::print(stderr, "tern-health-probe: --config FILE is required\n");
        return 2;
    }
    conf::LoadResult loaded = conf::load_file(config_path);
    if (!loaded.config) {
        for (const auto& e : loaded.errors) fmt::print(stderr, "{}\n", e.str());
        return 2;
    }
    boost::asio::io_context io;
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<health::Monitor>> monitors;
    for (const auto& s : loaded.config->services) {
        if (!service.empty() && s.name != service) continue;
        for (const auto& rs : s.realservers) {
            if (!host.empty() && rs.host != host) continue;
            for (const auto& m : s.monitors) {
                health::Target t{s.name, rs.host, rs.ip, s.port};
                auto report = [start, t, name = m.name](bool up, const std::string& reason) {
                    const double e = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                    fmt::print("{:.3f} {} {} {} {} {}\n", e, t.service, t.host, name, up ? "up" : "down", reason);
                    std::fflush(stdout);
                };
                auto mon = health::make_monitor(io, m, t, report);
                if (!mon) {
                    fmt::print(stderr, "{}: {}: the {} monitor is not part of this build\n", config_path, s.name, m.name);
                    return 2;
                }
                mon->set_log([](const std::string& line) { fmt::print(stderr, "{}\n", line); });
                monitors.push_back(std::move(mon));
            }
        }
    }
    if (monitors.empty()) {
        fmt::print(stderr, "tern-health-probe: no monitor matches\n");
        return 2;
    }
    for (auto& m : monitors) m->start();
    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec) io.stop();
    });
    boost::asio::steady_timer deadline(io);
    if (duration > 0) {
        deadline.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(duration)));
        deadline.async_wait([&](const boost::system::error_code& ec) {
            if (!ec) io.stop();
        });
    }
    io.run();
    for (auto& m : monitors) m->stop();
    monitors.clear();
    return 0;
}
