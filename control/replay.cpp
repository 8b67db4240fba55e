#include "control/replay.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "conf/config.h"
#include "control/desired_state.h"
#include "control/eal.h"
#include "control/events.h"
#include "control/lcores.h"
#include "control/pcap_io.h"
#include "control/stats.h"
#include "control/table_builder.h"
#include "dataplane/flow_table.h"
#include "dataplane/port.h"
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
        rec->stamps.push_back(rec->offset >= 0
                                  ? *RTE_MBUF_DYNFIELD(pkts[i], rec->offset, rte_mbuf_timestamp_t*)
                                  : 0);
    }
    return n;
}

void print_errors(const std::vector<conf::Error>& errors) {
    for (const auto& e : errors) fmt::print(stderr, "{}\n", e.str());
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


}  // namespace

int run_replay(const ReplayOptions& opt) {
    conf::LoadResult loaded = conf::load_file(opt.config);
    if (!loaded.errors.empty()) {
        print_errors(loaded.errors);
        return 2;
    }
    const conf::Config& config = *loaded.config;
    if (auto errs = unsupported(config); !errs.empty()) {
        print_errors(errs);
        return 2;
    }
    if (opt.lcores < 1 || opt.lcores > 16) {
        fmt::print(stderr, "--lcores {}: must be 1..16 (the pcap PMD has 16 queues at most)\n", opt.lcores);
        return 2;
    }
    const conf::Port& port_conf = config.ports.at(0);
    std::vector<Event> events;
    if (!opt.events.empty()) {
        EventsResult ev = load_events(opt.events);
        if (!ev.errors.empty()) {
            print_errors(ev.errors);
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

    std::vector<std::string> eal = {"--lcores", lcores_arg(nq), "--no-pci", "--no-telemetry",
                                    "--log-level", "*:warning",
                                    "--file-prefix", fmt::format("tern-replay-{}", getpid())};
    if (opt.eal_args.empty()) {
        // Memory: mbufs and tables, plus each lcore's flow table.
        const uint64_t mb = 256 + nq * ((dp::FlowTable::bytes_for(config.flows.size) >> 20) + 8);
        eal.insert(eal.end(), {"--no-huge", "-m", std::to_string(mb), "--no-shconf"});
    } else {
        eal.insert(eal.end(), opt.eal_args.begin(), opt.eal_args.end());
    }
    std::string data_vdev = "net_pcap_rx0";
    std::string exc_vdev = "net_pcap_punt0";
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
    int status = 0;
    {
        uint16_t data_port = 0, exc_port = 0;
        if (rte_eth_dev_get_port_by_name(data_vdev.c_str(), &data_port) != 0 ||
            rte_eth_dev_get_port_by_name(exc_vdev.c_str(), &exc_port) != 0) {
            fmt::print(stderr, "the pcap PMD did not create its ports (is librte-net-pcap installed?)\n");
            eal_cleanup();
            return 1;
        }
        const uint32_t mbufs = 4096 * nq + 4095;
        rte_mempool* pool = dp::create_pool("tern_replay", mbufs, rte_socket_id());
        if (pool == nullptr) {
            fmt::print(stderr, "cannot create the mbuf pool ({} mbufs): {}\n", mbufs, rte_strerror(rte_errno));
            eal_cleanup();
            return 1;
        }
        dp::PortSetup ps;
        ps.port_id = data_port;
        ps.rx_queues = ps.tx_queues = static_cast<uint16_t>(nq);
        ps.mtu = port_conf.mtu;
        ps.mac = port_conf.mac ? port_conf.mac->data() : nullptr;
        ps.pool = pool;
        dp::PortSetup es = ps;
        es.port_id = exc_port;
        es.mac = nullptr;
        for (const auto* s : {&ps, &es}) {
            if (auto err = dp::setup_port(*s)) {
                fmt::print(stderr, "{}\n", *err);
                eal_cleanup();
                return 1;
            }
        }
        const int ts_offset = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, nullptr);
        std::vector<TxStamps> tx_stamps(nq), punt_stamps(nq);
        for (unsigned q = 0; q < nq; ++q) {
            tx_stamps[q].offset = punt_stamps[q].offset = ts_offset;
            rte_eth_add_tx_callback(data_port, q, record_stamps, &tx_stamps[q]);
            rte_eth_add_tx_callback(exc_port, q, record_stamps, &punt_stamps[q]);
        }

        dp::TablePublisher publisher(RTE_MAX_LCORE);
        CounterSlots slots;
        // Rings of the latest table, reused by the next build where their
        // input did not change; changed ones built on the CPUs the lcores
        // leave free.
        RingCache rings(ring_build_threads(nq));
        DesiredState state(config);
        uint64_t generation = 1;
        const auto built = publisher.ok() ? build_and_publish(config, {}, slots, rings, generation, publisher)
                                          : std::optional<std::string>("RCU allocation failed");
        if (built) {
            fmt::print(stderr, "cannot build the forwarding table: {}\n", *built);
            eal_cleanup();
            return 1;
        }

        dp::WorkerConfig wc;
        wc.port_id = data_port;
        wc.exc_port_id = exc_port;
        dp::port_mac(data_port, wc.port_mac);
        if (port_conf.mac) std::memcpy(wc.port_mac, port_conf.mac->data(), 6);
        wc.mtu = static_cast<uint16_t>(port_conf.mtu);
        wc.icmp_rate_limit = config.dataplane.icmp_rate_limit;
        // Replay's clock is the capture's: flows age on packet timestamps.
        wc.timestamp_offset = ts_offset;
        const int ts_flag = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, nullptr);
        wc.timestamp_flag = ts_flag >= 0 ? (uint64_t{1} << ts_flag) : 0;
        // The steps replay stops at: every event, and the end of every grace
        // period a reload starts (found by applying the events to a copy).
        struct Step {
            uint64_t at_us;
            int event;  // index into events, or -1: grace periods end
        };
        std::vector<Step> steps;
        {
            DesiredState sim(config);
            for (size_t i = 0; i < events.size(); ++i) {
                while (auto x = sim.next_expiry()) {
                    if (*x * 1000000 > events[i].at_us) break;
                    steps.push_back({*x * 1000000, -1});
                    sim.expire(*x);
                }
                (void)apply_event(events[i], sim);
                steps.push_back({events[i].at_us, static_cast<int>(i)});
            }
            while (auto x = sim.next_expiry()) {
                steps.push_back({*x * 1000000, -1});
                sim.expire(*x);
            }
        }
        dp::EventBarrier barrier;
        for (const auto& st : steps) barrier.times_us.push_back(st.at_us);
        if (!steps.empty()) wc.events = &barrier;
        LcoreSet lcores;
        if (auto err = lcores.start(config, wc, nq, publisher)) {
            fmt::print(stderr, "{}\n", *err);
            return 1;
        }

        // Stop when every input packet has been received (each lcore
        // finishes the burst it is in), or when nothing moves for 5 s.
        using clock = std::chrono::steady_clock;
        uint64_t last = 0;
        auto last_change = clock::now();
        size_t next = 0;  // the next event to apply
        // An lcore is at event k when it stopped there, or when it has
        // received its whole share of the input and will never get there.
        auto all_at = [&](size_t k) {
            for (const auto& ref : lcores.refs()) {
                const bool waiting = barrier.reached[ref.lcore].load(std::memory_order_acquire) >= k + 1;
                if (!waiting && ref.counters->rx.get() < split.per_queue[ref.queue]) return false;
            }
            return true;
        };
        for (;;) {
            if (next < steps.size() && all_at(next)) {
                // The same path as in `tern run`: desired state, new table, publish.
                const Step& step = steps[next];
                Event grace_end;
                grace_end.action = "end of grace period";
                grace_end.where = opt.events;
                const Event& e = step.event >= 0 ? events[static_cast<size_t>(step.event)] : grace_end;
                std::optional<std::string> err;
                if (step.event >= 0) {
                    err = apply_event(e, state);
                } else {
                    state.expire(step.at_us / 1000000);
                }
                if (err) {
                    fmt::print(stderr, "{}: event {} ignored: {}\n", e.where, e.action, *err);
                } else if (auto berr = build_and_publish(state.effective(), state.down(), slots, rings,
                                                         ++generation, publisher)) {
                    fmt::print(stderr, "{}: event {}: cannot build the table: {}\n", e.where, e.action, *berr);
                }
                barrier.applied.store(static_cast<uint32_t>(++next), std::memory_order_release);
                last_change = clock::now();
                continue;
            }
            const uint64_t rx = lcores.rx();
            if (rx >= total_in && next == steps.size()) break;
            if (rx != last) {
                last = rx;
                last_change = clock::now();
            } else if (clock::now() - last_change > std::chrono::seconds(5)) {
                fmt::print(stderr, "replay: {} of {} input packets were never received\n",
                           total_in - rx, total_in);
                status = 1;
                break;
            }
            publisher.reclaim();
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        lcores.stop();

        std::vector<PortStats> ports = {port_stats(data_port, port_conf.name, "pcap:" + opt.in)};
        Stats st = collect(state.effective(), slots, lcores.refs(), ports);
        rte_eth_dev_stop(data_port);
        rte_eth_dev_stop(exc_port);
        rte_eth_dev_close(data_port);  // closes the PMD's dumpers: files complete
        rte_eth_dev_close(exc_port);

        std::vector<std::vector<uint64_t>> txs, punts;
        for (unsigned i = 0; i < nq; ++i) {
            txs.push_back(std::move(tx_stamps[i].stamps));
            punts.push_back(std::move(punt_stamps[i].stamps));
        }
        if (auto err = merge_captures(tx_files, txs, opt.out)) {
            fmt::print(stderr, "--out: {}\n", *err);
            status = 1;
        }
        if (!opt.punt.empty()) {
            if (auto err = merge_captures(punt_files, punts, opt.punt)) {
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
        rte_mempool_free(pool);
    }
    eal_cleanup();
    return status;
}

}  // namespace tern::ctl
