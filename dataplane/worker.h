// One worker lcore: polls its RX queue on every port and on each port's
// exception path, runs every packet to completion, transmits in bursts (one
// TX burst per port). Lcore-local:
// a Worker is created on the control thread and then used only by its lcore.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/counters.h"
#include "dataplane/flow_table.h"
#include "dataplane/packet.h"
#include "dataplane/punt_policy.h"
#include "dataplane/rss.h"
#include "dataplane/table.h"

struct rte_mbuf;
struct rte_rcu_qsbr;
struct rte_ring;

namespace tern::dp {

inline constexpr uint16_t kBurst = 32;

struct EventBarrier;

// What control may change while the lcores run (a reload): published whole
// with one pointer store (release) and never written again; each lcore
// takes it at its next loop (and, in replay, right after an event barrier).
// Control keeps every published one alive until the lcores stop.
struct WorkerTunables {
    FlowTimeouts timeouts;
    uint32_t icmp_rate_limit = 1000;  // generated ICMP per second on each lcore
};

// A data port after the first, with its own exception path (`tern run`
// with several ports); the worker uses queue queue_id / exc_queue_id there too.
struct WorkerPort {
    uint16_t port_id = 0;
    uint16_t exc_port_id = 0;
    uint8_t mac[6] = {};
    uint16_t mtu = 1500;
};

struct WorkerConfig {
    // The first port (index 0 of ServerEntry::port) and its exception path.
    uint16_t port_id = 0;
    uint16_t queue_id = 0;
    uint16_t exc_port_id = 0;  // the exception path (TAP to the kernel, or a pcap in replay)
    uint16_t exc_queue_id = 0;
    uint8_t port_mac[6] = {};
    uint16_t mtu = 1500;  // largest IP packet the port sends
    // The other ports, index i + 1 of ServerEntry::port (at most kMaxPorts - 1).
    std::vector<WorkerPort> more_ports;
    uint32_t icmp_rate_limit = 1000;  // generated ICMP per second on this lcore
    FlowTable* flows = nullptr;       // this lcore's flow table; nullptr: stateless (hash only)
    // The flow clock: the mbuf RX timestamp dynfield (microseconds; replay,
    // where time is the capture's), or -1 for the TSC.
    int timestamp_offset = -1;
    uint64_t timestamp_flag = 0;
    EventBarrier* events = nullptr;  // replay only
    // Every lcore's counters (this one's included), for wlc's connection
    // counts; complete before the lcores start, read-only afterwards.
    const std::vector<const LcoreCounters*>* peers = nullptr;
    // Reloadable settings (nullptr: those above, for good); the lcore
    // compares the pointer once per loop, never per packet.
    const std::atomic<const WorkerTunables*>* tunables = nullptr;
    // With several lcores: which lcore owns a flow, and their inboxes
    // (queue_id is this lcore's). nullptr: one lcore, nothing handed over.
    const Steering* steering = nullptr;
};

// Where each packet of a burst went; filled by Worker::classify_burst.
struct BurstOut {
    rte_mbuf* tx[kBurst];    // to the first port
    rte_mbuf* punt[kBurst];  // to the exception path of port punt_port (where they arrived)
    uint16_t n_tx = 0;
    uint16_t n_punt = 0;
    // To the other ports (several ports): each packet with its port's index;
    // transmit() sends them in one burst per port.
    uint16_t n_side = 0;
    uint8_t punt_port = 0;
    uint8_t side_port[kBurst];
    rte_mbuf* side[kBurst];
    bool full() const { return n_tx == kBurst || n_punt == kBurst || n_side == kBurst; }
};

// Control events pinned to capture times (`tern replay --events`): each
// lcore stops at the first packet at or after event k's time, says so, and
// waits until control has applied event k and published its table. Shared
// between control and the lcores; sized before the lcores start.
struct EventBarrier {
    std::vector<uint64_t> times_us;                    // capture time of each event, ascending
    std::atomic<uint32_t> applied{0};                  // events applied and published (control writes)
    std::array<std::atomic<uint32_t>, 128> reached{};  // per lcore id: events reached (lcore writes)
};

// FlowTable::Release for a table whose ctx is the lcore's LcoreCounters:
// takes the flow out of its server's connection counts.
void release_flow_counts(void* counters, const FlowEntry& e, ConnState state);

class Worker {
public:
    Worker(const WorkerConfig& cfg, const std::atomic<const Table*>& table, rte_rcu_qsbr* qsbr,
           LcoreCounters& counters);

