#include "control/daemon/appliance.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sys/resource.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "bgp/asio_io.h"
#include "bgp/speaker.h"
#include "control/config/bgp_settings.h"
#include "control/config/config_diff.h"
#include "control/config/config_load.h"
#include "control/daemon/eal.h"
#include "control/daemon/eal_log.h"
#include "control/daemon/lcores.h"
#include "control/daemon/log.h"
#include "control/daemon/ports.h"
#include "control/daemon/privileges.h"
#include "control/daemon/stats.h"
#include "control/daemon/supervision.h"
#include "control/kernel/kernel_views.h"
#include "control/ops/api.h"
#include "control/ops/capture.h"
#include "control/ops/console.h"
#include "control/ops/http_server.h"
#include "control/ops/metrics.h"
#include "control/ops/operable.h"
#include "control/ops/show_text.h"
#include "control/ops/telemetry.h"
#include "control/state/control_state.h"
#include "dataplane/flow_table.h"
#include "dataplane/rte.h"
#include "dataplane/table_publisher.h"
#include "dataplane/worker.h"

namespace tern::ctl {
namespace {

// Replaced tables waiting for the lcores' grace period before sync() holds
// new ones back (only a worker that stopped reporting lets them pile up).
constexpr size_t kMaxRetiredTables = 16;
// How long a stop waits for the worker lcores to finish their loop.
constexpr std::chrono::seconds kLcoreStopWait{5};

std::atomic<bool> g_quit{false};
std::atomic<bool> g_reload{false};
std::atomic<unsigned> g_stop_signals{0};  // SIGTERM and SIGINT so far: a second one ends the drain

// Signal handlers only set a flag.
void on_signal(int) {
    g_stop_signals.fetch_add(1);
    g_quit.store(true);
}
void on_hup(int) { g_reload.store(true); }

uint64_t now_s() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// The EAL's arguments: the operator's, or the workers of dataplane.lcores
// pinned (one floating worker without it) with hugepages when there are
// enough free (else --no-huge), plus every port's device.
std::vector<std::string> eal_args(const RunOptions& opt, const conf::Config& config) {
    std::vector<std::string> eal = opt.eal_args;
    if (eal.empty()) {
        eal = pinned_lcores_args(config.dataplane);
        if (eal.empty()) eal = {"--lcores", lcores_arg(1)};
        eal.insert(eal.end(), {"--file-prefix", fmt::format("tern-{}", config.node.name)});
        if (hugepages_available(512)) {
            eal.insert(eal.end(), {"--in-memory"});
        } else {
            log(conf::LogLevel::warning, "no free hugepages; running with --no-huge (slower)");
            const uint64_t mb = 512 + 2 * (dp::FlowTable::bytes_for(config.flows.size) >> 20);
            eal.insert(eal.end(), {"--no-huge", "-m", std::to_string(mb), "--no-shconf"});
        }
    }
    const bool any_pci =
        std::any_of(config.ports.begin(), config.ports.end(), [](const conf::Port& pc) { return pc.device_is_pci(); });
    // Virtual devices need no physical addresses, and memory mapped after
    // the capability drop (a capture's) could not get any.
    if (!any_pci && opt.eal_args.empty()) eal.insert(eal.end(), {"--iova-mode", "va"});
    if (!any_pci) eal.push_back("--no-pci");
    for (const conf::Port& pc : config.ports) {
        eal.insert(eal.end(), {pc.device_is_pci() ? "-a" : "--vdev", pc.device});
    }
    return eal;
}

// Health checks hold a socket or two per monitor: thousands of them.
void raise_nofile_limit() {
    rlimit nofile{};
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
}

}  // namespace

// Everything between the EAL's start and its cleanup, declared in the order
// it is built: members are destroyed in the reverse order.
struct Appliance::Parts {
    unsigned queues = 0;  // one per worker lcore
    Ports ports;
    // The control thread's event loop: monitors, pool sources, BGP sessions,
    // timers; signal handlers only set flags, checked every 100 ms.
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work = boost::asio::make_work_guard(io);
    bgp::AsioClock bgp_clock{io};
    bgp::AsioTransport bgp_transport{io};
    std::unique_ptr<bgp::Speaker> speaker;
    std::vector<bgp::Route> announced;
    dp::TablePublisher publisher{RTE_MAX_LCORE};
    std::unique_ptr<KernelViews> kernel;  // next hops from the kernel, through the ports' TAPs
    std::unique_ptr<ControlState> state;
    LcoreSet lcores;
    std::unique_ptr<HttpServer> http;
    class Operations;  // what the console acts on
    std::unique_ptr<Operations> operations;
    std::unique_ptr<Capture> capture;
    std::unique_ptr<Console> console;
    Supervision supervision;                 // systemd: readiness, status, the watchdog
    LcoreWatchdog lcore_watch{kLcoreCheck};  // whether every worker lcore polls
    bool tables_held = false;                // sync() waits for retired tables to be freed
    std::chrono::steady_clock::time_point last_telemetry;
    uint64_t telemetry_pools = 0, telemetry_generation = 0;  // what the last snapshot showed

