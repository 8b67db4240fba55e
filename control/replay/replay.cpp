#include "control/replay/replay.h"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "conf/config.h"
#include "control/config/config_load.h"
#include "control/daemon/eal.h"
#include "control/daemon/lcores.h"
#include "control/daemon/ports.h"
#include "control/daemon/stats.h"
#include "control/replay/events.h"
#include "control/replay/pcap_io.h"
#include "control/state/control_state.h"
#include "control/state/table_builder.h"
#include "dataplane/flow_table.h"
#include "dataplane/rte.h"
#include "dataplane/table_publisher.h"
#include "dataplane/worker.h"

namespace tern::ctl {
namespace {

namespace fs = std::filesystem;

// The input packet's time travels with the mbuf (the pcap PMD stores it in
// the RX timestamp dynfield); TX callbacks note it for every transmitted
// packet so that the output records carry it instead of the wall clock the
// PMD writes. Replay only; one recorder per TX queue, touched by one lcore.
struct TxStamps {
    int offset = -1;
    std::vector<uint64_t> stamps;
};

uint16_t record_stamps(uint16_t, uint16_t, rte_mbuf** pkts, uint16_t n, void* arg) {
    auto* rec = static_cast<TxStamps*>(arg);
    for (uint16_t i = 0; i < n; ++i) {
        rec->stamps.push_back(rec->offset >= 0 ? *RTE_MBUF_DYNFIELD(pkts[i], rec->offset, rte_mbuf_timestamp_t*) : 0);
    }
    return n;
}

class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "tern-replay-XXXXXX").string();
        if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        if (!path_.empty()) fs::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// The steps replay stops at: every event, and the end of every grace
// period (found by applying the events to a copy of the control state that
// builds no tables).
struct Step {
    uint64_t at_us;
    int event;  // index into events, or -1: grace periods end
};

std::vector<Step> plan_steps(const conf::Config& config, const std::vector<Event>& events) {
    std::vector<Step> steps;
    boost::asio::io_context io;
    ControlState sim(io, nullptr, nullptr, {.pool_sources = false});
    (void)sim.apply(config, 0);
    (void)sim.publish(0);
    for (size_t i = 0; i < events.size(); ++i) {
        while (auto x = sim.next_expiry()) {
            if (*x * 1000000 > events[i].at_us) break;
            steps.push_back({*x * 1000000, -1});
            sim.expire(*x);
            (void)sim.publish(*x);
        }
        (void)apply_event(events[i], sim);
        (void)sim.publish(events[i].at_us / 1000000);
        steps.push_back({events[i].at_us, static_cast<int>(i)});
    }
    while (auto x = sim.next_expiry()) {
        steps.push_back({*x * 1000000, -1});
        sim.expire(*x);
        (void)sim.publish(*x);
    }
    return steps;
}

// The capture split over the queues, and where each queue's output goes.
struct ReplayFiles {
    std::vector<std::string> tx, punt;
    std::vector<uint64_t> per_queue;  // input packets per queue
    uint64_t total_in = 0;
    std::string data_vdev, exc_vdev;
};

// Applies the steps as the lcores reach them, through the same door as
// `tern run` (control state, new table, publish), until every input packet
// has been received (each lcore finishes the burst it is in), or nothing
// moved for 5 s. Returns the exit status.
int drive(const ReplayOptions& opt, const std::vector<Event>& events, const std::vector<Step>& steps,
          const ReplayFiles& files, ControlState& state, dp::EventBarrier& barrier, LcoreSet& lcores,
          dp::TablePublisher& publisher) {
    using clock = std::chrono::steady_clock;
    uint64_t last = 0;
    auto last_change = clock::now();
    size_t next = 0;  // the next step to apply
    // An lcore is at step k when it stopped there, or when it has received
    // its whole share of the input and will never get there.
    auto all_at = [&](size_t k) {
        for (const auto& ref : lcores.refs()) {
            const bool waiting = barrier.reached[ref.lcore].load(std::memory_order_acquire) >= k + 1;
            if (!waiting && ref.counters->rx.get() < files.per_queue[ref.queue]) return false;
        }
        return true;
    };
    for (;;) {
        if (next < steps.size() && all_at(next)) {
            const Step& step = steps[next];
            Event grace_end;
            grace_end.action = "end of grace period";
            grace_end.where = opt.events;
            const Event& e = step.event >= 0 ? events[static_cast<size_t>(step.event)] : grace_end;
            std::optional<std::string> err;
            if (step.event >= 0) {
                err = apply_event(e, state);
                // A reload's flow timeouts and ICMP rate, as tern run's (the
                // lcores take them at this event's barrier).
                if (!err) lcores.set_tunables(state.effective());
            } else {
                state.expire(step.at_us / 1000000);
            }
            if (err) {
                fmt::print(stderr, "{}: event {} ignored: {}\n", e.where, e.action, *err);
            } else if (auto berr = state.publish(step.at_us / 1000000)) {
                fmt::print(stderr, "{}: event {}: cannot build the table: {}\n", e.where, e.action, *berr);
            }
            barrier.applied.store(static_cast<uint32_t>(++next), std::memory_order_release);
            last_change = clock::now();
            continue;
        }
        const uint64_t rx = lcores.rx();
        if (rx >= files.total_in && next == steps.size()) return 0;
        if (rx != last) {
            last = rx;
            last_change = clock::now();
        } else if (clock::now() - last_change > std::chrono::seconds(5)) {
            fmt::print(stderr, "replay: {} of {} input packets were never received\n", files.total_in - rx,
                       files.total_in);
            return 1;
        }
        publisher.reclaim();
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

// Everything between the EAL's start and its cleanup.
int replay_on_eal(const ReplayOptions& opt, const conf::Config& config, const std::vector<Event>& events,
                  const ReplayFiles& files) {
    const unsigned nq = opt.lcores;
    const conf::Port& port_conf = config.ports.at(0);
    Ports ports;
    PortsSpec spec;
    PortSpec& ps = spec.ports.emplace_back();
    ps.data = files.data_vdev;
    ps.data_label = fmt::format("ports[0] {}", port_conf.name);
    ps.exception = files.exc_vdev;
    ps.mtu = port_conf.mtu;
    ps.mac = port_conf.mac;
    spec.missing_hint = "is librte-net-pcap installed?";
    spec.queues = static_cast<uint16_t>(nq);
    spec.mbufs = 4096 * nq + 4095;
    spec.pool_name = "tern_replay";
    if (auto err = ports.open(spec)) {
        fmt::print(stderr, "{}\n", *err);
        return 1;
    }
    const int ts_offset = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, nullptr);
    std::vector<TxStamps> tx_stamps(nq), punt_stamps(nq);
    for (unsigned q = 0; q < nq; ++q) {
        tx_stamps[q].offset = punt_stamps[q].offset = ts_offset;
        rte_eth_add_tx_callback(ports.data(), static_cast<uint16_t>(q), record_stamps, &tx_stamps[q]);
        rte_eth_add_tx_callback(ports.exception(), static_cast<uint16_t>(q), record_stamps, &punt_stamps[q]);
    }
    // The same control state as `tern run`'s, its pools as configured: no
    // pool sources, no monitors; its lines go to stderr from the first event on.
    dp::TablePublisher publisher(RTE_MAX_LCORE);
    boost::asio::io_context io;
    bool quiet = true;
    ControlState::Options so;
    so.pool_sources = false;
    so.ring_threads = ring_build_threads(nq);
    ControlState state(
        io,
        [&quiet](conf::LogLevel level, const std::string& line) {
            if (!quiet && level != conf::LogLevel::debug) fmt::print(stderr, "replay: {}\n", line);
        },
        &publisher, so);
    std::optional<std::string> built = state.apply(config, 0);
    if (!built) built = state.publish(0);
    if (built) {
        fmt::print(stderr, "cannot build the forwarding table: {}\n", *built);
        return 1;
    }
    quiet = false;

    dp::WorkerConfig wc;
    wc.port_id = ports.data();
    wc.exc_port_id = ports.exception();
    std::memcpy(wc.port_mac, ports.mac(), 6);
    wc.mtu = static_cast<uint16_t>(port_conf.mtu);
    wc.icmp_rate_limit = config.dataplane.icmp_rate_limit;
    // Replay's clock is the capture's: flows age on packet timestamps.
    wc.timestamp_offset = ts_offset;
    const int ts_flag = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, nullptr);
    wc.timestamp_flag = ts_flag >= 0 ? (uint64_t{1} << ts_flag) : 0;
    const std::vector<Step> steps = plan_steps(config, events);
    dp::EventBarrier barrier;
    for (const auto& st : steps) barrier.times_us.push_back(st.at_us);
    if (!steps.empty()) wc.events = &barrier;
    LcoreSet lcores;
    // The queues' flows are where split_capture put them (RssLayout::replay).
    if (auto err = lcores.start(config, wc, nq, publisher, dp::RssLayout::replay(static_cast<uint16_t>(nq)))) {
        fmt::print(stderr, "{}\n", *err);
        return 1;
    }
    int status = drive(opt, events, steps, files, state, barrier, lcores, publisher);
    lcores.stop();

    std::vector<PortStats> port_list = {port_stats(ports.data(), port_conf.name, "pcap:" + opt.in)};
    Stats st = collect(state.effective(), state.slots(), lcores.refs(), port_list);
    ports.close();  // closes the PMD's dumpers: files complete
    std::vector<std::vector<uint64_t>> txs, punts;
    for (unsigned i = 0; i < nq; ++i) {
        txs.push_back(std::move(tx_stamps[i].stamps));
        punts.push_back(std::move(punt_stamps[i].stamps));
    }
    if (auto err = merge_captures(files.tx, txs, opt.out)) {
        fmt::print(stderr, "--out: {}\n", *err);
        status = 1;
    }
    if (!opt.punt.empty()) {
        if (auto err = merge_captures(files.punt, punts, opt.punt)) {
            fmt::print(stderr, "--punt: {}\n", *err);
            status = 1;
        }
    }
    fmt::print("{}", to_text(st));
    if (!opt.stats.empty()) {
        std::ofstream f(opt.stats);
        f << to_json(st);
        if (!f) {
            fmt::print(stderr, "--stats {}: cannot write: {}\n", opt.stats, std::strerror(errno));
            status = 1;
        }
    }
    publisher.synchronize();
    return status;
}

}  // namespace

