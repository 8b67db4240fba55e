// Per-lcore flow table: 5-tuple -> server, with IPVS-style TCP state for
// DR/tunnel mode (client->server packets only) and IPVS's timeouts.
//
// Layout: a fixed number of 8-way buckets allocated at start-up, 64 bytes
// of memory per flow in all. Each bucket is one cache line of metadata
// (FlowBucket: per way a 16-bit hash signature, the expiry, the state, plus
// used/moved bits and an overflow count); the 56-byte entries (FlowEntry:
// key and server) sit in a separate flat array, way w of bucket b at
// entries[b * kWays + w]. A lookup loads the bucket line, compares the 8
// signatures at once (SSE2) and compares a full key only on a signature
// match, so a hit touches the bucket line and one entry, a miss usually the
// bucket line alone; whether an entry is live is read from the bucket line.
//
// Overflow: a flow lives in its primary bucket (low bits of the hash) or,
// when that is full, in an alternate bucket (the primary index XOR a mix of
// the signature, so the primary is found again from the alternate, as in a
// cuckoo filter). The primary counts the flows it sent away; only when that
// count is non-zero does a lookup that missed look at the alternate. When
// both are full of live flows, one flow of the two moves to its own other
// bucket if that has room (one cuckoo step, read from the bucket lines; not
// tried once the table is 15/16 full, as under a flood). Else the least
// recently used entry of the two buckets that is not ESTABLISHED is evicted,
// else the least recently used, so a SYN flood recycles its own half-open
// entries rather than live ones. Last use = expiry - the state's timeout.
// A table of random flows fills to 85-90% before its first eviction.
//
// Floods (IPVS's secure_tcp is the model; the balancer never sees the
// server's answers, so a blind SYN then ACK from a spoofed source looks like
// a handshake): a flow that has just become ESTABLISHED is *unproven* until
// its next packet. It expires after FlowTimeouts::unproven instead of
// ESTABLISHED's timeout, which also makes it look that much older to the
// eviction, so a table full of spoofed SYN+ACK pairs gives them up before
// flows that carried traffic. While the table evicts live flows (and
// kPressureHold seconds after), it is *under pressure*: SYN_RECV flows and
// unproven ones expire after FlowTimeouts::under_pressure when shorter.
//
// The worker's FlowEntry* is valid until its next insert() (a cuckoo step
// moves entries).
//
// Lcore-local: one table per lcore, no locks. Pure C++ (no DPDK), so tests
// drive it with a fake clock.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/packet.h"

#if defined(__SSE4_1__)
#include <smmintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tern::dp {

// IPVS's TCP states (ip_vs_proto_tcp.c), plus one for UDP.
enum class ConnState : uint8_t {
    none,
    established,
    syn_sent,
    syn_recv,
    fin_wait,
    time_wait,
    close,
    close_wait,
    last_ack,
    listen,
    synack,
    udp,
    kCount
};
inline constexpr size_t kConnStateCount = static_cast<size_t>(ConnState::kCount);
static_assert(kConnStateCount <= 16, "states index a 16-byte PSHUFB table");
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
    uint32_t unproven = 60;       // an ESTABLISHED flow that has carried only its handshake's ACK
    uint32_t under_pressure = 5;  // SYN_RECV and unproven flows while the table evicts live ones
};

// What the worker keeps per flow; the table's bookkeeping (used, expiry,
// signature, TCP state) lives in the flow's FlowBucket (see
// FlowTable::expires, FlowTable::state).
struct FlowEntry {
    FlowKey key;            // 40 bytes
    uint32_t server_slot;   // the server's stable counter slot
    uint32_t generation;    // table generation `server_index` was resolved in
    uint16_t server_index;  // index in the service's server list, valid for `generation`
    // The server's MAC as resolved in `generation` when the worker's inline
    // path may send to it (an untagged, known next hop that keeps flows),
    // else all zero: a hit then needs neither the server's entry nor its line.
    uint8_t mac[6];
};
static_assert(sizeof(FlowEntry) == 56, "entry + 1/8 of a bucket line = 64 bytes a flow");
static_assert(offsetof(FlowEntry, mac) == offsetof(FlowEntry, server_index) + 2,
              "the worker reads server_index and mac as one 8-byte word");

