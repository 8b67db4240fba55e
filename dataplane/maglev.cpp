#include "dataplane/maglev.h"

#include <algorithm>
#include <cassert>
#include <functional>
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
    uint16_t index;   // into the caller's `backends`
    uint64_t claims;  // entries taken so far (heap order)
    uint64_t credit;  // weight accumulated and not yet spent (round order)
};

// The round in which a backend of weight w (the largest weight being max_weight) takes its
// (k+1)-th entry: every round its credit grows by w and each entry costs max_weight, so that
// happens in round ceil((k+1) * max_weight / w). No overflow: k < 2^32 and both weights < 2^32.
uint64_t claim_round(uint64_t k, uint32_t weight, uint32_t max_weight) {
    return ((k + 1) * max_weight + weight - 1) / weight;
}

// The ring being filled, with a bitmap of its taken entries: the walk along a permutation tests
// bits in 8 KiB (for M=65537) that stay in L1 instead of 16-bit entries spread over 128 KiB.
class Filler {
public:
    Filler(std::vector<uint16_t>& ring, uint32_t size)
        : ring_(ring), size_(size), taken_((size + 63) / 64, 0) {}

    // p takes the next entry of its permutation that is still free.
    void claim(Permutation& p) {
        uint32_t pos = p.pos;
        const uint32_t skip = p.skip;
        // With size prime every skip is coprime to it, so the permutation visits every entry
        // and a free one is found within `size` steps. The bound only matters if the
        // precondition was broken in a release build: then take the next free entry in order.
        uint32_t steps = 0;
        while (taken(pos)) {
            pos = advance(pos, skip);
            if (++steps == size_) {
                while (taken(pos)) pos = advance(pos, 1);
                break;
            }
        }
        taken_[pos >> 6] |= uint64_t{1} << (pos & 63);
        ring_[pos] = p.index;
        p.pos = advance(pos, skip);
    }

private:
    bool taken(uint32_t pos) const { return (taken_[pos >> 6] >> (pos & 63)) & 1; }
    // (pos + step) % size without a division: both are below size.
    uint32_t advance(uint32_t pos, uint32_t step) const {
        const uint32_t room = size_ - pos;  // > 0
        return step >= room ? step - room : pos + step;
    }

    std::vector<uint16_t>& ring_;
    const uint32_t size_;
    std::vector<uint64_t> taken_;
};

}  // namespace

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
    std::sort(by_id.begin(), by_id.end(),
              [&](uint16_t a, uint16_t b) { return backends[a].id < backends[b].id; });
    assert(std::adjacent_find(by_id.begin(), by_id.end(), [&](uint16_t a, uint16_t b) {
               return backends[a].id == backends[b].id;
           }) == by_id.end());

    std::vector<Permutation> perms;
    perms.reserve(backends.size());
    uint32_t max_weight = 0;
    for (uint16_t i : by_id) {
        const MaglevBackend& b = backends[i];
        if (b.weight == 0) continue;
        const uint32_t offset =
            static_cast<uint32_t>(stable_hash64(b.id, kMaglevOffsetSeed) % size);
        const uint32_t skip =
            size > 1 ? static_cast<uint32_t>(stable_hash64(b.id, kMaglevSkipSeed) % (size - 1) + 1)
                     : 1;
        perms.push_back({offset, skip, b.weight, i, 0, 0});
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
    std::priority_queue<Turn, std::vector<Turn>, std::greater<Turn>> queue(std::greater<Turn>{},
                                                                           std::move(turns));
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