    std::vector<std::string> port_names, port_devices;
    // How views name port i's exception path: "kernel", or with several
    // ports "kernel-<port>".
    std::string kernel_name(size_t i) const { return ports.count() == 1 ? "kernel" : "kernel-" + port_names[i]; }
    // Counters of the lcores for the effective config, with the ports' when
    // asked: each data port, then each one's kernel interface.
    Stats stats(bool with_ports) {
        std::vector<PortStats> ps;
        if (with_ports) {
            for (size_t i = 0; i < ports.count(); ++i)
                ps.push_back(port_stats(ports.data(i), port_names[i], port_devices[i]));
            for (size_t i = 0; i < ports.count(); ++i) {
                ps.push_back(port_stats(ports.exception(i), kernel_name(i), ports.tap_iface(i)));
            }
        }
        Stats st = collect(state->effective(), state->slots(), lcores.refs(), std::move(ps));
        st.flow_capacity = lcores.flow_capacity();
        return st;
    }
    void publish_telemetry() {
        Telemetry::publish(telemetry_snapshot(state->effective(), state->pools(), stats(false), lcores.flow_capacity(),
                                              state->unresolved()));
        last_telemetry = std::chrono::steady_clock::now();
        telemetry_pools = state->pools().version();
        telemetry_generation = state->generation();
    }
    // Each second, and as soon as pools or the table changed (a reload or a
    // console command shows in dpdk-telemetry.py on the next loop).
    bool telemetry_due() const {
        return std::chrono::steady_clock::now() - last_telemetry > std::chrono::seconds(1) ||
               state->pools().version() != telemetry_pools || state->generation() != telemetry_generation;
    }
};

Appliance::Appliance(RunOptions options) : options_(std::move(options)) {}

Appliance::~Appliance() {
    parts_.reset();  // before the EAL goes
    if (eal_started_) eal_cleanup();
}

int Appliance::start() {
    // Signals are flags from the first moment: a SIGHUP during start-up is
    // a reload once serving, a SIGTERM a stop right after start-up, never
    // the default action (which would kill the process mid-way).
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGHUP, on_hup);
    conf::LoadResult loaded = load_config(options_.config);
    if (!loaded.config) {
        for (const auto& e : loaded.errors) log_error(e.str());
        return 2;
    }
    config_ = *loaded.config;
    started_ = config_;
    route_dpdk_log();
    if (auto err = eal_init(eal_args(options_, config_))) {
        log_error(*err);
        return 1;
    }
    eal_started_ = true;
    raise_nofile_limit();
    parts_ = std::make_unique<Parts>();
    if (int status = start_dataplane()) return status;
    if (int status = start_control()) return status;
    start_operators();
    if (!options_.keep_privileges) {
        const DropResult dropped = drop_privileges();
        (dropped.ok ? log_info : log_error)(dropped.message);
        if (rte_eal_iova_mode() == RTE_IOVA_PA) {
            log(conf::LogLevel::warning,
                "privileges: IOVA as physical addresses: memory the EAL maps from now on (a capture's buffers) "
                "cannot be allocated; tern run --keep-privileges keeps cap_sys_admin for it");
        }
    }
    return 0;
}