// A flow read out of a table for people (`show flows`): the lcore whose
// table holds it, its entry and its state.
struct FlowSample {
    unsigned lcore;
    FlowEntry entry;
    ConnState state;
    uint32_t expires = 0;  // flow clock, seconds (tern run: TSC seconds)
};

// One bucket's metadata: one cache line for kWays flows.
struct alignas(64) FlowBucket {
    uint16_t sig[8];      // hash >> 16 of each way's flow
    uint32_t expires[8];  // flow clock, seconds
    ConnState state[8];   // the way's state (eviction order without the entry line)
    uint8_t used;         // bit w: way w holds a flow
    uint8_t moved;        // bit w: way w's flow lives here as its alternate bucket
    uint8_t overflow;     // flows of this (primary) bucket living in their alternate; 255 sticks
    uint8_t pad[5];
};
static_assert(sizeof(FlowBucket) == 64, "a bucket is one cache line");

class FlowTable {
public:
    static constexpr unsigned kWays = 8;  // ways of a bucket: capacity() / kWays buckets

    // Called for every entry that leaves the table (expired, evicted), with
    // its last state, so the caller can take it out of its connection counts.
    using Release = void (*)(void* ctx, const FlowEntry& e, ConnState state);

    // `memory` is bytes_for(capacity) bytes, zeroed, 64-byte aligned, for
    // `capacity` entries (a power of two >= kWays); the table never allocates.
    FlowTable(void* memory, size_t capacity, const FlowTimeouts& timeouts, Release release, void* ctx);
    // Not an array of `capacity` FlowEntry: that is too small (buckets come
    // first); a test that passed one overflowed it.
    FlowTable(FlowEntry* memory, size_t capacity, const FlowTimeouts&, Release, void*) = delete;

    // 64 bytes a flow: its 56-byte entry and 1/8 of its bucket's line.
    static size_t bytes_for(size_t capacity) {
        return capacity / kWays * sizeof(FlowBucket) + capacity * sizeof(FlowEntry);
    }

    // The live entry of `key`, or nullptr. An expired match is released.
    FlowEntry* find(const FlowKey& key, uint32_t hash, uint32_t now);
    // A slot for `key` (not present): a free one, an expired one (released),
    // or the oldest non-established one of the two buckets, else the oldest.
    // The entry comes back zeroed but for `key`, in state NONE expiring after
    // NONE's timeout; the caller fills server fields and calls set_state.
    FlowEntry* insert(const FlowKey& key, uint32_t hash, uint32_t now);
    // Starts loading the bucket line of `hash` (issued a burst ahead of
    // find/insert, the DRAM misses of a large table overlap). The alternate
    // bucket is not prefetched: a hit rarely needs it.
    void prefetch(uint32_t hash) const { __builtin_prefetch(buckets_ + (hash & bucket_mask_), 1); }
    // The second stage, once that line is in: starts loading the entry of the
    // first way whose signature matches (the flow's entry, nearly always),
    // so that find's key compare does not wait for it either. Without a
    // match (a new flow), what insert() will write: the first free way, or
    // for a full bucket prefetch_full's guess. `now` is the flow clock.
    // Returns whether a signature matched (false: a new flow, most likely).
    bool prefetch_entry(uint32_t hash, uint32_t now) const {
        const size_t bi = hash & bucket_mask_;
        const FlowBucket& b = buckets_[bi];
        const unsigned ways = match(b, signature(hash));
        if (__builtin_expect(ways != 0, 1)) {
            __builtin_prefetch(entries_ + bi * kWays + static_cast<unsigned>(__builtin_ctz(ways)), 1);
            return true;
        }
        if (const unsigned free = ~b.used & 0xFFu) {
            __builtin_prefetch(entries_ + bi * kWays + static_cast<unsigned>(__builtin_ctz(free)), 1);
        } else {
            prefetch_full(bi, signature(hash), now);
        }
        return false;
    }
    // Moves `e` (an entry of this table) to `state`, refreshing its expiry.
    void set_state(FlowEntry& e, ConnState state, uint32_t now) { set_state(where(e), state, now); }
    // The state of `e` (an entry of this table), as set_state last set it.
    ConnState state(const FlowEntry& e) const { return state(where(e)); }

