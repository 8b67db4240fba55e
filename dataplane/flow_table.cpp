#include "dataplane/flow_table.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif

namespace tern::dp {
namespace {

using S = ConnState;
// Every state named, in IPVS's column order; clang warns of the two no cell holds.
[[maybe_unused]] constexpr S sNO = S::none, sES = S::established, sSS = S::syn_sent, sSR = S::syn_recv,
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

// The full key compare (only on a signature match): 40 bytes in three
// unaligned loads a side with SSE2 (entries are 8-byte aligned), else five
// 8-byte words.
inline bool same_key(const FlowKey& a, const FlowKey& b) {
#if defined(__SSE2__)
    const auto* x = reinterpret_cast<const uint8_t*>(&a);
    const auto* y = reinterpret_cast<const uint8_t*>(&b);
    const __m128i d0 = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)),
                                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(y)));
    const __m128i d1 = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16)),
                                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(y + 16)));
    const __m128i d2 = _mm_xor_si128(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x + 32)),
                                     _mm_loadl_epi64(reinterpret_cast<const __m128i*>(y + 32)));
    const __m128i d = _mm_or_si128(_mm_or_si128(d0, d1), d2);
#if defined(__SSE4_1__)
    return _mm_testz_si128(d, d) != 0;
#else
    return _mm_movemask_epi8(_mm_cmpeq_epi8(d, _mm_setzero_si128())) == 0xFFFF;
#endif
#else
    const uint64_t* x = reinterpret_cast<const uint64_t*>(&a);  // alignas(8), 5 words
    const uint64_t* y = reinterpret_cast<const uint64_t*>(&b);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
#endif
}

// Wrap-safe "a is before b" on the 32-bit seconds clock.
inline bool before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

}  // namespace

const char* conn_state_name(ConnState s) {
    static const char* const names[] = {"NONE",  "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT",
                                        "CLOSE", "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "SYNACK",   "UDP"};
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

FlowTable::FlowTable(void* memory, size_t capacity, const FlowTimeouts& timeouts, Release release, void* ctx)
    : buckets_(static_cast<FlowBucket*>(memory)),
      entries_(reinterpret_cast<FlowEntry*>(static_cast<FlowBucket*>(memory) + capacity / kWays)),
      mask_(capacity - 1),
      bucket_mask_(capacity / kWays - 1),
      release_(release),
      ctx_(ctx) {
    set_timeouts(timeouts);
}

void FlowTable::set_timeouts(const FlowTimeouts& timeouts) {
    configured_ = timeouts;
    apply_timeouts();
}

void FlowTable::apply_timeouts() {
    timeouts_ = configured_;
    if (pressure_) {
        uint32_t& syn_recv = timeouts_.seconds[static_cast<size_t>(ConnState::syn_recv)];
        syn_recv = std::min(syn_recv, timeouts_.under_pressure);
    }
    for (size_t s = 0; s < kConnStateCount; ++s) {
        for (unsigned k = 0; k < 4; ++k) timeout_bytes_[k][s] = static_cast<uint8_t>(timeouts_.seconds[s] >> (8 * k));
    }
}

unsigned FlowTable::expired(const FlowBucket& b, uint32_t now) {
#if defined(__SSE2__)
    // Wrap-safe expires < now: the sign of expires - now, four ways a load.
    const __m128i n = _mm_set1_epi32(static_cast<int>(now));
    const __m128i lo = _mm_sub_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(b.expires)), n);
    const __m128i hi = _mm_sub_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(b.expires + 4)), n);
    const unsigned m = static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(lo))) |
                       static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(hi))) << 4;
    return m & b.used;
#else
    unsigned m = 0;
    for (unsigned w = 0; w < kWays; ++w) m |= unsigned{before(b.expires[w], now)} << w;
    return m & b.used;
#endif
}

[[gnu::noinline]] void FlowTable::release(size_t bi, unsigned w) {
    FlowBucket& b = buckets_[bi];
    if (release_ != nullptr) release_(ctx_, entries_[bi * kWays + w], b.state[w]);
    const unsigned bit = 1u << w;
    b.used = static_cast<uint8_t>(b.used & ~bit);
    if (b.moved & bit) {
        b.moved = static_cast<uint8_t>(b.moved & ~bit);
        FlowBucket& home = buckets_[alternate(bi, b.sig[w])];
        if (home.overflow != 255) --home.overflow;
    }
    --size_;
}