// The ports, each with a TAP interface carrying its MAC as its exception
// path (the kernel answers ARP/ND, speaks BGP and takes everything not for
// a VIP that arrived on the port).
int Appliance::start_dataplane() {
    Parts& p = *parts_;
    p.queues = rte_lcore_count() > 1 ? rte_lcore_count() - 1 : 0;
    if (p.queues == 0) {
        log_error("no worker lcore; give the EAL at least two lcores (-l 0-1)");
        return 2;
    }
    if (auto err = p.ports.open(run_ports_spec(config_, static_cast<uint16_t>(p.queues)))) {
        log_error(*err);
        return 1;
    }
    for (const conf::Port& pc : config_.ports) {
        p.port_names.push_back(pc.name);
        p.port_devices.push_back(pc.device);
    }
    return 0;
}

// BGP's listener, the pools and the first table, the lcores, then the routes
// and the monitors: routers and health checks see a forwarding balancer.
int Appliance::start_control() {
    Parts& p = *parts_;
    set_log_level(config_.log.level);
    // The BGP listener before forwarding starts: a passive peer can only
    // reach us through it, so failing to bind is a start-up error then.
    if (config_.bgp) {
        p.speaker = std::make_unique<bgp::Speaker>(speaker_settings(config_), p.bgp_transport, p.bgp_clock,
                                                   [](const std::string& line) { log_info(line); });
        if (auto lerr = p.speaker->listen(); !lerr.empty()) {
            const auto& peers = config_.bgp->peers;
            auto passive = std::find_if(peers.begin(), peers.end(), [](const conf::BgpPeer& x) { return x.passive; });
            if (passive != peers.end()) {
                log_error(fmt::format("bgp: {}; peer {} is passive and can only connect to it", lerr,
                                      passive->address.str()));
                return 1;
            }
            log_error(fmt::format("bgp: {}; running with active sessions only", lerr));
        }
    }
    // Rings of the latest table are reused by the next build where their
    // input did not change; changed ones are built on the CPUs the lcores
    // leave free.
    ControlState::Options so;
    so.ring_threads = ring_build_threads(p.queues);
    p.state = std::make_unique<ControlState>(
        p.io, [](conf::LogLevel level, const std::string& line) { log(level, line); }, &p.publisher, so);
    if (auto perr = p.state->apply(config_, now_s())) {
        log_error(*perr);
        return 2;
    }
    if (!p.ports.tap_iface().empty()) {
        p.kernel = std::make_unique<KernelViews>(
            p.io, [](conf::LogLevel level, const std::string& line) { log(level, line); });
        if (auto kerr = p.kernel->open(config_, p.ports.tap_ifaces())) {
            log_error(fmt::format("the exception path: {}", *kerr));
            return 1;
        }
        p.state->follow_kernel(p.kernel.get());
    }
    // Pool sources answer before the first table (at most 5 s), so that it,
    // and the routes announced after it, hold their pools.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!p.state->pools().settled() && std::chrono::steady_clock::now() < until) {
        p.io.run_for(std::chrono::milliseconds(20));
    }
    for (const auto& [name, err] : p.state->pools().source_errors()) {
        log_error(
            fmt::format("[{}] pool source failing at start: {}; starting with the YAML's realservers", name, err));
    }
    if (auto err = p.state->publish(now_s())) {
        log_error(fmt::format("cannot build the forwarding table: {}", *err));
        return 1;
    }
    dp::WorkerConfig wc;
    set_worker_ports(p.ports, config_, wc);
    wc.icmp_rate_limit = config_.dataplane.icmp_rate_limit;
    if (auto err = p.lcores.start(config_, wc, p.queues, p.publisher, p.ports.rss())) {
        log_error(*err);
        return 1;
    }
    const std::vector<std::string> taps = p.ports.tap_ifaces();
    fmt::print("tern {}: forwarding on {} ({} worker lcore{}), kernel interface{} {}; {} services\n", config_.node.name,
               fmt::join(p.port_names, ", "), p.queues, p.queues == 1 ? "" : "s", taps.size() == 1 ? "" : "s",
               fmt::join(taps, ", "), config_.services.size());
    if (p.queues > 1) {
        for (size_t i = 0; i < p.ports.count(); ++i) {
            fmt::print("tern {}: {}: {}\n", config_.node.name, p.port_names[i], p.ports.rss(i).describe());
        }
        if (p.ports.count() > 1) {
            fmt::print("tern {}: the lcore owning a flow: {}\n", config_.node.name,
                       p.ports.rss().toeplitz ? "computed (the same Toeplitz key and table on every port)"
                                              : "not computable; ICMP errors are offered to each lcore in turn");
        }
    }
    std::fflush(stdout);
    // The kernel resolves the servers' MACs through the running lcores:
    // routers get the VIPs once they are known (or after 3 s; the servers
    // still unknown are alerts).
    const auto resolved_by = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (p.kernel && !p.state->unresolved().empty() && std::chrono::steady_clock::now() < resolved_by) {
        p.io.run_for(std::chrono::milliseconds(20));
        sync();
    }
    p.announced = vip_routes(config_);
    if (p.speaker) {
        p.speaker->start();
        // Forwarding is up: routers may send us the VIPs now.
        p.speaker->announce(vip_routes(config_));
    }
    // Health checks start once forwarding is up (servers start as up and
    // pooled, as in PyBal).
    p.state->pools().start();
    return 0;
}