    // An entry's place: its bucket line and way.
    struct Where {
        FlowBucket* b;
        unsigned w;
    };
    Where where(const FlowEntry& e) const {
        const size_t i = static_cast<size_t>(&e - entries_);
        return {buckets_ + i / kWays, static_cast<unsigned>(i % kWays)};
    }
    // After set_state() moved the flow at `at` into ESTABLISHED: unproven
    // until its next packet (its next set_state()).
    void set_unproven(Where at, uint32_t now) {
        at.b->expires[at.w] =
            now + (pressure_ ? std::min(timeouts_.unproven, timeouts_.under_pressure) : timeouts_.unproven);
    }
    // set_state() and state() of the entry at `at` (find_v4's), without finding its place.
    void set_state(Where at, ConnState state, uint32_t now) {
        at.b->expires[at.w] = now + timeouts_.seconds[static_cast<size_t>(state)];
        at.b->state[at.w] = state;
    }
    static ConnState state(Where at) { return at.b->state[at.w]; }

    // find() of an IPv4 TCP/UDP key that is not a fragment, from the words
    // of the key as FlowKey holds them: `src` and `dst` the addresses
    // (zero-extended: bytes 0..7 and 16..23), `tail` bytes 32..39 (ports,
    // protocol, family 4, fragment 0). Three compares decide: an IPv4
    // entry's other address bytes are zero, an IPv6 entry's family is not 4.
    // Inline for the per-packet path; when it returns an entry, `at` is its
    // place (for set_state).
    FlowEntry* find_v4(uint64_t src, uint64_t dst, uint64_t tail, uint32_t hash, uint32_t now, Where& at) {
        const size_t bi = hash & bucket_mask_;
        FlowBucket& b = buckets_[bi];
        FlowEntry* const row = entries_ + bi * kWays;
        for (unsigned ways = match(b, signature(hash)); ways != 0; ways &= ways - 1) {
            const unsigned w = static_cast<unsigned>(__builtin_ctz(ways));
            const auto* k = reinterpret_cast<const uint8_t*>(&row[w].key);
            uint64_t k0, k16, k32;
            std::memcpy(&k0, k, 8);
            std::memcpy(&k16, k + 16, 8);
            std::memcpy(&k32, k + 32, 8);
            if (((k0 ^ src) | (k16 ^ dst) | (k32 ^ tail)) == 0) {
                // A flow is in one bucket only: a key match ends the search.
                if (static_cast<int32_t>(b.expires[w] - now) < 0) return expire(bi, w);
                at = {&b, w};
                return &row[w];
            }
        }
        if (b.overflow == 0) return nullptr;
        FlowEntry* e = find_moved_v4(src, dst, tail, hash, now);
        if (e != nullptr) at = where(*e);  // here: `at` never escapes to a call
        return e;
    }
    // Releases expired entries in the next `buckets` buckets.
    void sweep(uint32_t now, size_t buckets);

    // When `e` (an entry of this table) expires, flow clock seconds.
    uint32_t expires(const FlowEntry& e) const {
        const size_t i = static_cast<size_t>(&e - entries_);
        return buckets_[i / kWays].expires[i % kWays];
    }
    // Copies slot `i` (< capacity()) into `out` and its state into `state`
    // (and its expiry, flow clock seconds, into `expires` when given) if it
    // holds a flow, live or not yet released (for sampling; racy reads from
    // another thread are the caller's business).
    bool slot(size_t i, FlowEntry& out, ConnState& state, uint32_t* expires = nullptr) const;