FlowEntry* FlowTable::find(const FlowKey& key, uint32_t hash, uint32_t now) {
    const size_t bi = hash & bucket_mask_;
    const FlowBucket& b = buckets_[bi];
    FlowEntry* const row = entries_ + bi * kWays;
    for (unsigned ways = match(b, signature(hash)); ways != 0; ways &= ways - 1) {
        const unsigned w = static_cast<unsigned>(__builtin_ctz(ways));
        // A flow is in one bucket only: a key match ends the search.
        if (same_key(row[w].key, key)) return before(b.expires[w], now) ? expire(bi, w) : &row[w];
    }
    // Not in its primary bucket: in the alternate only if the primary ever
    // overflowed.
    return b.overflow == 0 ? nullptr : find_moved(key, hash, now);
}

FlowEntry* FlowTable::find_moved(const FlowKey& key, uint32_t hash, uint32_t now) {
    const uint16_t sig = signature(hash);
    const size_t bi = alternate(hash & bucket_mask_, sig);
    const FlowBucket& b = buckets_[bi];
    FlowEntry* const row = entries_ + bi * kWays;
    for (unsigned ways = match(b, sig) & b.moved; ways != 0; ways &= ways - 1) {
        const unsigned w = static_cast<unsigned>(__builtin_ctz(ways));
        if (same_key(row[w].key, key)) return before(b.expires[w], now) ? expire(bi, w) : &row[w];
    }
    return nullptr;
}

FlowEntry* FlowTable::find_moved_v4(uint64_t src, uint64_t dst, uint64_t tail, uint32_t hash, uint32_t now) {
    FlowKey key;
    v4_key_from_words(src, dst, tail, key);
    return find_moved(key, hash, now);
}

FlowEntry* FlowTable::expire(size_t bi, unsigned w) {
    release(bi, w);
    return nullptr;
}

unsigned FlowTable::reclaim(size_t bi, uint32_t now) {
    for (unsigned x = expired(buckets_[bi], now); x != 0; x &= x - 1) {
        release(bi, static_cast<unsigned>(__builtin_ctz(x)));
    }
    return ~buckets_[bi].used & 0xFFu;
}

inline FlowEntry* FlowTable::take(size_t bi, unsigned w, const FlowKey& key, uint16_t sig, uint32_t now, bool moved) {
    FlowBucket& b = buckets_[bi];
    const unsigned bit = 1u << w;
    b.sig[w] = sig;
    b.expires[w] = now + timeouts_.seconds[0];
    b.state[w] = ConnState::none;
    b.used = static_cast<uint8_t>(b.used | bit);
    if (moved) {
        b.moved = static_cast<uint8_t>(b.moved | bit);
        FlowBucket& home = buckets_[alternate(bi, sig)];
        if (home.overflow != 255) ++home.overflow;
    }
    FlowEntry& e = entries_[bi * kWays + w];
    e.key = key;
    std::memset(reinterpret_cast<uint8_t*>(&e) + sizeof(FlowKey), 0, sizeof(e) - sizeof(FlowKey));
    ++size_;
    return &e;
}

FlowEntry* FlowTable::insert(const FlowKey& key, uint32_t hash, uint32_t now) {
    const size_t bi = hash & bucket_mask_;
    // A free way of the primary bucket; else what has expired there.
    unsigned f = ~buckets_[bi].used & 0xFFu;
    if (f == 0) [[unlikely]] {
        f = reclaim(bi, now);
        if (f == 0) return insert_full(key, bi, signature(hash), now);
    }
    return take(bi, static_cast<unsigned>(__builtin_ctz(f)), key, signature(hash), now, false);
}

void FlowTable::move(size_t from, unsigned w, size_t to, unsigned v) {
    FlowBucket& a = buckets_[from];
    FlowBucket& b = buckets_[to];
    const unsigned wbit = 1u << w, vbit = 1u << v;
    b.sig[v] = a.sig[w];
    b.expires[v] = a.expires[w];
    b.state[v] = a.state[w];
    b.used = static_cast<uint8_t>(b.used | vbit);
    if (a.moved & wbit) {
        // Back in its primary bucket.
        if (b.overflow != 255) --b.overflow;
    } else {
        b.moved = static_cast<uint8_t>(b.moved | vbit);
        if (a.overflow != 255) ++a.overflow;
    }
    a.used = static_cast<uint8_t>(a.used & ~wbit);
    a.moved = static_cast<uint8_t>(a.moved & ~wbit);
    entries_[to * kWays + v] = entries_[from * kWays + w];
}