// What the console's commands look at and act on, over the appliance's parts.
class Appliance::Parts::Operations final : public Operable {
public:
    Operations(Appliance& appliance, Parts& parts) : a_(appliance), p_(parts) {}
    ControlState& state() override { return *p_.state; }
    conf::Config effective_config() override {
        a_.sync();
        return p_.state->effective();
    }
    Stats stats() override { return p_.stats(true); }
    double uptime() const override {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    }
    std::optional<Stats> rate_base(const std::string& view, const Stats& now, double& seconds) override {
        const auto t = std::chrono::steady_clock::now();
        auto it = rates_.find(view);
        if (it == rates_.end()) {
            rates_.emplace(view, std::make_pair(now, t));
            seconds = 0;
            return std::nullopt;
        }
        seconds = std::chrono::duration<double>(t - it->second.second).count();
        Stats before = std::exchange(it->second.first, now);
        it->second.second = t;
        return before;
    }
    const bgp::Speaker* speaker() const override { return p_.speaker.get(); }
    std::string flows(size_t max) override {
        size_t live = 0;
        for (const auto& s : p_.stats(false).services) {
            for (const auto& r : s.servers) live += r.active_conns + r.inactive_conns;
        }
        return flows_text(p_.lcores.sample_flows(max), p_.state->slots(), live, p_.lcores.flow_capacity());
    }
    std::string connections(size_t max) override {
        // tern run's flow clock: TSC seconds (dp::Worker::clock).
        const auto now = static_cast<uint32_t>(rte_get_tsc_cycles() / rte_get_tsc_hz());
        return connections_text(p_.lcores.sample_flows(max), p_.state->slots(), p_.state->effective(), now);
    }
    std::string reload() override {
        const std::string r = a_.reload();
        (r.find("rejected") != std::string::npos ? log_error : log_info)(r);
        return r;
    }
    const std::string& config_path() const override { return a_.options_.config; }
    Capture* capture() override { return p_.capture.get(); }
    std::vector<std::string> critical() const override { return a_.critical(); }
    std::string stall_lcore(unsigned lcore, unsigned seconds) override {
        if (auto err = p_.lcores.stall(lcore, seconds)) return *err;
        log_error(fmt::format("debug stall: lcore {} busy-waits {} s (console)", lcore, seconds));
        return "";
    }

private:
    Appliance& a_;
    Parts& p_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    // Per view: the counters of its last show and when.
    std::map<std::string, std::pair<Stats, std::chrono::steady_clock::time_point>> rates_;
};

// The HTTP API (PyBal's /pools and /alerts, /metrics), the console on its
// UNIX socket (and this terminal with --interactive), DPDK telemetry.
void Appliance::start_operators() {
    Parts& p = *parts_;
    listen_http();
    p.operations = std::make_unique<Parts::Operations>(*this, p);
    // Whole frames: the MTU, Ethernet header, a VLAN tag.
    const auto q = static_cast<uint16_t>(p.queues);
    std::vector<CapturePort> capture_ports;
    uint32_t mtu = 0;
    for (size_t i = 0; i < p.ports.count(); ++i) {
        capture_ports.push_back({p.port_names[i], p.ports.data(i), q});
        mtu = std::max(mtu, config_.ports[i].mtu);
    }
    for (size_t i = 0; i < p.ports.count(); ++i) {
        capture_ports.push_back({p.kernel_name(i), p.ports.exception(i), q});
    }
    p.capture = std::make_unique<Capture>(std::move(capture_ports), mtu + 18 + 4);
    p.console = std::make_unique<Console>(p.io, *p.operations, [] { g_quit.store(true); });
    listen_console();
    if (options_.interactive) {
        if (auto ierr = p.console->interactive(); !ierr.empty()) log_info(ierr);
    }
    // DPDK telemetry (dpdk-telemetry.py): Tern's endpoints beside the EAL's.
    if (auto terr = Telemetry::register_endpoints(); !terr.empty()) log_info(terr);
    p.publish_telemetry();
}

