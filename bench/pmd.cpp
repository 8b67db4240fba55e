#include "bench/pmd.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <thread>

#include "bench/flows.h"
#include "bench/traffic.h"
#include "control/daemon/eal.h"
#include "control/daemon/ports.h"
#include "control/state/table_builder.h"
#include "dataplane/port.h"
#include "dataplane/rte.h"
#include "dataplane/table_publisher.h"
#include "dataplane/worker.h"

namespace tern::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct LaunchArg {
    dp::Worker* worker;
    const std::atomic<bool>* stop;
};

int worker_main(void* arg) {
    auto* a = static_cast<LaunchArg*>(arg);
    a->worker->run(*a->stop);
    return 0;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int run_pmd(const Args& args) {
    const std::string pcap = args.get("pcap", "");
    if (pcap.empty() || pcap.find(',') != std::string::npos) {
        fmt::print(stderr, "--pcap FILE is required (a path without commas)\n");
        return 2;
    }
    const unsigned nq = static_cast<unsigned>(args.num("lcores", 1));
    const int windows = static_cast<int>(args.num("windows", 5));
    const double window_s = args.num("seconds", 1.0);
    const double warmup_s = args.num("warmup", 1.0);
    const int rebuilds = static_cast<int>(args.num("rebuilds", 0));
    Shape shape;
    shape.vips = static_cast<uint32_t>(args.num("vips", 8));
    shape.servers = static_cast<uint32_t>(args.num("servers", 100));
    shape.table_size = static_cast<uint32_t>(args.num("table-size", 0));  // 0: auto

    std::string rx = "net_pcap0";
    for (unsigned q = 0; q < nq; ++q) rx += ",rx_pcap=" + pcap;
    rx += ",infinite_rx=1";
    std::string exc = "net_null0,no-rx=1";
    std::string memory;
    if (auto err = start_eal(nq, args.flag("no-huge"), {"--vdev", rx, "--vdev", exc}, memory); !err.empty()) {
        fmt::print(stderr, "{}\n", err);
        return 1;
    }
    int status = 0;
    std::string json;
    {
        // infinite_rx keeps a copy of the whole capture per queue in mbufs of this pool.
        ctl::Ports ports;
        ctl::PortsSpec spec;
        ctl::PortSpec& ps = spec.ports.emplace_back();
        ps.data = "net_pcap0";
        ps.data_label = "bench port";
        ps.exception = "net_null0";
        ps.mac = kPortMac;
        spec.queues = static_cast<uint16_t>(nq);
        spec.mbufs = 65536 * nq + 8191;
        spec.pool_name = "bench_pmd";
        if (auto err = ports.open(spec)) {
            fmt::print(stderr, "{}\n", *err);
            return 1;
        }
        const uint16_t data_port = ports.data(), exc_port = ports.exception();

        // The config; for --rebuilds, the largest that fits the counter slots
        // when the requested one does not.
        conf::Config config = make_config(shape);
        dp::TablePublisher publisher(RTE_MAX_LCORE);
        ctl::CounterSlots slots;
        // As `tern run` keeps it: the rings of the latest table, for the next
        // build. Its threads inherit this thread's CPUs (after EAL init, the
        // main lcore's), never the forwarding lcores'.
        const unsigned ring_threads = static_cast<unsigned>(args.num("ring-threads", ctl::ring_build_threads(0)));
        ctl::RingCache rings(ring_threads);
        const auto t_initial = Clock::now();
        ctl::BuildResult built = ctl::build_table(config, slots, 1, {}, &rings);
        double initial_build_s = seconds_since(t_initial);
        std::string requested_error;
        if (!built.table && rebuilds > 0) {
            requested_error = built.error;
            shape.servers = dp::kMaxServerSlots / shape.services();
            config = make_config(shape);
            slots = ctl::CounterSlots();
            const auto t = Clock::now();
            built = ctl::build_table(config, slots, 1, {}, &rings);
            initial_build_s = seconds_since(t);
        }
        if (!built.table || !publisher.ok()) {
            fmt::print(stderr, "cannot build the table: {}\n", built.error);
            return 1;
        }
        publisher.publish(std::move(built.table));

        dp::WorkerConfig wc;
        wc.port_id = data_port;
        wc.exc_port_id = exc_port;
        std::memcpy(wc.port_mac, kPortMac.data(), 6);
        wc.mtu = static_cast<uint16_t>(config.ports[0].mtu);
        wc.icmp_rate_limit = config.dataplane.icmp_rate_limit;
        std::atomic<bool> stop{false};
        std::vector<std::unique_ptr<dp::Worker>> workers;
        std::vector<std::unique_ptr<LaneFlows>> flows;
        const size_t flow_capacity = static_cast<size_t>(args.num("flow-capacity", 1 << 18));
        std::vector<dp::LcoreCounters*> counters;
        std::vector<LaunchArg> launch(nq);
        unsigned q = 0, lcore;
        RTE_LCORE_FOREACH_WORKER(lcore) {
            if (q == nq) break;
            void* mem = rte_zmalloc_socket("bench_counters", sizeof(dp::LcoreCounters), RTE_CACHE_LINE_SIZE,
                                           rte_lcore_to_socket_id(lcore));
            if (mem == nullptr) {
                fmt::print(stderr, "cannot allocate lcore counters\n");
                return 1;
            }
            counters.push_back(new (mem) dp::LcoreCounters());
            wc.queue_id = wc.exc_queue_id = static_cast<uint16_t>(q);
            flows.push_back(std::make_unique<LaneFlows>());
            if (!flows.back()->attach(wc, flow_capacity, static_cast<int>(rte_lcore_to_socket_id(lcore)),
                                      *counters.back())) {
                fmt::print(stderr, "cannot allocate a flow table\n");
                return 1;
            }
            workers.push_back(
                std::make_unique<dp::Worker>(wc, publisher.current(), publisher.qsbr(), *counters.back()));
            launch[q] = {workers.back().get(), &stop};
            rte_eal_remote_launch(worker_main, &launch[q], lcore);
            ++q;
        }
        auto total_rx = [&] {
            uint64_t n = 0;
            for (auto* c : counters) n += c->rx.get();
            return n;
        };

        std::this_thread::sleep_for(std::chrono::duration<double>(warmup_s));
        std::vector<double> mpps, baseline;
        // Per rebuild, for each kind of change: "one" (one server's weight
        // changes in one service: what a depool costs) and "all" (one
        // server's weight changes in every service: every ring is generated).
        struct Rebuilds {
            std::vector<double> build_ms, publish_us, grace_ms, rings_built;
        } one, all;
        // The forwarding rate with no rebuild going on, to compare with.
        for (int w = 0; w < (rebuilds ? 2 : 0); ++w) {
            const uint64_t r0 = total_rx();
            const auto t0 = Clock::now();
            std::this_thread::sleep_for(std::chrono::duration<double>(window_s));
            baseline.push_back(static_cast<double>(total_rx() - r0) / seconds_since(t0) / 1e6);
        }
        if (rebuilds == 0) {
            for (int w = 0; w < windows; ++w) {
                const uint64_t r0 = total_rx();
                const auto t0 = Clock::now();
                std::this_thread::sleep_for(std::chrono::duration<double>(window_s));
                const uint64_t r1 = total_rx();
                mpps.push_back(static_cast<double>(r1 - r0) / seconds_since(t0) / 1e6);
            }
        } else {
            // A server's weight goes from its configured value to half of it,
            // or back: each rebuild's changed rings differ from the previous
            // table's (and from those the cache holds).
            const conf::Config configured = config;
            const auto toggle = [&](size_t svc, size_t k) {
                uint32_t& w = config.services[svc].realservers[k].weight;
                const uint32_t base = configured.services[svc].realservers[k].weight;
                w = w == base ? std::max<uint32_t>(1, base / 2) : base;
            };
            const size_t nsvc = config.services.size();
            uint64_t generation = 1;
            const auto rebuild = [&](Rebuilds& out, bool window) {
                const uint64_t r0 = total_rx();
                const auto t0 = Clock::now();
                ctl::BuildResult b = ctl::build_table(config, slots, ++generation, {}, &rings);
                const double built_s = seconds_since(t0);
                if (!b.table) {
                    fmt::print(stderr, "rebuild {}: {}\n", generation, b.error);
                    return false;
                }
                const auto t1 = Clock::now();
                publisher.publish(std::move(b.table));
                const double pub_s = seconds_since(t1);
                const auto t2 = Clock::now();
                while (publisher.reclaim() == 0 && publisher.retired() > 0) {
                    std::this_thread::sleep_for(std::chrono::microseconds(50));
                }
                const double grace_s = seconds_since(t2);
                out.build_ms.push_back(built_s * 1e3);
                out.publish_us.push_back(pub_s * 1e6);
                out.grace_ms.push_back(grace_s * 1e3);
                out.rings_built.push_back(static_cast<double>(rings.last().built));
                if (window) mpps.push_back(static_cast<double>(total_rx() - r0) / seconds_since(t0) / 1e6);
                return true;
            };
            for (int r = 0; r < rebuilds && status == 0; ++r) {
                toggle(static_cast<size_t>(r) * 389 % nsvc, static_cast<size_t>(r) % shape.servers);
                if (!rebuild(one, false)) status = 1;
            }
            for (int r = 0; r < rebuilds && status == 0; ++r) {
                for (size_t i = 0; i < nsvc; ++i) toggle(i, static_cast<size_t>(r + 1) % shape.servers);
                if (!rebuild(all, true)) status = 1;
            }
        }
        stop.store(true);
        wait_workers_sleeping();

        uint64_t rxs = 0, txs = 0, punts = 0, drops = 0;
        for (auto* c : counters) {
            rxs += c->rx.get();
            txs += c->tx.get();
            punts += c->punt.get();
            drops += c->dropped();
        }
        rte_eth_stats ds{};
        rte_eth_stats_get(data_port, &ds);
        const uint64_t lost = rxs - txs + ds.oerrors;  // every frame is VIP traffic: all must leave
        json = fmt::format(
            "{{\"mode\": {}, \"memory\": {}, \"lcores\": {}, \"pcap\": {}, \"services\": {}, "
            "\"servers_per_service\": {}, \"flow_table\": {}, \"windows_mpps\": {}, \"mpps\": {:.4f}, \"rx\": {}, "
            "\"tx\": {}, \"punt\": {}, \"drops\": {}, \"lost\": {}, \"port_rx\": {}, \"port_tx\": {}",
            jstr(rebuilds ? "rebuild" : "pmd"), jstr(memory), nq, jstr(pcap), shape.services(), shape.servers,
            flow_entry_bytes() ? "true" : "false", jnums(mpps), median(mpps), rxs, txs, punts, drops, lost, ds.ipackets,
            ds.opackets);
        if (rebuilds > 0) {
            // build_ms etc.: every ring changed (the full rebuild, as before
            // the ring cache); one_*: one server's weight in one service.
            json += fmt::format(
                ", \"ring_size\": {}, \"baseline_mpps\": {}, \"requested_error\": {}, \"ring_threads\": {}, "
                "\"initial_build_ms\": {:.2f}, "
                "\"build_ms\": {}, \"publish_us\": {}, \"grace_ms\": {}, \"rings_built\": {}, "
                "\"build_ms_median\": {:.2f}, \"publish_and_grace_ms_median\": {:.3f}, "
                "\"one_build_ms\": {}, \"one_publish_us\": {}, \"one_grace_ms\": {}, \"one_rings_built\": {}, "
                "\"one_build_ms_median\": {:.2f}, \"one_publish_and_grace_ms_median\": {:.3f}",
                config.services.empty() ? 0 : ctl::ring_size(config.services[0]), jnums(baseline),
                jstr(requested_error), ring_threads, initial_build_s * 1e3, jnums(all.build_ms), jnums(all.publish_us),
                jnums(all.grace_ms), jnums(all.rings_built), median(all.build_ms),
                median(all.grace_ms) + median(all.publish_us) / 1e3, jnums(one.build_ms), jnums(one.publish_us),
                jnums(one.grace_ms), jnums(one.rings_built), median(one.build_ms),
                median(one.grace_ms) + median(one.publish_us) / 1e3);
        }
        json += "}\n";
        fmt::print(stderr, "{} x{} lcore(s): {:.2f} Mpps (median of {}), lost {}\n", rebuilds ? "rebuild" : "pmd", nq,
                   median(mpps), mpps.size(), lost);

        ports.close();
        workers.clear();
        flows.clear();
        for (auto* c : counters) {
            c->~LcoreCounters();
            rte_free(c);
        }
        publisher.synchronize();
    }
    fmt::print("{}", json);
    ctl::eal_cleanup();
    return status;
}

}  // namespace tern::bench