FlowEntry* FlowTable::insert_full(const FlowKey& key, size_t bi, uint16_t sig, uint32_t now) {
    if (bucket_mask_ != 0) {
        // The alternate bucket.
        const size_t ai = alternate(bi, sig);
        if (const unsigned f = reclaim(ai, now)) {
            return take(ai, static_cast<unsigned>(__builtin_ctz(f)), key, sig, now, true);
        }
        // One cuckoo step: move a flow of either bucket to its other bucket
        // if that has room, and take its way. Not in a (nearly) full table,
        // as under a flood: up to 16 more lines, to no avail.
        for (const size_t c : {bi, ai}) {
            if (size_ >= capacity() - capacity() / 16) break;
            const FlowBucket& b = buckets_[c];
            for (unsigned w = 0; w < kWays; ++w) {
                const size_t o = alternate(c, b.sig[w]);
                if (o == bi || o == ai) continue;
                if (const unsigned f = reclaim(o, now)) {
                    move(c, w, o, static_cast<unsigned>(__builtin_ctz(f)));
                    return take(c, w, key, sig, now, c != bi);
                }
            }
        }
    }
    // Both full of live flows: the least recently used that is not
    // ESTABLISHED, else the least recently used, across both buckets (the
    // first of equals, primary first).
    const size_t ai = bucket_mask_ == 0 ? bi : alternate(bi, sig);
#if defined(__SSE4_1__)
    __m128i s0, s1, s2, s3;
    scores(buckets_[bi], now, s0, s1);
    scores(buckets_[ai], now, s2, s3);
    __m128i m = _mm_max_epu32(_mm_max_epu32(s0, s1), _mm_max_epu32(s2, s3));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
    const unsigned top = static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(s0, m)))) |
                         static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(s1, m)))) << 4 |
                         static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(s2, m)))) << 8 |
                         static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(s3, m)))) << 12;
    const unsigned i = static_cast<unsigned>(__builtin_ctz(top));
#else
    unsigned i = 0;
    uint32_t best = 0;
    for (unsigned j = 0; j < 2 * kWays; ++j) {
        const FlowBucket& b = buckets_[j < kWays ? bi : ai];
        const unsigned w = j % kWays;
        const uint32_t age = now - (b.expires[w] - timeouts_.seconds[static_cast<size_t>(b.state[w])]);
        const uint32_t score = (age & 0x7FFFFFFFu) | uint32_t{b.state[w] != ConnState::established} << 31;
        if (j == 0 || score > best) best = score, i = j;
    }
#endif
    const size_t victim_b = i < kWays ? bi : ai;
    const unsigned victim_w = i % kWays;
    release(victim_b, victim_w);
    ++evictions_;
    pressure_until_ = now + kPressureHold;
    if (!pressure_) {
        pressure_ = true;
        apply_timeouts();
    }
    return take(victim_b, victim_w, key, sig, now, victim_b != bi);
}

void FlowTable::prefetch_full(size_t bi, uint16_t sig, uint32_t now) const {
    if (bucket_mask_ != 0) __builtin_prefetch(buckets_ + alternate(bi, sig), 1);
#if defined(__SSE4_1__)
    __m128i lo, hi;
    scores(buckets_[bi], now, lo, hi);
    __m128i m = _mm_max_epu32(lo, hi);
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
    const unsigned top = static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(lo, m)))) |
                         static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(hi, m)))) << 4;
    __builtin_prefetch(entries_ + bi * kWays + static_cast<unsigned>(__builtin_ctz(top)), 1);
#else
    (void)now;
#endif
}