// A new server each time (a reload closes the old one: its connections
// finish the request they are in).
std::string Appliance::listen_http() {
    Parts& p = *parts_;
    if (p.http) p.http->stop();
    p.http = std::make_unique<HttpServer>(p.io, [this, &p](const HttpRequest& req) {
        return api_answer(
            p.state->pools(), req,
            [&p] {
                return metrics_text(p.state->pools(), p.stats(true), p.speaker.get(), p.lcores.flow_capacity(),
                                    p.state->unresolved(), &p.state->publish_times()) +
                       lcore_metrics_text(p.lcores.heartbeats(), p.lcore_watch.stalled());
            },
            p.state->unresolved(), critical());
    });
    p.http->set_limits({.max_connections = config_.http.max_connections}, log);
    if (!config_.http.enabled) return {};
    if (auto herr = p.http->listen(config_.http.address, config_.http.port); !herr.empty()) {
        const std::string e = fmt::format("http api: {}; running without it", herr);
        log_error(e);
        return e;
    }
    log_info(fmt::format("http api on {}:{}", config_.http.address.str(), p.http->port()));
    return {};
}

// Sessions attached to the old socket stay.
std::string Appliance::listen_console() {
    Parts& p = *parts_;
    p.console->unlisten();
    if (!config_.console.enabled) return {};
    if (auto cerr = p.console->listen(config_.console.socket); !cerr.empty()) {
        const std::string e = fmt::format("{}; running without the console socket", cerr);
        log_error(e);
        return e;
    }
    log_info(fmt::format("console on {} (tern console --socket {})", config_.console.socket, config_.console.socket));
    return {};
}

void Appliance::serve() {
    Parts& p = *parts_;
    while (!g_quit.load()) {
        p.publisher.reclaim();
        // A capture's ring is drained often; otherwise the loop wakes each 100 ms.
        p.io.run_for(std::chrono::milliseconds(p.capture->running() ? 5 : 100));
        p.capture->poll();
        if (g_reload.exchange(false)) {
            p.supervision.reloading();
            const std::string r = reload();
            (r.find("rejected") != std::string::npos ? log_error : log_info)(r);
            p.supervision.reloaded(status());
        }
        // Grace periods of removed servers that ended.
        p.state->expire(now_s());
        const bool progress = watch_lcores();
        sync();
        announce();
        if (p.telemetry_due()) p.publish_telemetry();
        p.supervision.tick(p.speaker.get(), progress, status());
    }
}

// Each control loop: whether every worker lcore made progress at the last
// check (every kLcoreCheck); says when one stalls or resumes.
bool Appliance::watch_lcores() {
    Parts& p = *parts_;
    const LcoreWatchdog::Verdict v = p.lcore_watch.check(LcoreWatchdog::Clock::now(), p.lcores.heartbeats());
    for (unsigned l : v.stalled) {
        log_error(
            fmt::format("watchdog: worker lcore {} made no progress in {} ms: the traffic RSS gives it is not "
                        "forwarded, and systemd's watchdog is not fed{}",
                        l, kLcoreCheck.count(), no_worker() ? "; no worker forwards: withdrawing the routes" : ""));
    }
    for (unsigned l : v.resumed) log_info(fmt::format("watchdog: worker lcore {} makes progress again", l));
    return p.lcore_watch.stalled().empty();
}

// Every worker lcore stalled: nothing forwards, so routers must not send here.
bool Appliance::no_worker() const {
    const Parts& p = *parts_;
    return p.queues > 0 && p.lcore_watch.stalled().size() >= p.queues;
}

