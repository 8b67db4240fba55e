#include "bench/pipeline.h"

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>

#include "bench/flows.h"
#include "bench/traffic.h"
#include "control/daemon/eal.h"
#include "control/state/table_builder.h"
#include "dataplane/port.h"
#include "dataplane/rte.h"
#include "dataplane/worker.h"

namespace tern::bench {
namespace {

// Per-burst cycle histogram: 8-cycle buckets up to 32768 cycles, last one open.
constexpr uint32_t kBucketCycles = 8;
constexpr uint32_t kBuckets = 4096;

// One worker lcore's share: its own mbufs, counters and Worker, the shared table.
struct Lane {
    Case c = Case::dr;
    std::atomic<const dp::Table*> table{nullptr};
    std::vector<Frame> frames;
    std::vector<rte_mbuf*> mbufs;
    dp::LcoreCounters* counters = nullptr;
    std::unique_ptr<dp::Worker> worker;
    std::unique_ptr<LaneFlows> flows;
    rte_mempool* pool = nullptr;
    double seconds = 1.0;
    uint64_t bursts = 0;  // > 0: a fixed number of bursts, no deadline
    // The warm-up run: also until every frame has been seen once (the flows
    // are in the table: with 10M flows that takes longer than `seconds`),
    // and for syn_flood until the table evicts (it is full).
    bool warm_up = false;
    const std::atomic<bool>* go = nullptr;
    uint64_t serial = 0;    // new-flow case: next unique flow
    size_t next_frame = 0;  // frames are dealt into the mbufs round-robin
    // Results of the last run.
    uint64_t packets = 0, cycles = 0, loop_cycles = 0, tx = 0, punt = 0;
    uint32_t out_len = 0;  // length of the first packet out, to show the rewrite (DR 60, IPIP 74)
    std::vector<uint64_t> hist;
    std::string error;
};

// Refills mbufs [first, first + n) with the next frames, as a NIC writes
// received frames into recycled buffers: classify_burst rewrote them (DR: the
// MACs; IPIP: an outer header in the headroom), so every frame is copied
// whole and the mbuf's offsets reset. Outside the timed region. There are
// more flows (frames) than mbufs, so consecutive laps see different flows.
void restore(Lane& l, size_t first, uint16_t n) {
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = l.mbufs[first + i];
        m->data_off = RTE_PKTMBUF_HEADROOM;
        m->data_len = kFrameLen;
        m->pkt_len = kFrameLen;
        auto* d = rte_pktmbuf_mtod(m, uint8_t*);
        std::memcpy(d, l.frames[l.next_frame].data(), kFrameLen);
        if (++l.next_frame == l.frames.size()) l.next_frame = 0;
        if (new_each_lap(l.c, d)) make_unique_flow(d, l.serial++);
    }
}

// The warm-up's end (Lane::warm_up) after `b` bursts.
bool warmed(const Lane& l, uint64_t b) {
    if (b * dp::kBurst < l.frames.size()) return false;
    return l.c != Case::syn_flood || l.flows->evictions() > 0;
}

int lane_main(void* arg) {
    Lane& l = *static_cast<Lane*>(arg);
    dp::BurstOut out;
    const size_t nb = l.mbufs.size() / dp::kBurst;
    const dp::Table* t = l.table.load(std::memory_order_acquire);
    l.hist.assign(kBuckets, 0);
    l.packets = l.cycles = l.tx = l.punt = 0;
    while (!l.go->load(std::memory_order_acquire)) rte_pause();
    const uint64_t start = rte_rdtsc();
    const uint64_t end = start + static_cast<uint64_t>(l.seconds * static_cast<double>(rte_get_tsc_hz()));
    uint64_t b = 0;
    for (;;) {
        const size_t first = (b % nb) * dp::kBurst;
        rte_mbuf** pkts = &l.mbufs[first];
        const uint64_t t0 = rte_rdtsc();
        l.worker->classify_burst(t, pkts, dp::kBurst, out);
        const uint64_t t1 = rte_rdtsc();
        if (unlikely(out.n_tx + out.n_punt != dp::kBurst)) {
            // Some mbufs were dropped (and freed): this lane cannot go on.
            l.error = fmt::format("{} of {} packets neither forwarded nor punted (drops: {})",
                                  dp::kBurst - out.n_tx - out.n_punt, dp::kBurst, l.counters->dropped());
            l.mbufs.clear();
            break;
        }
        // A case measures one path: a packet taking another would flatter or
        // spoil the figure (mix: two of them, by design).
        if (unlikely(l.c != Case::mix && (l.c == Case::punt ? out.n_punt : out.n_tx) != dp::kBurst)) {
            l.error = fmt::format("the case expects every packet {}, got {} forwarded, {} punted",
                                  l.c == Case::punt ? "punted" : "forwarded", out.n_tx, out.n_punt);
            break;
        }
        if (b == 0) l.out_len = rte_pktmbuf_pkt_len(pkts[0]);
        l.tx += out.n_tx;
        l.punt += out.n_punt;
        out.n_tx = out.n_punt = 0;
        restore(l, first, dp::kBurst);
        const uint64_t dt = t1 - t0;
        l.cycles += dt;
        ++l.hist[std::min<uint64_t>(dt / kBucketCycles, kBuckets - 1)];
        ++b;
        if (l.bursts ? b >= l.bursts : t1 >= end && (!l.warm_up || warmed(l, b))) break;
    }
    l.loop_cycles = rte_rdtsc() - start;
    l.packets = b * dp::kBurst;
    return 0;
}

struct HistSummary {
    double p50 = 0, p90 = 0, p99 = 0, p999 = 0;  // ns per burst
};

HistSummary summarize(const std::vector<uint64_t>& hist, double ns_per_cycle) {
    uint64_t total = 0;
    for (auto n : hist) total += n;
    HistSummary s;
    if (total == 0) return s;
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    double* outs[] = {&s.p50, &s.p90, &s.p99, &s.p999};
    for (int q = 0; q < 4; ++q) {
        const uint64_t want = static_cast<uint64_t>(qs[q] * static_cast<double>(total));
        uint64_t seen = 0;
        for (size_t i = 0; i < hist.size(); ++i) {
            seen += hist[i];
            if (seen > want) {
                *outs[q] = (static_cast<double>(i) + 0.5) * kBucketCycles * ns_per_cycle;
                break;
            }
        }
    }
    return s;
}

// The histogram as [[ns, count], ...] for the buckets that were hit.
std::string hist_json(const std::vector<uint64_t>& hist, double ns_per_cycle) {
    std::string o = "[";
    bool first = true;
    for (size_t i = 0; i < hist.size(); ++i) {
        if (hist[i] == 0) continue;
        o += fmt::format("{}[{:.1f}, {}]", first ? "" : ", ", static_cast<double>(i * kBucketCycles) * ns_per_cycle,
                         hist[i]);
        first = false;
    }
    return o + "]";
}

std::vector<unsigned> parse_lcores(const std::string& s) {
    std::vector<unsigned> v;
    size_t pos = 0;
    while (pos < s.size()) {
        size_t comma = s.find(',', pos);
        if (comma == std::string::npos) comma = s.size();
        v.push_back(static_cast<unsigned>(std::stoul(s.substr(pos, comma - pos))));
        pos = comma + 1;
    }
    return v;
}

}  // namespace

