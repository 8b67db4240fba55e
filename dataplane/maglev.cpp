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
    uint64_t claims;  // entries taken so far
};

// The round in which a backend of weight w (the largest weight being max_weight) takes its
// (k+1)-th entry: every round its credit grows by w and each entry costs max_weight, so that
// happens in round ceil((k+1) * max_weight / w). No overflow: k < 2^32 and both weights < 2^32.
uint64_t claim_round(uint64_t k, uint32_t weight, uint32_t max_weight) {
    return ((k + 1) * max_weight + weight - 1) / weight;
}

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
        perms.push_back({offset, skip, b.weight, i, 0});
        max_weight = std::max(max_weight, b.weight);
    }
    if (perms.empty()) return ring;
    assert(perms.size() < size);

    // Equivalent to running the rounds one by one (in each round, in id order, every backend
    // adds its weight to its credit and takes an entry when the credit reaches max_weight), but
    // without visiting backends that take nothing in a round: the heap yields (round, id rank)
    // in order, so the cost does not depend on how skewed the weights are.
    using Turn = std::pair<uint64_t, uint32_t>;  // (round, rank in id order)
    std::vector<Turn> turns;
    turns.reserve(perms.size());
    for (uint32_t r = 0; r < perms.size(); ++r) {
        turns.emplace_back(claim_round(0, perms[r].weight, max_weight), r);
    }
    std::priority_queue<Turn, std::vector<Turn>, std::greater<Turn>> queue(std::greater<Turn>{},
                                                                           std::move(turns));

    const auto advance = [size](uint32_t pos, uint32_t skip) {
        const uint64_t next = uint64_t{pos} + skip;
        return static_cast<uint32_t>(next >= size ? next - size : next);
    };

    for (uint32_t filled = 0; filled < size; ++filled) {
        const uint32_t rank = queue.top().second;
        queue.pop();
        Permutation& p = perms[rank];
        // With size prime every skip is coprime to it, so the permutation visits every entry
        // and an empty one is found within `size` steps. The bound only matters if the
        // precondition was broken in a release build: then take the next empty entry in order.
        uint32_t steps = 0;
        while (ring[p.pos] != kNoBackend && steps < size) {
            p.pos = advance(p.pos, p.skip);
            ++steps;
        }
        while (ring[p.pos] != kNoBackend) p.pos = advance(p.pos, 1);
        ring[p.pos] = p.index;
        p.pos = advance(p.pos, p.skip);
        ++p.claims;
        queue.emplace(claim_round(p.claims, p.weight, max_weight), rank);
    }
    return ring;
}

}  // namespace tern::dp