// The appliance's own critical conditions, for /alerts.
std::vector<std::string> Appliance::critical() const {
    const Parts& p = *parts_;
    const auto& stalled = p.lcore_watch.stalled();
    if (stalled.empty()) return {};
    std::string list;
    for (unsigned l : stalled) list += fmt::format("{}{}", list.empty() ? "" : ", ", l);
    return {fmt::format("Worker lcores {} make no progress: their share of the traffic is not forwarded{}", list,
                        no_worker() ? "; routes withdrawn" : "")};
}

// systemd's STATUS= line.
std::string Appliance::status() const {
    const Parts& p = *parts_;
    return fmt::format("forwarding on {} ({} worker lcore{}); {} services", fmt::join(p.port_names, ", "), p.queues,
                       p.queues == 1 ? "" : "s", config_.services.size());
}

// After the routes are withdrawn: forwarding goes on for bgp.drain_time
// (counted from the withdrawal, the CEASE's wait included) while the
// routers move the VIPs to another balancer, so established connections
// are not cut while routers still send to us. A second SIGTERM or SIGINT
// ends it at once. Says so and returns the drain's end.
std::chrono::steady_clock::time_point Appliance::start_drain() {
    const unsigned secs = config_.bgp ? config_.bgp->drain_time : 0;
    const auto now = std::chrono::steady_clock::now();
    drain_signals_ = g_stop_signals.load();
    if (secs == 0) return now;
    log_info(fmt::format("draining for {} s; routes withdrawn (bgp.drain_time; a second SIGTERM stops at once)", secs));
    parts_->supervision.status(fmt::format("draining for {} s; routes withdrawn", secs));
    return now + std::chrono::seconds(secs);
}

void Appliance::drain(std::chrono::steady_clock::time_point until) {
    Parts& p = *parts_;
    if (std::chrono::steady_clock::now() >= until) return;
    while (std::chrono::steady_clock::now() < until) {
        if (g_stop_signals.load() != drain_signals_) {
            log_info("drain: stop signal; stopping at once");
            return;
        }
        p.publisher.reclaim();
        p.io.run_for(std::chrono::milliseconds(50));
        p.supervision.tick(p.speaker.get(), watch_lcores(), "draining");
    }
    log_info("drain over; stopping the dataplane");
}

void Appliance::stop() {
    if (!parts_) return;
    Parts& p = *parts_;
    p.supervision.stopping("stopping: withdrawing routes");
    if (p.console) p.console->stop();
    if (p.http) p.http->stop();
    if (p.state) p.state->pools().stop();
    if (p.speaker) {
        // Graceful stop: routers move the VIPs to the backup before the
        // dataplane stops. Wait (at most 2 s) for the CEASE to go out.
        p.speaker->stop();
        const auto drain_until = start_drain();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (p.bgp_transport.open_connections() > 0 && std::chrono::steady_clock::now() < deadline &&
               g_stop_signals.load() == drain_signals_) {
            p.io.run_for(std::chrono::milliseconds(10));
        }
        drain(drain_until);
    }
    if (p.capture) p.capture->stop();
    if (!p.lcores.stop(kLcoreStopWait)) {
        // A worker that does not come back still uses the ports, the pool
        // and its table: nothing can be freed, so the process ends here
        // (the kernel takes the TAPs, the memory and the sockets).
        log_error(fmt::format("stop: worker lcores did not stop within {} s; exiting without cleanup",
                              kLcoreStopWait.count()));
        if (p.state) fmt::print("{}", to_text(p.stats(true)));
        std::fflush(stdout);
        std::fflush(stderr);
        std::_Exit(1);
    }
    if (p.state) fmt::print("{}", to_text(p.stats(true)));
    p.ports.close();
    p.publisher.synchronize();
    parts_.reset();
}

// Pool state and operator changes to a new table, when anything changed.
// While replaced tables wait for a worker that does not report quiescent
// (a stalled lcore), new ones wait too: memory stays bounded, and the next
// table once they are freed carries every change meanwhile.
void Appliance::sync() {
    Parts& p = *parts_;
    if (p.publisher.retired() >= kMaxRetiredTables) {
        if (!p.tables_held) {
            log_error(
                fmt::format("{} replaced tables wait for a worker lcore to report; new tables wait until they "
                            "are freed",
                            p.publisher.retired()));
        }
        p.tables_held = true;
        return;
    }
    if (p.tables_held) log_info("replaced tables freed; publishing again");
    p.tables_held = false;
    if (auto err = parts_->state->publish(now_s())) {
        log_error(fmt::format("cannot build the forwarding table: {}; the previous one stays", *err));
    }
}

