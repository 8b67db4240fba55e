#include "dataplane/maglev.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <iterator>
#include <numeric>
#include <queue>
#include <utility>

#include "dataplane/hash.h"

namespace tern::dp {
namespace {

// One backend with weight > 0, in id order. `pos` is the current element of its permutation
// (offset + j * skip) % size; the permutation itself is never materialised.
struct Permutation {
    uint32_t pos;
    uint32_t skip;
    uint32_t weight;
    uint16_t index;    // into the caller's `backends`
    uint64_t claims;   // entries taken so far (heap order)
    uint64_t credit;   // weight accumulated and not yet spent (round order)
    uint32_t inverse;  // skip^-1 mod size once needed (Filler::nearest_free), else 0
};

// The round in which a backend of weight w (the largest weight being max_weight) takes its
// (k+1)-th entry: every round its credit grows by w and each entry costs max_weight, so that
// happens in round ceil((k+1) * max_weight / w). No overflow: k < 2^32 and both weights < 2^32.
uint64_t claim_round(uint64_t k, uint32_t weight, uint32_t max_weight) {
    return ((k + 1) * max_weight + weight - 1) / weight;
}

// The inverse of a modulo a prime m (0 < a < m): extended Euclid.
uint32_t inverse_mod(uint32_t a, uint32_t m) {
    int64_t t = 0, new_t = 1, r = m, new_r = a;
    while (new_r != 0) {
        const int64_t q = r / new_r;
        t = std::exchange(new_t, t - q * new_t);
        r = std::exchange(new_r, r - q * new_r);
    }
    return static_cast<uint32_t>(t < 0 ? t + m : t);
}

// The ring being filled, with a bitmap of its taken entries: the walk along a permutation tests
// bits in 8 KiB (for M=65537) that stay in L1 instead of 16-bit entries spread over 128 KiB.
class Filler {
public:
    Filler(std::vector<uint16_t>& ring, uint32_t size)
        : ring_(ring), size_(size), prime_(is_prime(size)), free_(size), taken_((size + 63) / 64, 0) {}

    // p takes the next entry of its permutation that is still free.
    // Forced inline into generate_ring's two fill loops: it runs once per entry (65537 times a
    // ring), and as a call it spent about an eighth of the build saving registers and reloading
    // members (0.92 -> 0.79 ms a ring at M=65537, 100 servers; tern_bench maglev).
    [[gnu::always_inline]] void claim(Permutation& p) {
        uint32_t pos;
        if (!prime_) {
            pos = walk_bounded(p);
        } else if (free_ > kTail) {
            pos = walk(p);
        } else {
            pos = nearest_free(p);
        }
        taken_[pos >> 6] |= uint64_t{1} << (pos & 63);
        ring_[pos] = p.index;
        p.pos = static_cast<uint32_t>(next(pos, p.skip));
        --free_;
    }

private:
    // Below this many free entries, nearest_free() beats walking: a walk then takes about
    // size / free steps, and half of all the steps of a ring are spent in its last 128 entries.
    static constexpr uint32_t kTail = 128;

    bool taken(uint64_t pos) const { return (taken_[pos >> 6] >> (pos & 63)) & 1; }
    // (pos + step) % size without a division, for pos and step below size (64-bit: no overflow
    // when size is close to 2^32).
    uint64_t next(uint64_t pos, uint64_t step) const {
        pos += step;
        return pos >= size_ ? pos - size_ : pos;
    }

    // With size prime every skip is coprime to it, so the permutation visits every entry and
    // reaches a free one.
    uint32_t walk(const Permutation& p) const {
        uint64_t pos = p.pos;
        while (taken(pos)) pos = next(pos, p.skip);
        return static_cast<uint32_t>(pos);
    }

    // The same for a size that is not prime (a precondition broken in a release build): after
    // `size` steps, take the next free entry in order.
    uint32_t walk_bounded(const Permutation& p) const {
        uint64_t pos = p.pos;
        uint32_t steps = 0;
        while (taken(pos)) {
            pos = next(pos, p.skip);
            if (++steps == size_) {
                while (taken(pos)) pos = next(pos, 1);
                break;
            }
        }
        return static_cast<uint32_t>(pos);
    }

