// One worker lcore: polls its RX queue on the port and on the exception
// path, runs every packet to completion, transmits in bursts. Lcore-local:
// a Worker is created on the control thread and then used only by its lcore.
#pragma once

#include <atomic>
#include <cstdint>

#include "dataplane/counters.h"
#include "dataplane/table.h"

struct rte_mbuf;
struct rte_rcu_qsbr;

namespace tern::dp {

inline constexpr uint16_t kBurst = 32;

struct WorkerConfig {
    uint16_t port_id = 0;
    uint16_t queue_id = 0;
    uint16_t exc_port_id = 0;   // the exception path (TAP to the kernel, or a pcap in replay)
    uint16_t exc_queue_id = 0;
    uint8_t port_mac[6] = {};
};

// Where each packet of a burst went; filled by Worker::classify_burst.
struct BurstOut {
    rte_mbuf* tx[kBurst];
    rte_mbuf* punt[kBurst];
    uint16_t n_tx = 0;
    uint16_t n_punt = 0;
};

class Worker {
public:
    Worker(const WorkerConfig& cfg, const std::atomic<const Table*>& table, rte_rcu_qsbr* qsbr,
           LcoreCounters& counters);

    // The lcore loop; returns when `stop` becomes true. Registers with RCU as
    // thread `rte_lcore_id()` and stays online while running.
    void run(const std::atomic<bool>& stop);

    // Classifies and rewrites up to kBurst packets against table `t`: each
    // mbuf ends in out.tx, in out.punt, or freed and counted as a drop.
    // Counts rx. No system calls, no allocation.
    void classify_burst(const Table* t, rte_mbuf** pkts, uint16_t n, BurstOut& out);

    // Sends what classify_burst produced; frees and counts what the queues refuse.
    void transmit(BurstOut& out);

    LcoreCounters& counters() { return counters_; }

private:
    WorkerConfig cfg_;
    const std::atomic<const Table*>& table_;
    rte_rcu_qsbr* qsbr_;
    LcoreCounters& counters_;
};

}  // namespace tern::dp