// The VIP routes to announce: all, or with bgp.withdraw_unpooled those whose
// services have a pooled, enabled server.
void Appliance::announce() {
    Parts& p = *parts_;
    if (!p.speaker) return;
    const bool unpooled = config_.bgp && config_.bgp->withdraw_unpooled;
    std::vector<bgp::Route> now = vip_routes(config_);
    const bool stalled = no_worker();
    if (stalled) now.clear();
    if (unpooled) {
        std::set<bgp::Address> serving;
        for (const auto& vip : p.state->pools().serving_vips(config_)) serving.insert(to_address(vip));
        std::erase_if(now, [&](const bgp::Route& r) { return !serving.count(r.prefix.addr); });
    }
    if (now == p.announced) return;
    for (const auto& r : p.announced) {
        if (std::find(now.begin(), now.end(), r) == now.end()) {
            log_info(fmt::format("bgp: withdrawing {}{}", r.prefix.str(),
                                 stalled    ? " (no worker lcore makes progress)"
                                 : unpooled ? " (gone from the config, or no pooled server: bgp.withdraw_unpooled)"
                                            : " (gone from the config)"));
        }
    }
    for (const auto& r : now) {
        if (std::find(p.announced.begin(), p.announced.end(), r) == p.announced.end()) {
            log_info(fmt::format("bgp: announcing {}", r.prefix.str()));
        }
    }
    p.announced = now;
    p.speaker->announce(std::move(now));
}

// Keys that need a restart are compared with the config tern run started
// with (they still hold its values), the others with the last one loaded.
std::string Appliance::reload() {
    conf::LoadResult next = load_config(options_.config);
    std::optional<std::string> aerr;
    if (next.config) aerr = parts_->state->apply(*next.config, now_s());
    if (!next.config || aerr) {
        std::string msg = fmt::format("reload of {} rejected; the running config stays:", options_.config);
        for (const auto& e : next.errors) msg += "\n  " + e.str();
        if (aerr) msg += "\n  " + *aerr;
        return msg;
    }
    ConfigDiff diff;
    diff.changes = diff_config(config_, *next.config).live();
    for (auto& c : diff_config(started_, *next.config).restart()) diff.changes.push_back(std::move(c));
    const std::vector<std::string> done = apply_live(diff, *next.config);
    std::string msg =
        fmt::format("reloaded {}: {} services; {}", options_.config, next.config->services.size(), diff.text());
    for (const auto& line : done) msg += "\n  " + line;
    return msg;
}

// config_ becomes `next`; then each part whose keys changed takes them.
// Services went through ControlState::apply already (the next table).
std::vector<std::string> Appliance::apply_live(const ConfigDiff& diff, const conf::Config& next) {
    Parts& p = *parts_;
    config_ = next;
    std::vector<std::string> done;
    if (diff.touches("log")) set_log_level(config_.log.level);
    if (diff.touches("flows.timeouts") || diff.touches("dataplane.icmp_rate_limit")) p.lcores.set_tunables(config_);
    // Whatever changed under bgp (node.ipv4/ipv6 are the default router id
    // and next hops); a speaker exists when tern run started with bgp.
    if (p.speaker && config_.bgp) {
        for (auto& line : p.speaker->reconfigure(speaker_settings(config_))) done.push_back(std::move(line));
    }
    announce();  // MEDs, VIPs, withdraw_unpooled
    // The node's addresses on the exception path's interface follow.
    if (p.kernel && (diff.touches("node.ipv4") || diff.touches("node.ipv6") || diff.touches("ports"))) {
        if (auto e = p.kernel->set_addresses(config_)) done.push_back(*e);
    }
    if (diff.touches("http")) {
        if (auto e = listen_http(); !e.empty()) done.push_back(e);
    }
    if (diff.touches("console")) {
        if (auto e = listen_console(); !e.empty()) done.push_back(e);
    }
    return done;
}

int run_appliance(const RunOptions& options) {
    Appliance appliance(options);
    if (int status = appliance.start()) return status;
    appliance.serve();
    appliance.stop();
    return 0;
}

}  // namespace tern::ctl