    // The lcore loop; returns when `stop` becomes true. Registers with RCU as
    // thread `rte_lcore_id()` and stays online while running.
    void run(const std::atomic<bool>& stop);

    // The per-burst function of every lcore (`tern run`, `tern replay` and
    // so every pcap case, the benchmarks): classifies and rewrites `n`
    // packets against table `t`; each mbuf ends in out.tx, in out.punt, or
    // freed and counted as a drop. Counts rx. With the TSC clock and at most
    // kBurst packets (tern run) the burst is one run; with the capture clock
    // (replay) it is cut into runs of one clock second that stop before a
    // packet an event is due at, and each goes through the same passes. No
    // system calls, no allocation (replay's event barrier spins).
    void classify_burst(const Table* t, rte_mbuf** pkts, uint16_t n, BurstOut& out);

    // Sends what classify_burst produced; frees and counts what the queues
    // refuse. What goes to the kernel first passes its class's token bucket
    // (police_punts).
    void transmit(BurstOut& out);
    // transmit()'s part for out.side.
    void transmit_side(BurstOut& out);

    LcoreCounters& counters() { return counters_; }

    // Handles the packets other lcores handed to this one (ICMP errors about
    // a flow this lcore owns) against table `t`, into `out` (transmitting
    // when it fills). With the capture clock only those captured at or
    // before `due_us` (the owner has received its own packets up to then),
    // every one that is due until the inbox is empty, the rest stay held for
    // a later call; with the TSC up to kHeld a call, or all with `drain`.
    // run() calls it every iteration; tests may call it directly.
    void serve_inbox(const Table* t, uint64_t due_us, BurstOut& out, bool drain = false);