#if defined(__SSE4_1__)
// The eviction score of each way of `b` (all used), ways 0-3 in `lo`, 4-7 in
// `hi`: bit 31 set when not ESTABLISHED, below it the seconds since the
// way's last packet (its expiry minus its state's timeout, looked up with
// PSHUFB a byte of the timeout at a time).
inline void FlowTable::scores(const FlowBucket& b, uint32_t now, __m128i& lo, __m128i& hi) const {
    const __m128i st = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.state));
    const auto* tb = reinterpret_cast<const __m128i*>(timeout_bytes_);
    const __m128i t01 =
        _mm_unpacklo_epi8(_mm_shuffle_epi8(_mm_load_si128(tb + 0), st), _mm_shuffle_epi8(_mm_load_si128(tb + 1), st));
    const __m128i t23 =
        _mm_unpacklo_epi8(_mm_shuffle_epi8(_mm_load_si128(tb + 2), st), _mm_shuffle_epi8(_mm_load_si128(tb + 3), st));
    const __m128i n = _mm_set1_epi32(static_cast<int>(now));
    const __m128i age_lo = _mm_add_epi32(_mm_sub_epi32(n, _mm_load_si128(reinterpret_cast<const __m128i*>(b.expires))),
                                         _mm_unpacklo_epi16(t01, t23));
    const __m128i age_hi =
        _mm_add_epi32(_mm_sub_epi32(n, _mm_load_si128(reinterpret_cast<const __m128i*>(b.expires + 4))),
                      _mm_unpackhi_epi16(t01, t23));
    const __m128i est = _mm_cmpeq_epi8(st, _mm_set1_epi8(static_cast<char>(ConnState::established)));
    const __m128i flag = _mm_set1_epi32(static_cast<int>(0x80000000u));
    const __m128i age_bits = _mm_set1_epi32(0x7FFFFFFF);
    lo = _mm_or_si128(_mm_and_si128(age_lo, age_bits), _mm_andnot_si128(_mm_cvtepi8_epi32(est), flag));
    hi = _mm_or_si128(_mm_and_si128(age_hi, age_bits),
                      _mm_andnot_si128(_mm_cvtepi8_epi32(_mm_srli_si128(est, 4)), flag));
}
#endif

void FlowTable::sweep(uint32_t now, size_t buckets) {
    if (pressure_ && before(pressure_until_, now)) {
        pressure_ = false;
        apply_timeouts();
    }
    const size_t nb = bucket_mask_ + 1;
    for (size_t i = 0; i < buckets; ++i) {
        reclaim(cursor_, now);
        cursor_ = (cursor_ + 1) & (nb - 1);
    }
}

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}

FlowMemory::FlowMemory(size_t capacity) : capacity_(capacity) {
    // A table under one huge page (tests' tables) stays on 4 KiB pages.
    const size_t need = FlowTable::bytes_for(capacity);
    const size_t page = need >= kHugePage ? kHugePage : 4096;
    bytes_ = (need + page - 1) & ~(page - 1);
    // One extra huge page of address space to align the table to 2 MiB.
    const size_t extra = page == kHugePage ? kHugePage : 0;
    void* p = ::mmap(nullptr, bytes_ + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t base = reinterpret_cast<uintptr_t>(p);
    const uintptr_t aligned = (base + page - 1) & ~(page - 1);
    if (aligned != base) ::munmap(p, aligned - base);
    const size_t tail = base + bytes_ + extra - (aligned + bytes_);
    if (tail != 0) ::munmap(reinterpret_cast<void*>(aligned + bytes_), tail);
    data_ = reinterpret_cast<void*>(aligned);
    // Transparent huge pages where the kernel allows them (THP "madvise" or
    // "always"); no error when it does not: 4 KiB pages then.
    if (page == kHugePage) ::madvise(data_, bytes_, MADV_HUGEPAGE);
    // Fault every page in now (zero-filled already), not on the first packets.
    for (size_t off = 0; off < bytes_; off += 4096) static_cast<volatile uint8_t*>(data_)[off] = 0;
}

FlowMemory::~FlowMemory() { ::munmap(data_, bytes_); }

bool FlowTable::slot(size_t i, FlowEntry& out, ConnState& state, uint32_t* expires) const {
    if (!(buckets_[i / kWays].used & (1u << (i % kWays)))) return false;
    std::memcpy(&out, &entries_[i], sizeof(out));
    state = buckets_[i / kWays].state[i % kWays];
    if (expires) *expires = buckets_[i / kWays].expires[i % kWays];
    return true;
}

}  // namespace tern::dp
