#include "dataplane/flow_table.h"

#include <cstring>

namespace tern::dp {
namespace {

using S = ConnState;
constexpr S sNO = S::none, sES = S::established, sSS = S::syn_sent, sSR = S::syn_recv,
            sFW = S::fin_wait, sTW = S::time_wait, sCL = S::close, sCW = S::close_wait,
            sLA = S::last_ack, sLI = S::listen, sSA = S::synack;

// IPVS's INPUT-ONLY table: rows are events (syn, fin, ack, rst), columns the
// current state in IPVS's order (none .. synack).
constexpr ConnState kInputOnly[4][11] = {
    /* syn */ {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
    /* fin */ {sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW},
    /* ack */ {sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
    /* rst */ {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL},
};

inline bool same_key(const FlowKey& a, const FlowKey& b) {
    const uint64_t* x = reinterpret_cast<const uint64_t*>(&a);  // alignas(8), 5 words
    const uint64_t* y = reinterpret_cast<const uint64_t*>(&b);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

// Wrap-safe "a is before b" on the 32-bit seconds clock.
inline bool before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

}  // namespace

const char* conn_state_name(ConnState s) {
    static const char* const names[] = {"NONE",     "ESTABLISHED", "SYN_SENT",   "SYN_RECV",
                                        "FIN_WAIT", "TIME_WAIT",   "CLOSE",      "CLOSE_WAIT",
                                        "LAST_ACK", "LISTEN",      "SYNACK",     "UDP"};
    return names[static_cast<size_t>(s)];
}

TcpEvent tcp_event(uint8_t f) {
    if (f & 0x04) return TcpEvent::rst;
    if (f & 0x02) return TcpEvent::syn;
    if (f & 0x01) return TcpEvent::fin;
    if (f & 0x10) return TcpEvent::ack;
    return TcpEvent::none;
}

ConnState next_state(ConnState s, TcpEvent e) {
    if (s == ConnState::udp) return s;
    if (e == TcpEvent::none) return ConnState::close;  // as IPVS: no known flag -> CLOSE
    return kInputOnly[static_cast<size_t>(e)][static_cast<size_t>(s)];
}

FlowTable::FlowTable(FlowEntry* memory, size_t capacity, const FlowTimeouts& timeouts,
                     Release release, void* ctx)
    : entries_(memory),
      mask_(capacity - 1),
      bucket_mask_(capacity / kWays - 1),
      timeouts_(timeouts),
      release_(release),
      ctx_(ctx) {}

void FlowTable::release(FlowEntry& e) {
    if (release_ != nullptr) release_(ctx_, e);
    e.used = 0;
    --size_;
}

FlowEntry* FlowTable::find(const FlowKey& key, uint32_t hash, uint32_t now) {
    FlowEntry* const choices[2] = {bucket(hash), bucket2(hash)};
    for (FlowEntry* b : choices) {
        for (unsigned w = 0; w < kWays; ++w) {
            FlowEntry& e = b[w];
            if (e.used && same_key(e.key, key)) {
                if (before(e.expires, now)) {
                    release(e);
                    return nullptr;
                }
                return &e;
            }
        }
    }
    return nullptr;
}

FlowEntry* FlowTable::insert(const FlowKey& key, uint32_t hash, uint32_t now) {
    FlowEntry* const choices[2] = {bucket(hash), bucket2(hash)};
    // Release what has expired in both buckets, then take a free slot in the
    // emptier one (the power of two choices keeps buckets from overflowing).
    FlowEntry* free_slot = nullptr;
    unsigned best_free = 0;
    FlowEntry* oldest_inactive = nullptr;
    FlowEntry* oldest = nullptr;
    for (FlowEntry* b : choices) {
        unsigned n_free = 0;
        FlowEntry* first_free = nullptr;
        for (unsigned w = 0; w < kWays; ++w) {
            FlowEntry& e = b[w];
            if (e.used && before(e.expires, now)) release(e);
            if (!e.used) {
                if (first_free == nullptr) first_free = &e;
                ++n_free;
                continue;
            }
            if (oldest == nullptr || before(e.touched, oldest->touched)) oldest = &e;
            if (e.state != ConnState::established &&
                (oldest_inactive == nullptr || before(e.touched, oldest_inactive->touched))) {
                oldest_inactive = &e;
            }
        }
        if (n_free > best_free) {
            best_free = n_free;
            free_slot = first_free;
        }
        if (choices[0] == choices[1]) break;
    }
    FlowEntry* e = free_slot;
    if (e == nullptr) {
        e = oldest_inactive != nullptr ? oldest_inactive : oldest;
        release(*e);
        ++evictions_;
    }
    std::memset(e, 0, sizeof(*e));
    e->key = key;
    e->used = 1;
    e->touched = now;
    e->expires = now + timeouts_.seconds[0];
    ++size_;
    return e;
}

void FlowTable::set_state(FlowEntry& e, ConnState state, uint32_t now) {
    e.state = state;
    e.touched = now;
    e.expires = now + timeouts_.seconds[static_cast<size_t>(state)];
}

void FlowTable::sweep(uint32_t now, size_t buckets) {
    const size_t nb = bucket_mask_ + 1;
    for (size_t i = 0; i < buckets; ++i) {
        FlowEntry* b = entries_ + cursor_ * kWays;
        for (unsigned w = 0; w < kWays; ++w) {
            if (b[w].used && before(b[w].expires, now)) release(b[w]);
        }
        cursor_ = (cursor_ + 1) & (nb - 1);
    }
}

}  // namespace tern::dp