    // Fault injection for the watchdog (the console's `debug stall`): the
    // lcore busy-waits `tsc_cycles` at its next loop, receiving nothing and
    // reporting no quiescent state, as a stuck lcore would. Control thread;
    // the lcore reads the request once per loop (relaxed).
    void stall(uint64_t tsc_cycles) { stall_cycles_.store(tsc_cycles, std::memory_order_relaxed); }

private:
    // Per-run invariants of the table (classify_run), hoisted out of the per-packet path.
    struct Hot {
        const Table* t;
        FlowTable* flows;
        PacketsBytes* services;  // counters_.services, .servers
        PacketsBytes* servers;
        uint32_t generation;
        uint32_t src4;       // IPIP outer IPv4 source prefix, as it lies in memory
        uint32_t src4_host;  // the flow-hash bits that pick within it (0: one address)
    };
    Hot hot(const Table* t) const;
    // The three passes of classify_burst over `n` (<= kBurst) packets that
    // share table `t` and flow clock now_. Pass 1 recognises each packet's
    // shape (is_fast_v4), looks its service up and hashes it, prefetching
    // its flow bucket; pass 2 matches the signatures in the arrived buckets
    // and prefetches the entries (or a new flow's ring entry); pass 3
    // forwards, punts or drops each packet. Without a flow table (kFlowTable
    // false: stateless) pass 2 has nothing to do and the fast shape goes
    // through forward_v4_uncommon. Returns the packets' bytes.
    template <bool kFlowTable>
    uint64_t classify_run(const Table* t, rte_mbuf** pkts, uint16_t n, BurstOut& out);
    // classify_run<false>, out of line: the stateless copy of the passes
    // kept out of classify_burst's code (and register allocation).
    uint64_t classify_stateless(const Table* t, rte_mbuf** pkts, uint16_t n, BurstOut& out);
    // Replay: the length of the run at pkts[0], after its event barrier
    // (which may change `t`); sets the flow clock.
    uint16_t start_run(const Table*& t, rte_mbuf** pkts, uint16_t n, BurstOut& out);
    // A fast-shape packet (is_fast_v4: IPv4, TCP/UDP, no fragment) of
    // service `svc` with flow hash `hash`, with a flow table (`ft`, h.flows)
    // and `d` the frame: finds or creates its flow and moves its TCP state,
    // inline for a hit resolved in this table generation to an inline next
    // hop and for a new flow of a Maglev service; the rest through
    // forward_v4_uncommon.
    void forward_v4_flow(const Hot& h, FlowTable* ft, rte_mbuf* m, uint8_t* d, const ServiceEntry& svc, uint32_t hash,
                         BurstOut& out);
    // Rewrites a fast-shape packet for an untagged, resolved next hop (DR's
    // MACs, or IPv4 IPIP's outer header from words), counts it and queues it
    // on tx. `hop` is the flow's server_index and next-hop MAC (FlowEntry's
    // 8 bytes), `slot` its server's counter slot.
    void write_next_hop_inline(const Hot& h, rte_mbuf* m, uint8_t* d, const ServiceEntry& svc, uint64_t hop,
                               uint32_t slot, uint32_t hash, BurstOut& out);
    // The inline path's state change into or out of ESTABLISHED.
    void established_change(FlowTable* ft, FlowTable::Where at, uint32_t slot, ConnState old, ConnState next);
    // A fast-shape packet the inline path does not serve (a table swap, a
    // server gone, other schedulers, a VLAN or unknown next hop, stateless):
    // handle_flow's way with the flow already searched (`e` its entry or
    // nullptr).
    void forward_v4_uncommon(const Hot& h, rte_mbuf* m, const ServiceEntry& svc, uint32_t hash, FlowEntry* e,
                             BurstOut& out);
    // An IPv4 IPIP packet whose encapsulation would exceed the MTU: forward()'s
    // too-big answer (or drop).
    void forward_v4_too_big(const Hot& h, rte_mbuf* m, const ServiceEntry& svc, const ServerEntry& srv, uint32_t hash,
                            BurstOut& out);
    // Any other packet: parse_frame, then handle_flow, punt or drop.
    void parse_and_handle(const Table* t, rte_mbuf* m, BurstOut& out);
    // What happens to one packet with a flow key; returns false when it was dropped.
    void handle_flow(const Table& t, rte_mbuf* m, const Parsed& p, BurstOut& out);
    // The same with the service and flow hash already found.
    void handle_flow(const Table& t, rte_mbuf* m, const Parsed& p, const ServiceEntry* svc, uint32_t hash,
                     BurstOut& out);
    void handle_icmp(const Table& t, rte_mbuf* m, const Parsed& p, BurstOut& out);
    // Sends `m` to server `idx` of `svc`, DR or IPIP; `hash` is the flow's.
    // False when it was not forwarded (dropped, or answered with too-big).
    bool forward(const Table& t, rte_mbuf* m, const Parsed& p, const ServiceEntry& svc, const ServerEntry& srv,
                 uint32_t hash, BurstOut& out);
    // Answers `m` with ICMP too-big (its encapsulation would exceed `mtu`, the output port's).
    void too_big(rte_mbuf* m, const Parsed& p, uint32_t mtu, uint32_t overhead, BurstOut& out);
    // Queues `m` for port index `port` (0: out.tx; others: out.side).
    static void queue_tx(BurstOut& out, rte_mbuf* m, uint8_t port) {
        if (port == 0) {
            out.tx[out.n_tx++] = m;
        } else {
            out.side_port[out.n_side] = port;
            out.side[out.n_side++] = m;
        }
    }
    // The packets that follow arrived on port index `i`: the fast path's
    // MAC, parse_frame's, the port answers go back through.
    void set_rx_port(uint8_t i);
    // The index of DPDK port `port_id` among ours (0 when it is none of them).
    uint8_t port_index(uint16_t port_id) const;
    bool icmp_allowed();
    // Picks the server of a flow: its flow-table entry when it has one and
    // the server still keeps flows, else the service's ring. Updates TCP
    // state and connection counts. Returns kNoBackend when none can take it.
    uint16_t pick(const Table& t, const ServiceEntry& svc, const FlowKey& key, uint32_t hash, const uint8_t* l4,
                  bool create);
    // pick() once the flow table was searched: `e` is the flow's entry or nullptr.
    uint16_t pick_entry(uint32_t generation, const ServiceEntry& svc, const FlowKey& key, uint32_t hash,
                        const uint8_t* l4, bool create, FlowEntry* e);
    // The flow clock at `m`, seconds: its capture time when the config has a
    // timestamp clock and `m` carries one, else the TSC's.
    uint32_t clock(const rte_mbuf* m) const;
    // Replay: whether an event is due by `m`'s capture time.
    bool event_due(const rte_mbuf* m) const;
    // Replay: waits at every event due by `m`'s time; returns the table to use.
    // Hand-overs captured before the event are served with the old table.
    const Table* event_barrier(rte_mbuf* m, const Table* t, BurstOut& out);
    // `m`'s capture time in microseconds (0 without one).
    uint64_t stamp_us(const rte_mbuf* m) const;
    // Hands `m` (an ICMP error) to queue q's lcore; `origin` is the lcore
    // that received it, for Steering's turn-by-turn offer.
    void hand_over(rte_mbuf* m, uint16_t q, uint16_t origin);
    // A new flow's server by the service's scheduler, or kNoBackend.
    uint16_t schedule(const ServiceEntry& svc, const FlowKey& key, uint32_t hash);
    void drop(rte_mbuf* m, Drop reason);
    // The exception path's policing (dataplane/punt_policy.h): classifies
    // out.punt against the current table's PuntPolicy, keeps what its
    // class's bucket lets through, drops and counts the rest. Out of line:
    // only punted packets come here, never a VIP's.
    void police_punts(BurstOut& out);
    // Takes the tunables control published last, if they are new.
    void take_tunables();
    // Busy-waits what stall() asked for (out of the loop's line).
    void stall_now();

