// tern-health-probe --config FILE [--service NAME] [--host HOST] [--duration S]
//                   [--stats-every S] [--quiet]
// Runs the monitors of a tern.yaml's services against their real servers and
// prints one line per verdict, as it happens:
//   <seconds since start> <service> <host> <monitor> up|down <reason>
// With --stats-every, a line of totals every S seconds (checks per second,
// check latency quantiles, CPU used by this process):
//   stats <t> monitors=N up=U down=D checks=C rate=R/s failures=F p50=.. p99=.. max_bucket=.. cpu=P%
// --quiet drops the verdict lines. Runs until --duration passes, or
// SIGTERM/SIGINT. `tern run` runs the same monitors under control's depool
// logic.
#include <fmt/format.h>

#include <sys/resource.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "control/config/monitor_spec.h"
#include "health/monitor.h"

int main(int argc, char** argv) {
    using namespace tern;
    std::string config_path, service, host;
    double duration = 0, stats_every = 0;
    bool quiet = false;
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
        } else if (i + 1 < argc && a == "--stats-every") {
            stats_every = std::stod(argv[++i]);
        } else if (a == "--quiet") {
            quiet = true;
        } else {
            fmt::print(
                stderr,
                "usage: tern-health-probe --config FILE [--service NAME] [--host HOST] [--duration S] [--stats-every S] [--quiet]\n");
            return 2;
        }
    }
    if (config_path.empty()) {
        fmt::print(stderr, "tern-health-probe: --config FILE is required\n");
        return 2;
    }
    conf::LoadResult loaded = ctl::load_checked_file(config_path);
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
                health::Target t{s.name, rs.host, ctl::to_asio(rs.ip), s.port};
                auto report = [start, t, name = m.name, quiet](bool up, const std::string& reason) {
                    if (quiet) return;
                    const double e = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                    fmt::print("{:.3f} {} {} {} {} {}\n", e, t.service, t.host, name, up ? "up" : "down", reason);
                    std::fflush(stdout);
                };
                auto spec = ctl::monitor_spec(m);
                auto mon = spec ? health::make_monitor(io, *spec, t, report) : nullptr;
                if (!mon) {
                    fmt::print(stderr, "{}: {}: the {} monitor is not part of this build\n", config_path, s.name,
                               m.name);
                    return 2;
                }
                if (!quiet) mon->set_log([](const std::string& line) { fmt::print(stderr, "{}\n", line); });
                monitors.push_back(std::move(mon));
            }
        }
    }
    if (monitors.empty()) {
        fmt::print(stderr, "tern-health-probe: no monitor matches\n");
        return 2;
    }
    // Thousands of monitors hold thousands of sockets.
    rlimit nofile{};
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    for (auto& m : monitors) m->start();
    boost::asio::steady_timer stats_timer(io);
    uint64_t last_checks = 0;
    double last_cpu = 0, last_t = 0;
    std::function<void()> print_stats = [&] {
        stats_timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(stats_every)));
        stats_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            health::DurationHistogram h;
            uint64_t checks = 0, failures = 0, up = 0, down = 0;
            for (const auto& m : monitors) {
                const auto& st = m->stats();
                h.merge(st.durations);
                checks += st.checks;
                failures += st.failures;
                up += m->up().value_or(false);
                down += m->up().has_value() && !*m->up();
            }
            rusage ru{};
            getrusage(RUSAGE_SELF, &ru);
            const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
            const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            const double dt = t - last_t;
            fmt::print(
                "stats {:.3f} monitors={} up={} down={} checks={} rate={:.0f}/s failures={} p50={} p90={} "
                "p99={} cpu={:.1f}%\n",
                t, monitors.size(), up, down, checks, static_cast<double>(checks - last_checks) / dt, failures,
                h.quantile(0.5), h.quantile(0.9), h.quantile(0.99), 100.0 * (cpu - last_cpu) / dt);
            std::fflush(stdout);
            last_checks = checks;
            last_cpu = cpu;
            last_t = t;
            print_stats();
        });
    };
    if (stats_every > 0) print_stats();
    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec) io.stop();
    });
    boost::asio::steady_timer deadline(io);
    if (duration > 0) {
        deadline.expires_after(
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(duration)));
        deadline.async_wait([&](const boost::system::error_code& ec) {
            if (!ec) io.stop();
        });
    }
    io.run();
    for (auto& m : monitors) m->stop();
    monitors.clear();
    return 0;
}
