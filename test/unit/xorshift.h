// A tiny deterministic generator for the randomised unit tests (Marsaglia's
// xorshift64): the same sequence on every machine, so a failure repeats.
#pragma once

#include <cstdint>

namespace tern::test {

class XorShift64 {
public:
    explicit XorShift64(uint64_t seed) : x_(seed) {}
    uint64_t operator()() {
        x_ ^= x_ << 13;
        x_ ^= x_ >> 7;
        x_ ^= x_ << 17;
        return x_;
    }

private:
    uint64_t x_;  // never 0
};

}  // namespace tern::test
