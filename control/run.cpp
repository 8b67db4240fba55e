#include "control/run.h"

#include <fmt/format.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <csignal>
#include <thread>

#include "bgp/asio_io.h"
#include "bgp/settings.h"
#include "bgp/speaker.h"
#include "conf/config.h"
#include "control/eal.h"
#include "control/api.h"
#include "control/capture.h"
#include "control/commands.h"
#include "control/console.h"
#include "control/desired_state.h"
#include "control/http_server.h"
#include "control/metrics.h"
#include "control/lcores.h"
#include "control/log.h"
#include "control/pools.h"
#include "control/stats.h"
#include "control/table_builder.h"
#include "control/telemetry.h"
#include "dataplane/port.h"
#include "dataplane/rte.h"
#include "dataplane/table_publisher.h"
#include "dataplane/worker.h"

namespace tern::ctl {
namespace {

std::atomic<bool> g_quit{false};
std::atomic<bool> g_reload{false};

// Signal handlers only set a flag.
void on_signal(int) { g_quit.store(true); }
void on_hup(int) { g_reload.store(true); }

uint64_t now_s() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

void log_line(const std::string& line) { log_info(line); }

// What a reload cannot change in a running process.
std::vector<std::string> needs_restart(const conf::Config& a, const conf::Config& b) {
    std::vector<std::string> out;
    if (a.ports.size() != b.ports.size() || a.ports.at(0).device != b.ports.at(0).device ||
        a.ports.at(0).mtu != b.ports.at(0).mtu || a.ports.at(0).mac != b.ports.at(0).mac) {
        out.push_back("ports");
    }
    if (a.flows.size != b.flows.size) out.push_back("flows.size");
    if (a.dataplane.icmp_rate_limit != b.dataplane.icmp_rate_limit) out.push_back("dataplane.icmp_rate_limit");
    if (a.node.name != b.node.name) out.push_back("node.name");
    if (a.bgp.has_value() != b.bgp.has_value()) out.push_back("bgp");
    return out;
}

std::string vdev_name(const std::string& device) { return device.substr(0, device.find(',')); }

}  // namespace

int run_appliance(const RunOptions& opt) {
    conf::LoadResult loaded = conf::load_file(opt.config);
    std::vector<conf::Error> errors = loaded.errors;
    if (loaded.config) {
        auto more = unsupported(*loaded.config);
        errors.insert(errors.end(), more.begin(), more.end());
    }
    if (!errors.empty()) {
        for (const auto& e : errors) fmt::print(stderr, "{}\n", e.str());
        return 2;
    }
    const conf::Config& config = *loaded.config;
    const conf::Port& pc = config.ports.at(0);

    std::vector<std::string> eal = opt.eal_args;
    if (eal.empty()) {
        eal = {"--lcores", lcores_arg(1), "--file-prefix", fmt::format("tern-{}", config.node.name)};
        if (hugepages_available(512)) {
            eal.insert(eal.end(), {"--in-memory"});
        } else {
            fmt::print(stderr, "tern run: no free hugepages; running with --no-huge (slower)\n");
            const uint64_t mb = 512 + 2 * (dp::FlowTable::bytes_for(config.flows.size) >> 20);
            eal.insert(eal.end(), {"--no-huge", "-m", std::to_string(mb), "--no-shconf"});
        }
    }
    if (pc.device_is_pci()) {
        eal.insert(eal.end(), {"-a", pc.device});
    } else {
        eal.insert(eal.end(), {"--no-pci", "--vdev", pc.device});
    }
    if (auto err = eal_init(eal)) {
        fmt::print(stderr, "{}\n", *err);
        return 1;
    }
    // Health checks hold a socket or two per monitor: thousands of them.
    rlimit nofile{};
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    int status = 0;
    {
        const unsigned nq = rte_lcore_count() > 1 ? rte_lcore_count() - 1 : 0;
        if (nq == 0) {
            fmt::print(stderr, "tern run: no worker lcore; give the EAL at least two lcores (-l 0-1)\n");
            status = 2;
            goto done;
        }
        const std::string name = pc.device_is_pci() ? pc.device : vdev_name(pc.device);
        uint16_t port = 0;
        if (rte_eth_dev_get_port_by_name(name.c_str(), &port) != 0) {
            fmt::print(stderr, "ports[0].device {}: no such DPDK port (is the device bound to a DPDK driver?)\n",
                       pc.device);
            status = 1;
            goto done;
        }
        rte_mempool* pool = dp::create_pool("tern_rx", 4096 * nq * 2 + 4095, rte_eth_dev_socket_id(port));
        if (pool == nullptr) {
            fmt::print(stderr, "cannot create the mbuf pool: {}\n", rte_strerror(rte_errno));
            status = 1;
            goto done;
        }
        dp::PortSetup ps;
        ps.port_id = port;
        ps.rx_queues = ps.tx_queues = static_cast<uint16_t>(nq);
        ps.mtu = pc.mtu;
        ps.mac = pc.mac ? pc.mac->data() : nullptr;
        ps.pool = pool;
        if (auto err = dp::setup_port(ps)) {
            fmt::print(stderr, "ports[0] {}: {}\n", pc.name, *err);
            status = 1;
            goto done;
        }
        uint8_t mac[6];
        dp::port_mac(port, mac);
        if (pc.mac) std::memcpy(mac, pc.mac->data(), 6);
        // The exception path: a TAP interface carrying the port's MAC, so the
        // kernel answers ARP/ND, speaks BGP and takes everything not for a VIP.
        const std::string tap_if = fmt::format("tern-{}", pc.name).substr(0, 15);
        const std::string tap = fmt::format("net_tap_tern0,iface={},mac={:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                                            tap_if, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
        uint16_t exc = 0;
        if (rte_dev_probe(tap.c_str()) != 0 || rte_eth_dev_get_port_by_name("net_tap_tern0", &exc) != 0) {
            fmt::print(stderr, "cannot create the exception path {}: {}\n", tap, rte_strerror(rte_errno));
            status = 1;
            goto done;
        }
        dp::PortSetup es = ps;
        es.port_id = exc;
        es.mac = nullptr;
        if (auto err = dp::setup_port(es)) {
            fmt::print(stderr, "exception path {}: {}\n", tap_if, *err);
            status = 1;
            goto done;
        }

        // The control thread's event loop: monitors, pool sources, BGP
        // sessions, timers; signal handlers only set flags, checked every 100 ms.
        boost::asio::io_context io;
        auto work = boost::asio::make_work_guard(io);
        set_log_level(config.log.level);
        // The BGP listener before forwarding starts: a passive peer can only
        // reach us through it, so failing to bind is a start-up error then.
        bgp::AsioClock bgp_clock(io);
        bgp::AsioTransport bgp_transport(io);
        std::unique_ptr<bgp::Speaker> speaker;
        if (config.bgp) {
            speaker = std::make_unique<bgp::Speaker>(bgp::speaker_settings(config), bgp_transport, bgp_clock,
                                                     [](const std::string& line) { log_info(line); });
            if (auto lerr = speaker->listen(); !lerr.empty()) {
                const auto& peers = config.bgp->peers;
                auto passive = std::find_if(peers.begin(), peers.end(), [](const conf::BgpPeer& p) { return p.passive; });
                if (passive != peers.end()) {
                    fmt::print(stderr, "tern run: bgp: {}; peer {} is passive and can only connect to it\n", lerr,
                               passive->address.str());
                    status = 1;
                    goto done;
                }
                log_error(fmt::format("bgp: {}; running with active sessions only", lerr));
            }
        }
        Pools pools(io, [](conf::LogLevel level, const std::string& line) { log(level, line); });
        if (auto perr = pools.apply(config)) {
            fmt::print(stderr, "{}\n", *perr);
            status = 2;
            goto done;
        }
        // Pool sources answer before the first table (at most 5 s), so that
        // it, and the routes announced after it, hold their pools.
        {
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            while (!pools.settled() && std::chrono::steady_clock::now() < until) {
                io.run_for(std::chrono::milliseconds(20));
            }
            for (const auto& [name, err] : pools.source_errors()) {
                log_error(fmt::format("[{}] pool source failing at start: {}; starting with the YAML's realservers", name, err));
            }
        }
        DesiredState state(config);
        pools.fill(state, now_s());
        uint64_t generation = 1;
        uint64_t pools_applied = pools.version();
        uint64_t state_applied = state.changes();
        dp::TablePublisher publisher(RTE_MAX_LCORE);
        CounterSlots slots;
        // Rings of the latest table, reused by the next build where their
        // input did not change; changed ones built on the CPUs the lcores
        // leave free.
        RingCache rings(ring_build_threads(nq));
        const auto err = publisher.ok() ? build_and_publish(state.effective(), state.down(), slots, rings, generation, publisher)
                                        : std::optional<std::string>("RCU allocation failed");
        if (err) {
            fmt::print(stderr, "cannot build the forwarding table: {}\n", *err);
            status = 1;
            goto done;
        }

        dp::WorkerConfig wc;
        wc.port_id = port;
        wc.exc_port_id = exc;
        std::memcpy(wc.port_mac, mac, 6);
        wc.mtu = static_cast<uint16_t>(pc.mtu);
        wc.icmp_rate_limit = config.dataplane.icmp_rate_limit;
        LcoreSet lcores;
        if (auto err = lcores.start(config, wc, nq, publisher)) {
            fmt::print(stderr, "{}\n", *err);
            status = 1;
            goto done;
        }
        fmt::print("tern {}: forwarding on {} ({} worker lcore{}), kernel interface {}; "
                   "{} services\n",
                   config.node.name, pc.name, nq, nq == 1 ? "" : "s", tap_if, config.services.size());
        std::fflush(stdout);
        if (speaker) {
            speaker->start();
            // Forwarding is up: routers may send us the VIPs now.
            speaker->announce(bgp::vip_routes(config));
        }
        // Health checks start once forwarding is up (servers start as up and
        // pooled, as in PyBal).
        pools.start();
        // The HTTP API (PyBal's /pools and /alerts, /metrics).
        HttpServer http(io, [&](const HttpRequest& req) {
            return api_answer(pools, req, [&] {
                return metrics_text(pools,
                                    collect(state.effective(), slots, lcores.refs(),
                                            {port_stats(port, pc.name, pc.device), port_stats(exc, "kernel", tap_if)}),
                                    speaker.get(),
                                    config.flows.size * nq);
            });
        });
        if (config.http.enabled) {
            if (auto herr = http.listen(config.http.address, config.http.port); !herr.empty()) {
                log_error(fmt::format("http api: {}; running without it", herr));
            } else {
                log_line(fmt::format("http api on {}:{}", config.http.address.str(), http.port()));
            }
        }
        std::signal(SIGHUP, on_hup);
        conf::Config running = config;
        // Pool state and operator changes to a new table, when anything changed.
        auto sync = [&] {
            if (pools.version() == pools_applied && state.changes() == state_applied) return;
            pools_applied = pools.version();
            pools.fill(state, now_s());
            state_applied = state.changes();
            if (auto berr = build_and_publish(state.effective(), state.down(), slots, rings, ++generation, publisher)) {
                log_error(fmt::format("cannot build the forwarding table: {}; the previous one stays", *berr));
            }
        };
        // The VIP routes to announce: all, or with bgp.withdraw_unpooled those
        // whose services have a pooled, enabled server.
        std::vector<bgp::Route> announced = bgp::vip_routes(running);
        auto routes = [&] {
            auto out = bgp::vip_routes(running);
            if (!running.bgp || !running.bgp->withdraw_unpooled) return out;
            std::set<bgp::Address> serving;
            for (const auto& vip : pools.serving_vips(running)) serving.insert(bgp::to_address(vip));
            std::vector<bgp::Route> kept;
            for (const auto& r : out) {
                if (serving.count(r.prefix.addr)) kept.push_back(r);
            }
            return kept;
        };
        auto announce = [&] {
            if (!speaker) return;
            auto now = routes();
            if (now == announced) return;
            for (const auto& r : announced) {
                if (std::find(now.begin(), now.end(), r) == now.end()) {
                    log_info(fmt::format("bgp: withdrawing {}{}", r.prefix.str(),
                                         running.bgp && running.bgp->withdraw_unpooled
                                             ? " (gone from the config, or no pooled server: bgp.withdraw_unpooled)"
                                             : " (gone from the config)"));
                }
            }
            for (const auto& r : now) {
                if (std::find(announced.begin(), announced.end(), r) == announced.end()) {
                    log_info(fmt::format("bgp: announcing {}", r.prefix.str()));
                }
            }
            announced = now;
            speaker->announce(std::move(now));
        };
        // SIGHUP and the console's `reload`: a config with any error is
        // rejected whole and the running one stays.
        auto reload = [&]() -> std::string {
            conf::LoadResult next = conf::load_file(opt.config);
            std::vector<conf::Error> rerrors = next.errors;
            if (next.config) {
                auto more = unsupported(*next.config);
                rerrors.insert(rerrors.end(), more.begin(), more.end());
            }
            std::optional<std::string> aerr;
            if (rerrors.empty()) aerr = pools.apply(*next.config);
            if (!rerrors.empty() || aerr) {
                std::string msg = fmt::format("reload of {} rejected; the running config stays:", opt.config);
                for (const auto& e : rerrors) msg += "\n  " + e.str();
                if (aerr) msg += "\n  " + *aerr;
                return msg;
            }
            std::string msg;
            for (const auto& what : needs_restart(running, *next.config)) {
                msg += fmt::format("reload: {} changed; that takes effect at the next restart\n", what);
            }
            running = *next.config;
            state.reload(running, now_s());
            announce();
            return msg + fmt::format("reloaded {}: {} services", opt.config, running.services.size());
        };
        // The console: on the UNIX socket, and on this terminal with --interactive.
        CommandContext cmd_ctx{pools,
                               [&] {
                                   sync();
                                   return state.effective();
                               },
                               [&] {
                                   return collect(state.effective(), slots, lcores.refs(),
                                                  {port_stats(port, pc.name, pc.device),
                                                   port_stats(exc, "kernel", tap_if)});
                               },
                               [&]() -> const bgp::Speaker* { return speaker.get(); },
                               [&](size_t max) {
                                   size_t live = 0;
                                   for (const auto& s : collect(state.effective(), slots, lcores.refs(), {}).services) {
                                       for (const auto& r : s.servers) live += r.active_conns + r.inactive_conns;
                                   }
                                   return flows_text(lcores.sample_flows(max), slots, live, lcores.flow_capacity());
                               },
                               [&] {
                                   const std::string r = reload();
                                   (r.find("rejected") != std::string::npos ? log_error : log_info)(r);
                                   return r;
                               },
                               opt.config};
        // Whole frames: the MTU, Ethernet header, a VLAN tag.
        Capture capture({{pc.name, port, static_cast<uint16_t>(nq)}, {"kernel", exc, static_cast<uint16_t>(nq)}},
                        pc.mtu + 18 + 4);
        cmd_ctx.capture = &capture;
        Console console(io, cmd_ctx, [] { g_quit.store(true); });
        if (config.console.enabled) {
            if (auto cerr = console.listen(config.console.socket); !cerr.empty()) {
                log_error(fmt::format("{}; running without the console socket", cerr));
            } else {
                log_line(fmt::format("console on {} (tern console --socket {})", config.console.socket,
                                     config.console.socket));
            }
        }
        if (opt.interactive) {
            if (auto ierr = console.interactive(); !ierr.empty()) log_line(ierr);
        }
        // DPDK telemetry (dpdk-telemetry.py): Tern's endpoints beside the EAL's.
        if (auto terr = Telemetry::register_endpoints(); !terr.empty()) log_line(terr);
        auto publish_telemetry = [&] {
            Telemetry::publish(telemetry_snapshot(state.effective(), pools,
                                                  collect(state.effective(), slots, lcores.refs(), {}),
                                                  lcores.flow_capacity()));
        };
        publish_telemetry();
        auto last_telemetry = std::chrono::steady_clock::now();
        while (!g_quit.load()) {
            publisher.reclaim();
            // A capture's ring is drained often; otherwise the loop wakes each 100 ms.
            io.run_for(std::chrono::milliseconds(capture.running() ? 5 : 100));
            capture.poll();
            if (g_reload.exchange(false)) {
                const std::string r = reload();
                (r.find("rejected") != std::string::npos ? log_error : log_info)(r);
            }
            // Grace periods of removed servers that ended.
            state.expire(now_s());
            sync();
            announce();
            if (std::chrono::steady_clock::now() - last_telemetry > std::chrono::seconds(1)) {
                publish_telemetry();
                last_telemetry = std::chrono::steady_clock::now();
            }
        }
        console.stop();
        http.stop();
        pools.stop();
        if (speaker) {
            // Graceful stop: routers move the VIPs to the backup before the
            // dataplane stops. Wait (at most 2 s) for the CEASE to go out.
            speaker->stop();
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
            while (bgp_transport.open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
                io.run_for(std::chrono::milliseconds(10));
            }
        }
        capture.stop();
        lcores.stop();
        fmt::print("{}", to_text(collect(state.effective(), slots, lcores.refs(),
                                         {port_stats(port, pc.name, pc.device), port_stats(exc, "kernel", tap_if)})));
        rte_eth_dev_stop(port);
        rte_eth_dev_stop(exc);
        rte_eth_dev_close(port);
        rte_eth_dev_close(exc);
        publisher.synchronize();
        rte_mempool_free(pool);
    }
    // Early exits jump here: the block's objects (the RCU publisher, the
    // lcores' memory) are gone before the EAL is.
done:
    eal_cleanup();
    return status;
}

}  // namespace tern::ctl