    // The entry walk(p) would find, from the free entries' side: entry e is step
    // (e - pos) * skip^-1 mod size of p's walk, so the free entry with the smallest such step
    // is the first one the walk reaches (steps are distinct: the walk is a permutation).
    uint32_t nearest_free(Permutation& p) {
        if (!tail_) {
            tail_ = true;
            free_list_.reserve(free_);
            for (size_t w = 0; w < taken_.size(); ++w) {
                for (uint64_t bits = ~taken_[w]; bits != 0; bits &= bits - 1) {
                    const uint64_t e = w * 64 + static_cast<uint64_t>(__builtin_ctzll(bits));
                    if (e < size_) free_list_.push_back(static_cast<uint32_t>(e));
                }
            }
        }
        if (p.inverse == 0) p.inverse = inverse_mod(p.skip, size_);
        uint64_t best = UINT64_MAX;
        size_t at = 0;
        for (size_t i = 0; i < free_list_.size(); ++i) {
            const uint64_t e = free_list_[i];
            const uint64_t ahead = e >= p.pos ? e - p.pos : e + size_ - p.pos;
            const uint64_t step = ahead * p.inverse % size_;  // both below 2^32: no overflow
            if (step < best) {
                best = step;
                at = i;
            }
        }
        const uint32_t pos = free_list_[at];
        free_list_[at] = free_list_.back();
        free_list_.pop_back();
        return pos;
    }

    std::vector<uint16_t>& ring_;
    const uint32_t size_;
    const bool prime_;
    uint32_t free_;
    std::vector<uint64_t> taken_;
    bool tail_ = false;
    std::vector<uint32_t> free_list_;
};

}  // namespace

uint32_t maglev_auto_size(size_t servers) {
    for (uint32_t size : kMaglevSizeLadder) {
        if (uint64_t{servers} * kMaglevEntriesPerServer <= size) return size;
    }
    return std::end(kMaglevSizeLadder)[-1];
}

bool is_prime(uint32_t n) {
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    if (n % 3 == 0) return n == 3;
    for (uint64_t d = 5; d * d <= n; d += 6) {
        if (n % d == 0 || n % (d + 2) == 0) return false;
    }
    return true;
}

std::vector<uint16_t> generate_ring(std::span<const MaglevBackend> backends, uint32_t size) {
    assert(backends.size() < kNoBackend);
    assert(is_prime(size));
    std::vector<uint16_t> ring(size, kNoBackend);
    if (size == 0) return ring;

    // Sort by id (bytewise) so that the result does not depend on the caller's order.
    std::vector<uint16_t> by_id(backends.size());
    std::iota(by_id.begin(), by_id.end(), uint16_t{0});
    std::sort(by_id.begin(), by_id.end(), [&](uint16_t a, uint16_t b) { return backends[a].id < backends[b].id; });
    assert(std::adjacent_find(by_id.begin(), by_id.end(),
                              [&](uint16_t a, uint16_t b) { return backends[a].id == backends[b].id; }) == by_id.end());

    std::vector<Permutation> perms;
    perms.reserve(backends.size());
    uint32_t max_weight = 0;
    for (uint16_t i : by_id) {
        const MaglevBackend& b = backends[i];
        if (b.weight == 0) continue;
        const uint32_t offset = static_cast<uint32_t>(stable_hash64(b.id, kMaglevOffsetSeed) % size);
        const uint32_t skip =
            size > 1 ? static_cast<uint32_t>(stable_hash64(b.id, kMaglevSkipSeed) % (size - 1) + 1) : 1;
        perms.push_back({offset, skip, b.weight, i, 0, 0, 0});
        max_weight = std::max(max_weight, b.weight);
    }
    if (perms.empty()) return ring;
    assert(perms.size() < size);

    // The order of claims is fixed by the rounds (in each round, in id order, every backend adds
    // its weight to its credit and takes an entry when the credit reaches max_weight). Two ways
    // to walk that order, chosen by cost; both give the same ring:
    // - round by round, visiting every backend each round: about n * max_weight / sum(weights)
    //   visits per entry, 1 when all weights are equal (the usual case);
    // - a heap of (round, id rank) that yields only the backends that take an entry, log(n) per
    //   entry whatever the skew (one backend of weight 1000 among backends of weight 1).
    Filler fill(ring, size);
    uint64_t total_weight = 0;
    for (const Permutation& p : perms) total_weight += p.weight;
    if (uint64_t{perms.size()} * max_weight <= 4 * total_weight) {
        uint32_t filled = 0;
        for (;;) {
            for (Permutation& p : perms) {
                p.credit += p.weight;
                if (p.credit < max_weight) continue;
                p.credit -= max_weight;
                fill.claim(p);
                if (++filled == size) return ring;
            }
        }
    }

    using Turn = std::pair<uint64_t, uint32_t>;  // (round, rank in id order)
    std::vector<Turn> turns;
    turns.reserve(perms.size());
    for (uint32_t r = 0; r < perms.size(); ++r) {
        turns.emplace_back(claim_round(0, perms[r].weight, max_weight), r);
    }
    std::priority_queue<Turn, std::vector<Turn>, std::greater<Turn>> queue(std::greater<Turn>{}, std::move(turns));
    for (uint32_t filled = 0; filled < size; ++filled) {
        const uint32_t rank = queue.top().second;
        queue.pop();
        Permutation& p = perms[rank];
        fill.claim(p);
        ++p.claims;
        queue.emplace(claim_round(p.claims, p.weight, max_weight), rank);
    }
    return ring;
}

}  // namespace tern::dp
