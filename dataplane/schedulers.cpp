#include "dataplane/schedulers.h"

#include <numeric>

namespace tern::dp {

uint16_t pick_rr(uint32_t n, uint32_t& cursor) {
    if (n == 0) return kNoPick;
    cursor = (cursor + 1) % n;
    return static_cast<uint16_t>(cursor);
}

uint16_t pick_wrr(std::span<const uint16_t> weights, uint32_t& cursor, int32_t& current) {
    const uint32_t n = static_cast<uint32_t>(weights.size());
    int32_t max = 0, gcd = 0;
    for (uint16_t w : weights) {
        max = std::max<int32_t>(max, w);
        gcd = std::gcd(gcd, static_cast<int32_t>(w));
    }
    if (max == 0) return kNoPick;
    if (cursor >= n) cursor = n - 1;
    // At most one full sweep per weight level: n * (max / gcd) steps.
    for (uint64_t step = 0; step <= uint64_t{n} * static_cast<uint64_t>(max / gcd); ++step) {
        cursor = (cursor + 1) % n;
        if (cursor == 0) {
            current -= gcd;
            if (current <= 0) current = max;
        }
        if (weights[cursor] >= current) return static_cast<uint16_t>(cursor);
    }
    return kNoPick;
}

uint16_t pick_wlc(std::span<const uint16_t> weights, std::span<const uint64_t> active,
                  std::span<const uint64_t> inactive) {
    uint16_t best = kNoPick;
    uint64_t best_overhead = 0, best_weight = 0;
    for (size_t i = 0; i < weights.size(); ++i) {
        if (weights[i] == 0) continue;
        const uint64_t overhead = (active[i] << 8) + inactive[i];
        // overhead_i / w_i < best_overhead / best_weight, cross-multiplied.
        if (best == kNoPick || overhead * best_weight < best_overhead * weights[i]) {
            best = static_cast<uint16_t>(i);
            best_overhead = overhead;
            best_weight = weights[i];
        }
    }
    return best;
}

}  // namespace tern::dp
