// The worker lcores of `tern run` and `tern replay`: their counters, flow
// tables and Worker objects, launched on the EAL's worker lcores and
// stopped together. Control thread only.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "control/daemon/stats.h"
#include "control/daemon/watchdog.h"
#include "dataplane/flow_table.h"
#include "dataplane/table_publisher.h"
#include "dataplane/worker.h"

namespace tern::ctl {

dp::FlowTimeouts flow_timeouts(const conf::Flows& flows);
// What a reload may change on running lcores: flow timeouts, the ICMP rate.
dp::WorkerTunables worker_tunables(const conf::Config& config);

class LcoreSet {
public:
    LcoreSet() = default;
    LcoreSet(const LcoreSet&) = delete;
    LcoreSet& operator=(const LcoreSet&) = delete;
    ~LcoreSet();

    // Starts `queues` workers, worker i on queue i of the ports in `base`.
    // With several, `rss` says how the data port spreads flows over the
    // queues, and each worker gets an inbox for packets about its flows
    // that arrived on another (dp::Steering).
    std::optional<std::string> start(const conf::Config& config, const dp::WorkerConfig& base, unsigned queues,
                                     dp::TablePublisher& publisher, const dp::RssLayout& rss = {});
    // Stops every worker and waits for them (each finishes its burst), at
    // most `limit`: false when one still runs then (a stalled lcore), and
    // nothing it uses may be freed.
    bool stop(std::optional<std::chrono::milliseconds> limit = std::nullopt);
    // A reload's flow timeouts and ICMP rate: each lcore takes them at its
    // next loop (replay: at the event's barrier). Published only when they
    // differ from the running ones.
    void set_tunables(const conf::Config& config);

    const std::vector<LcoreRef>& refs() const { return refs_; }
    uint64_t rx() const;
    // Up to `max` live flows read from the lcores' tables while they run (a
    // racy snapshot for people: an entry may be caught mid-update), with the
    // lcore each came from. Starts at a different place each call.
    std::vector<dp::FlowSample> sample_flows(size_t max) const;
    size_t flow_capacity() const;
    // Every worker's loop counter, for the watchdog.
    std::vector<Heartbeat> heartbeats() const;
    // Fault injection (the console's `debug stall`): worker lcore `lcore`
    // busy-waits `seconds` at its next loop. An error when there is no such worker.
    std::optional<std::string> stall(unsigned lcore, unsigned seconds);

private:
    struct Lcore {
        unsigned id = 0;
        dp::LcoreCounters* counters = nullptr;
        void* flow_mem = nullptr;                  // dp::FlowTable::bytes_for(flows.size)
        void* flow_rte = nullptr;                  // flow_mem when rte_zmalloc'd (EAL hugepages), for rte_free
        std::unique_ptr<dp::FlowMemory> flow_thp;  // else flow_mem's owner (transparent huge pages)
        std::unique_ptr<dp::FlowTable> flows;
        std::unique_ptr<dp::Worker> worker;
        const std::atomic<bool>* stop = nullptr;
    };
    static int main(void* arg);
    // A zeroed flow table's memory for `l` (`bytes` for `capacity` entries):
    // EAL hugepages when the EAL has them, else transparent huge pages
    // (dp::FlowMemory); nullptr when neither can be had.
    static void* alloc_flows(Lcore& l, size_t capacity, size_t bytes, int socket);

    std::vector<std::unique_ptr<Lcore>> lcores_;
    std::vector<LcoreRef> refs_;
    std::vector<const dp::LcoreCounters*> peers_;  // every lcore's counters, for wlc
    dp::Steering steering_;                        // its inboxes are freed (and emptied) here
    std::atomic<bool> stop_{false};
    // The published tunables; every one stays until the lcores are gone
    // (a reload that changes them costs 52 bytes, and no lcore waits).
    std::vector<std::unique_ptr<const dp::WorkerTunables>> tunables_kept_;
    std::atomic<const dp::WorkerTunables*> tunables_{nullptr};
    bool running_ = false;
    mutable size_t sample_from_ = 0;
};

}  // namespace tern::ctl