    WorkerConfig cfg_;
    std::array<WorkerPort, kMaxPorts> ports_{};  // [0]: the first port's (cfg_.port_id ...)
    uint8_t n_ports_ = 1;
    uint8_t rx_index_ = 0;      // the port the packets being classified arrived on
    const uint8_t* rx_mac_;     // its MAC
    uint64_t mac48_;            // its MAC for is_fast_v4
    bool fast_ok_;              // that MAC is unicast: is_fast_v4 may be used
    uint64_t mac_lo16_;         // the first port's MAC bytes 0-1 in bits 48-63 (write_next_hop_inline's first word)
    uint32_t mac_hi32_;         // its bytes 2-5 as they lie in memory
    uint64_t icmp_tokens_ = 0;  // token bucket, in units of 1/hz of a packet
    uint64_t icmp_last_tsc_ = 0;
    std::array<TokenBucket, kPuntClassCount> punt_buckets_{};  // per PuntClass
    uint64_t punt_clock_us_ = 0;                               // the capture clock of the last punt (replay)
    const PuntPolicy no_table_policy_{};                       // police_punts' before a table is published
    uint32_t now_ = 0;                                         // flow clock of the current burst, seconds
    const std::atomic<const Table*>& table_;
    rte_rcu_qsbr* qsbr_;
    LcoreCounters& counters_;
    uint32_t next_event_ = 0;
    const WorkerTunables* tunables_ = nullptr;  // the ones taken last
    std::atomic<uint64_t> stall_cycles_{0};     // stall(): written by control, taken by the lcore
    struct RoundRobin {
        uint32_t cursor = 0xFFFFFFFFu;
        int32_t current = 0;
    };
    std::vector<RoundRobin> rr_;                       // per service counter slot
    std::vector<uint64_t> wlc_active_, wlc_inactive_;  // scratch for wlc
    std::vector<const LcoreCounters*> own_peers_;      // when the config gives none
    rte_ring* inbox_ = nullptr;                        // this lcore's (steering->inbox[queue_id])
    static constexpr uint16_t kHeld = 64;
    rte_mbuf* held_[kHeld];  // handed over, not yet due (capture clock)
    uint16_t n_held_ = 0;
    int32_t handed_origin_ = -1;  // while serving a handed packet: the queue that received it
};

}  // namespace tern::dp