    size_t capacity() const { return mask_ + 1; }
    size_t size() const { return size_; }
    uint64_t evictions() const { return evictions_; }
    // Evicting live flows now or in the last kPressureHold seconds (as of
    // the last eviction or sweep).
    bool under_pressure() const { return pressure_; }
    static constexpr uint32_t kPressureHold = 10;
    // The configured timeouts (under pressure, the ones in force differ).
    const FlowTimeouts& timeouts() const { return configured_; }
    // New timeouts (a reload), by the table's lcore: a flow's expiry is
    // computed with them from its next state change or packet on; until
    // then it keeps the expiry it has.
    void set_timeouts(const FlowTimeouts& timeouts);

private:
    static uint16_t signature(uint32_t hash) { return static_cast<uint16_t>(hash >> 16); }
    // The other bucket of a flow with signature `sig` in bucket `b` (either
    // one: alternate(alternate(b)) == b); never b itself unless one bucket.
    size_t alternate(size_t b, uint16_t sig) const {
        uint32_t m = sig * 0x9E3779B1u;
        m ^= m >> 15;
        return (b ^ (m | 1)) & bucket_mask_;
    }
    // Bit w set: way w is used and has signature `sig`.
    static unsigned match(const FlowBucket& b, uint16_t sig) {
#if defined(__SSE2__)
        const __m128i s = _mm_load_si128(reinterpret_cast<const __m128i*>(b.sig));
        const __m128i eq = _mm_cmpeq_epi16(s, _mm_set1_epi16(static_cast<short>(sig)));
        return static_cast<unsigned>(_mm_movemask_epi8(_mm_packs_epi16(eq, _mm_setzero_si128()))) & b.used;
#else
        unsigned m = 0;
        for (unsigned w = 0; w < kWays; ++w) m |= unsigned{b.sig[w] == sig} << w;
        return m & b.used;
#endif
    }
    // Bit w set: way w is used and expired by `now`.
    static unsigned expired(const FlowBucket& b, uint32_t now);
    // The cold paths of find(): a flow moved to its alternate bucket; an
    // expired match (released; returns nullptr).
    [[gnu::noinline]] FlowEntry* find_moved(const FlowKey& key, uint32_t hash, uint32_t now);
    [[gnu::noinline]] FlowEntry* find_moved_v4(uint64_t src, uint64_t dst, uint64_t tail, uint32_t hash, uint32_t now);
    [[gnu::noinline]] FlowEntry* expire(size_t b, unsigned w);
    unsigned reclaim(size_t b, uint32_t now);  // releases the expired, returns the free ways
    FlowEntry* take(size_t b, unsigned w, const FlowKey& key, uint16_t sig, uint32_t now, bool moved);
    // insert() when the primary bucket is full of live flows.
    [[gnu::noinline]] FlowEntry* insert_full(const FlowKey& key, size_t b, uint16_t sig, uint32_t now);
    // prefetch_entry() for a new flow whose primary bucket `b` is full: the
    // alternate bucket's line, and the entry of the primary's way that the
    // eviction would take if the alternate had none older (its read of the
    // victim's entry is what stalls a SYN flood).
    [[gnu::noinline]] void prefetch_full(size_t b, uint16_t sig, uint32_t now) const;
    // Moves way w of bucket `from` to free way v of `to`, its other bucket.
    void move(size_t from, unsigned w, size_t to, unsigned v);
#if defined(__SSE4_1__)
    void scores(const FlowBucket& b, uint32_t now, __m128i& lo, __m128i& hi) const;
#endif
    void release(size_t b, unsigned w);
    // timeouts_ from configured_, shortened under pressure.
    void apply_timeouts();

    FlowBucket* buckets_;
    FlowEntry* entries_;
    size_t mask_;
    size_t bucket_mask_;
    size_t size_ = 0;
    size_t cursor_ = 0;
    uint64_t evictions_ = 0;
    bool pressure_ = false;
    uint32_t pressure_until_ = 0;  // flow clock
    FlowTimeouts configured_;
    FlowTimeouts timeouts_;  // in force
    // Byte k of each state's timeout (a PSHUFB table; the eviction's scores).
    alignas(16) uint8_t timeout_bytes_[4][16] = {};
    Release release_;
    void* ctx_;
};

// Zeroed, 2 MiB aligned memory for a FlowTable of `capacity` entries, mapped
// anonymous, asked for transparent huge pages (MADV_HUGEPAGE) and faulted in
// (tests, benchmarks, and the dataplane when the EAL runs without hugepages:
// a table of 1M+ flows on 4 KiB pages spends a TLB miss on most lookups).
// A table under 2 MiB (tests' tables) is page aligned on 4 KiB pages.
// Throws std::bad_alloc when it cannot map.
class FlowMemory {
public:
    explicit FlowMemory(size_t capacity);
    ~FlowMemory();
    FlowMemory(const FlowMemory&) = delete;
    FlowMemory& operator=(const FlowMemory&) = delete;
    void* data() const { return data_; }
    size_t size() const { return capacity_; }  // entries, as FlowTable's capacity

private:
    size_t capacity_;
    size_t bytes_;  // bytes_for(capacity) rounded up to 2 MiB (to 4 KiB under 2 MiB)
    void* data_ = nullptr;
};

}  // namespace tern::dp