int run_pipeline(const Args& args) {
    const std::vector<unsigned> lcore_counts = parse_lcores(args.get("lcores", "1"));
    unsigned max_lanes = 1;
    for (unsigned n : lcore_counts) max_lanes = std::max(max_lanes, n);
    const uint32_t flows = static_cast<uint32_t>(args.num("flows", 4096));
    const uint32_t nmbufs = static_cast<uint32_t>(args.num("mbufs", 512));
    if (nmbufs < dp::kBurst || nmbufs % dp::kBurst != 0 || flows == 0) {
        fmt::print(stderr, "--mbufs must be a multiple of {}\n", dp::kBurst);
        return 2;
    }
    const int runs = static_cast<int>(args.num("runs", 5));
    const size_t flow_capacity = static_cast<size_t>(args.num("flow-capacity", 1 << 18));
    const double seconds = args.num("seconds", 1.0);
    const uint64_t bursts = static_cast<uint64_t>(args.num("bursts", 0));
    Shape shape;
    shape.vips = static_cast<uint32_t>(args.num("vips", 8));
    shape.servers = static_cast<uint32_t>(args.num("servers", 100));
    std::vector<const CaseInfo*> todo;
    if (args.flag("case")) {
        const CaseInfo* ci = find_case(args.get("case", ""));
        if (ci == nullptr) {
            fmt::print(stderr, "unknown --case '{}'\n", args.get("case", ""));
            return 2;
        }
        todo.push_back(ci);
    } else {
        for (const auto& c : cases()) todo.push_back(&c);
    }

    std::string memory;
    if (auto err = start_eal(max_lanes, args.flag("no-huge"), args.eal(), memory); !err.empty()) {
        fmt::print(stderr, "{}\n", err);
        return 1;
    }
    const double hz = static_cast<double>(rte_get_tsc_hz());
    const double ns_per_cycle = 1e9 / hz;

    std::vector<std::unique_ptr<Lane>> lanes;
    std::vector<unsigned> lane_lcore;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        if (lanes.size() == max_lanes) break;
        auto l = std::make_unique<Lane>();
        l->pool = dp::create_pool(fmt::format("bench{}", lanes.size()), nmbufs + 1023,
                                  static_cast<int>(rte_lcore_to_socket_id(lcore)));
        void* mem = rte_zmalloc_socket("bench_counters", sizeof(dp::LcoreCounters), RTE_CACHE_LINE_SIZE,
                                       rte_lcore_to_socket_id(lcore));
        if (l->pool == nullptr || mem == nullptr) {
            fmt::print(stderr, "cannot allocate mbufs or counters: {}\n", rte_strerror(rte_errno));
            return 1;
        }
        l->counters = static_cast<dp::LcoreCounters*>(mem);
        lanes.push_back(std::move(l));
        lane_lcore.push_back(lcore);
    }

    std::string json = fmt::format(
        "{{\"mode\": \"pipeline\", \"memory\": {}, \"tsc_hz\": {:.0f}, \"flows_per_lcore\": {}, \"mbufs_per_lcore\": {}, "
        "\"services\": {}, \"servers_per_service\": {}, \"burst\": {}, "
        "\"flow_entry_bytes\": {}, \"flow_capacity\": {}, \"cases\": [",
        jstr(memory), hz, flows, nmbufs, shape.services(), shape.servers, dp::kBurst, flow_entry_bytes(),
        flow_entry_bytes() ? flow_capacity : 0);
    bool first_entry = true;
    int status = 0;
    for (const CaseInfo* ci : todo) {
        const conf::Config config = case_config(ci->id, shape);
        const std::string why = not_implemented(ci->id, config);
        if (!why.empty()) {
            json += fmt::format("{}{{\"case\": {}, \"what\": {}, \"status\": \"n/a\", \"reason\": {}}}",
                                first_entry ? "" : ", ", jstr(ci->name), jstr(ci->what),
                                jstr("not implemented yet: " + why));
            first_entry = false;
            fmt::print(stderr, "pipeline {}: n/a: not implemented yet: {}\n", ci->name, why);
            continue;
        }
        ctl::CounterSlots slots;
        ctl::BuildResult built = ctl::build_table(config, slots, 1);
        if (!built.table) {
            fmt::print(stderr, "pipeline {}: cannot build the table: {}\n", ci->name, built.error);
            return 1;
        }
        for (unsigned n : lcore_counts) {
            // Fresh mbufs, counters and workers for each case and lane count.
            for (unsigned i = 0; i < n; ++i) {
                Lane& l = *lanes[i];
                l.c = ci->id;
                l.table.store(built.table.get(), std::memory_order_release);
                l.frames = make_frames(ci->id, config, flows, i + 1);
                l.mbufs.assign(nmbufs, nullptr);
                if (rte_pktmbuf_alloc_bulk(l.pool, l.mbufs.data(), nmbufs) != 0) {
                    fmt::print(stderr, "cannot allocate {} mbufs\n", nmbufs);
                    return 1;
                }
                l.serial = 0;
                l.next_frame = 0;
                for (size_t k = 0; k < nmbufs; k += dp::kBurst) restore(l, k, dp::kBurst);
                l.counters->~LcoreCounters();
                new (l.counters) dp::LcoreCounters();
                dp::WorkerConfig wc;
                std::memcpy(wc.port_mac, kPortMac.data(), 6);
                wc.mtu = static_cast<uint16_t>(config.ports[0].mtu);
                wc.icmp_rate_limit = config.dataplane.icmp_rate_limit;
                l.worker.reset();
                l.flows = std::make_unique<LaneFlows>();
                const int socket = static_cast<int>(rte_lcore_to_socket_id(lane_lcore[i]));
                if (!l.flows->attach(wc, flow_capacity, socket, *l.counters)) {
                    fmt::print(stderr, "cannot allocate a flow table of {} entries\n", flow_capacity);
                    return 1;
                }
                l.worker = std::make_unique<dp::Worker>(wc, l.table, nullptr, *l.counters);
            }
            std::vector<double> mpps, wall_mpps;
            std::vector<std::vector<uint64_t>> hists;  // lane 0's, per run
            std::string error;
            // Run 0 warms the caches and is not counted.
            const int last = bursts ? 1 : runs;
            for (int r = bursts ? 1 : 0; r <= last; ++r) {
                std::atomic<bool> go{false};
                for (unsigned i = 0; i < n; ++i) {
                    Lane& l = *lanes[i];
                    l.go = &go;
                    l.seconds = r == 0 ? 0.2 : seconds;
                    l.warm_up = r == 0;
                    l.bursts = bursts;
                    l.error.clear();
                    rte_eal_remote_launch(lane_main, &l, lane_lcore[i]);
                }
                go.store(true, std::memory_order_release);
                wait_workers_sleeping();
                double sum = 0, wall = 0;
                for (unsigned i = 0; i < n; ++i) {
                    const Lane& l = *lanes[i];
                    if (!l.error.empty()) error = l.error;
                    if (l.cycles > 0) sum += static_cast<double>(l.packets) / (l.cycles / hz) / 1e6;
                    if (l.loop_cycles > 0) wall += static_cast<double>(l.packets) / (l.loop_cycles / hz) / 1e6;
                }
                if (!error.empty()) break;
                if (r == 0) continue;
                mpps.push_back(sum);
                wall_mpps.push_back(wall);
                hists.push_back(lanes[0]->hist);
            }
            const double m = median(mpps);
            // The histogram of the run closest to the median.
            std::vector<uint64_t> best_hist;
            double best = 1e300;
            for (size_t k = 0; k < mpps.size(); ++k) {
                if (std::abs(mpps[k] - m) < best) {
                    best = std::abs(mpps[k] - m);
                    best_hist = hists[k];
                }
            }
            // Of the last run, all lanes.
            uint64_t tx = 0, punt = 0;
            for (unsigned i = 0; i < n; ++i) {
                tx += lanes[i]->tx;
                punt += lanes[i]->punt;
            }
            const HistSummary hs = summarize(best_hist, ns_per_cycle);
            json += fmt::format(
                "{}{{\"case\": {}, \"what\": {}, \"status\": {}, \"error\": {}, \"lcores\": {}, "
                "\"packets_per_run\": {}, \"runs_mpps\": {}, \"runs_wall_mpps\": {}, \"mpps\": {:.4f}, "
                "\"ns_per_packet\": {:.3f}, \"burst_ns\": {{\"p50\": {:.1f}, \"p90\": {:.1f}, "
                "\"p99\": {:.1f}, \"p999\": {:.1f}}}, \"last_run_tx\": {}, \"last_run_punt\": {}, "
                "\"out_len\": {}, \"flow_evictions\": {}, \"flows_in_table\": {}, "
                "\"burst_hist_ns\": {}}}",
                first_entry ? "" : ", ", jstr(ci->name), jstr(ci->what), jstr(error.empty() ? "ok" : "error"),
                jstr(error), n, lanes[0]->packets, jnums(mpps), jnums(wall_mpps), m, m > 0 ? 1e3 * n / m : 0, hs.p50,
                hs.p90, hs.p99, hs.p999, tx, punt, lanes[0]->out_len, lanes[0]->flows->evictions(),
                lanes[0]->flows->size(), hist_json(best_hist, ns_per_cycle));
            first_entry = false;
            if (!error.empty()) {
                fmt::print(stderr, "pipeline {} x{}: {}\n", ci->name, n, error);
                status = 1;
                continue;  // the lanes' mbufs are partly freed: leave them
            }
            fmt::print(stderr, "pipeline {} x{} lcore(s): {:.2f} Mpps, {:.1f} ns/packet per lcore\n", ci->name, n, m,
                       m > 0 ? 1e3 * n / m : 0);
            for (unsigned i = 0; i < n; ++i) {
                rte_pktmbuf_free_bulk(lanes[i]->mbufs.data(), static_cast<unsigned>(lanes[i]->mbufs.size()));
                lanes[i]->mbufs.clear();
                lanes[i]->worker.reset();
                lanes[i]->flows.reset();
            }
        }
    }
    json += "]}\n";
    fmt::print("{}", json);
    for (auto& l : lanes) {
        l->worker.reset();
        l->flows.reset();
        if (l->mbufs.empty()) rte_mempool_free(l->pool);
        l->counters->~LcoreCounters();
        rte_free(l->counters);
    }
    ctl::eal_cleanup();
    return status;
}

}  // namespace tern::bench