int run_replay(const ReplayOptions& opt) {
    conf::LoadResult loaded = load_config(opt.config);
    if (!loaded.config) {
        fmt::print(stderr, "{}", error_lines(loaded.errors));
        return 2;
    }
    const conf::Config& config = *loaded.config;
    // One capture pair is one wire: a config of several ports would need a
    // pair per port and an order between them, which replay does not have.
    if (config.ports.size() > 1) {
        fmt::print(stderr,
                   "{}: {} ports configured; tern replay drives one port from one capture (--in, --out, "
                   "--punt): replay a config with only the port the capture was taken on\n",
                   opt.config, config.ports.size());
        return 2;
    }
    if (opt.lcores < 1 || opt.lcores > 16) {
        fmt::print(stderr, "--lcores {}: must be 1..16 (the pcap PMD has 16 queues at most)\n", opt.lcores);
        return 2;
    }
    std::vector<Event> events;
    if (!opt.events.empty()) {
        EventsResult ev = load_events(opt.events);
        if (!ev.errors.empty()) {
            fmt::print(stderr, "{}", error_lines(ev.errors));
            return 2;
        }
        events = std::move(ev.events);
    }
    TempDir tmp;
    if (tmp.path().empty()) {
        fmt::print(stderr, "cannot create a temporary directory: {}\n", std::strerror(errno));
        return 1;
    }
    const unsigned nq = opt.lcores;

    // Spread the input over the RX queues as RSS would. The PMD's kvargs
    // cannot carry commas, so it only ever sees paths in our directory.
    std::vector<std::string> rx_files, tx_files, punt_files;
    for (unsigned q = 0; q < nq; ++q) {
        rx_files.push_back(tmp.file(fmt::format("rx{}.pcap", q)));
        tx_files.push_back(tmp.file(fmt::format("tx{}.pcap", q)));
        punt_files.push_back(tmp.file(fmt::format("punt{}.pcap", q)));
    }
    SplitResult split = split_capture(opt.in, rx_files);
    if (!split.error.empty()) {
        fmt::print(stderr, "--in: {}\n", split.error);
        return 2;
    }
    uint64_t total_in = 0;
    for (auto n : split.per_queue) total_in += n;

    std::vector<std::string> eal = {
        "--lcores",    lcores_arg(nq), "--no-pci",      "--no-telemetry",
        "--log-level", "*:warning",    "--file-prefix", fmt::format("tern-replay-{}", getpid())};
    if (opt.eal_args.empty()) {
        // Memory: mbufs and tables, plus each lcore's flow table.
        const uint64_t mb = 256 + nq * ((dp::FlowTable::bytes_for(config.flows.size) >> 20) + 8);
        eal.insert(eal.end(), {"--no-huge", "-m", std::to_string(mb), "--no-shconf"});
    } else {
        eal.insert(eal.end(), opt.eal_args.begin(), opt.eal_args.end());
    }
    const std::string data_vdev = "net_pcap_rx0";
    const std::string exc_vdev = "net_pcap_punt0";
    {
        std::string d = data_vdev, e = exc_vdev;
        for (unsigned q = 0; q < nq; ++q) d += fmt::format(",rx_pcap={},tx_pcap={}", rx_files[q], tx_files[q]);
        for (unsigned q = 0; q < nq; ++q) e += fmt::format(",tx_pcap={}", punt_files[q]);
        eal.insert(eal.end(), {"--vdev", d, "--vdev", e});
    }
    if (auto err = eal_init(eal)) {
        fmt::print(stderr, "{}\n", *err);
        return 1;
    }
    ReplayFiles files{tx_files, punt_files, split.per_queue, total_in, data_vdev, exc_vdev};
    const int status = replay_on_eal(opt, config, events, files);
    eal_cleanup();
    return status;
}

}  // namespace tern::ctl
