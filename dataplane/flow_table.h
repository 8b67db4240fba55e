// Per-lcore flow table: 5-tuple -> server, with IPVS-style TCP state for
// DR/tunnel mode (client->server packets only) and IPVS's timeouts.
// Bounded: a fixed number of 4-way buckets allocated at start-up; a flow may
// live in either of two buckets (two independent choices from its hash, as
// in 2-choice hashing, so buckets rarely overflow); when both are full the
// oldest entry that is not ESTABLISHED is evicted first, so a SYN flood
// recycles its own half-open entries rather than live ones.
// Lcore-local: one table per lcore, no locks. Pure C++ (no DPDK), so tests
// drive it with a fake clock.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "dataplane/packet.h"

namespace tern::dp {

// IPVS's TCP states (ip_vs_proto_tcp.c), plus one for UDP.
enum class ConnState : uint8_t {
    none, established, syn_sent, syn_recv, fin_wait, time_wait, close, close_wait, last_ack,
    listen, synack, udp, kCount
};
inline constexpr size_t kConnStateCount = static_cast<size_t>(ConnState::kCount);
const char* conn_state_name(ConnState s);

// TCP flags as IPVS reads them: RST wins over SYN over FIN over ACK.
enum class TcpEvent : uint8_t { syn, fin, ack, rst, none };
TcpEvent tcp_event(uint8_t tcp_flags);

// The INPUT-ONLY transition of IPVS (the balancer never sees server->client).
ConnState next_state(ConnState s, TcpEvent e);

// Timeouts in seconds per state (IPVS defaults, with the values
// for ESTABLISHED 900, FIN_WAIT 120, SYN_RECV 30, UDP 300).
struct FlowTimeouts {
    std::array<uint32_t, kConnStateCount> seconds = {
        2,    // none
        900,  // established
        120,  // syn_sent
        30,   // syn_recv
        120,  // fin_wait
        120,  // time_wait
        10,   // close
        60,   // close_wait
        30,   // last_ack
        120,  // listen
        120,  // synack
        300,  // udp
    };
};

struct FlowEntry {
    FlowKey key;            // 40 bytes
    uint32_t server_slot;   // the server's stable counter slot
    uint32_t generation;    // table generation `server_index` was resolved in
    uint32_t expires;       // flow clock, seconds
    uint32_t touched;       // flow clock, seconds: last packet
    uint16_t server_index;  // index in the service's server list, valid for `generation`
    ConnState state;
    uint8_t used;
    uint8_t pad[4];
};
static_assert(sizeof(FlowEntry) == 64, "a flow entry is one cache line");

class FlowTable {
public:
    static constexpr unsigned kWays = 4;

    // Called for every entry that leaves the table (expired, evicted), so
    // the caller can take it out of its connection counts.
    using Release = void (*)(void* ctx, const FlowEntry& e);

    // `memory` holds `capacity` entries (a power of two >= kWays), zeroed,
    // 64-byte aligned; the table never allocates.
    FlowTable(FlowEntry* memory, size_t capacity, const FlowTimeouts& timeouts, Release release,
              void* ctx);

    static size_t bytes_for(size_t capacity) { return capacity * sizeof(FlowEntry); }

    // The live entry of `key`, or nullptr. An expired match is released.
    FlowEntry* find(const FlowKey& key, uint32_t hash, uint32_t now);
    // A slot for `key` (not present): a free one, an expired one, or the
    // oldest non-established one of the bucket, else the oldest. The caller
    // fills server fields and state; `used`, `key`, `touched` are set.
    FlowEntry* insert(const FlowKey& key, uint32_t hash, uint32_t now);
    // Starts loading both candidate buckets of `hash` (issued a burst ahead
    // of find/insert, the DRAM misses of a large table overlap).
    void prefetch(uint32_t hash) const {
        const FlowEntry* a = entries_ + bucket_index(hash);
        const FlowEntry* b = entries_ + bucket2_index(hash);
        for (unsigned w = 0; w < kWays; ++w) {
            __builtin_prefetch(a + w, 1);
            __builtin_prefetch(b + w, 1);
        }
    }
    // Moves `e` to `state`, refreshing its expiry.
    void set_state(FlowEntry& e, ConnState state, uint32_t now);
    // Releases expired entries in the next `buckets` buckets.
    void sweep(uint32_t now, size_t buckets);

    size_t capacity() const { return mask_ + 1; }
    size_t size() const { return size_; }
    uint64_t evictions() const { return evictions_; }
    const FlowTimeouts& timeouts() const { return timeouts_; }

private:
    void release(FlowEntry& e);
    size_t bucket_index(uint32_t hash) const { return (hash & bucket_mask_) * kWays; }
    FlowEntry* bucket(uint32_t hash) { return entries_ + bucket_index(hash); }
    // The second choice: the hash's other bits, remixed.
    size_t bucket2_index(uint32_t hash) const {
        const uint32_t h = (hash ^ (hash >> 16)) * 0x7FEB352Du;
        return ((h ^ (h >> 15)) & bucket_mask_) * kWays;
    }
    FlowEntry* bucket2(uint32_t hash) { return entries_ + bucket2_index(hash); }

    FlowEntry* entries_;
    size_t mask_;
    size_t bucket_mask_;
    size_t size_ = 0;
    size_t cursor_ = 0;
    uint64_t evictions_ = 0;
    FlowTimeouts timeouts_;
    Release release_;
    void* ctx_;
};

}  // namespace tern::dp
