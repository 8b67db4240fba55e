// The per-balancer schedulers of IPVS for new flows: rr, wrr, wlc. Unlike
// maglev and sh they depend on this lcore's history (and, for wlc, on the
// connection counts), so two balancers may choose differently: use them
// where flows never move between balancers. Pure functions over spans.
#pragma once

#include <cstdint>
#include <span>

namespace tern::dp {

inline constexpr uint16_t kNoPick = 0xFFFF;

// Round robin over `n` candidates; `cursor` is the lcore's state.
uint16_t pick_rr(uint32_t n, uint32_t& cursor);

// IPVS's weighted round robin: candidates in order, each taking turns while
// its weight is at least the current weight, which steps down by the gcd of
// the weights. `cursor` and `current` are the lcore's state.
uint16_t pick_wrr(std::span<const uint16_t> weights, uint32_t& cursor, int32_t& current);

// IPVS's weighted least connection: the candidate with the smallest
// (active * 256 + inactive) / weight, compared without division; weight 0
// candidates are skipped; ties go to the first.
uint16_t pick_wlc(std::span<const uint16_t> weights, std::span<const uint64_t> active,
                  std::span<const uint64_t> inactive);

}  // namespace tern::dp
