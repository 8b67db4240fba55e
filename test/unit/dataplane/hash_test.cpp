// stable_hash64 (XXH64) and mix32: known answers, byte-order independence, avalanche, spread.
#include "dataplane/hash.h"

#include <array>
#include <bit>
#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using tern::dp::mix32;
using tern::dp::stable_hash64;

namespace {

// Fraction of output bits that flip, per (input bit, output bit), when one input bit flips.
// Returns the worst deviation from 1/2 and the mean flip fraction.
template <typename Hash>
std::pair<double, double> avalanche(size_t in_bytes, int out_bits, int samples, Hash hash) {
    std::mt19937_64 rng(20240611);
    std::vector<int> flips(in_bytes * 8 * out_bits, 0);
    std::vector<unsigned char> buf(in_bytes);
    long total = 0;
    for (int s = 0; s < samples; ++s) {
        for (auto& c : buf) c = static_cast<unsigned char>(rng());
        const uint64_t base = hash(buf);
        for (size_t bit = 0; bit < in_bytes * 8; ++bit) {
            buf[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
            const uint64_t diff = base ^ hash(buf);
            buf[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
            total += std::popcount(diff);
            for (int o = 0; o < out_bits; ++o) flips[bit * out_bits + o] += (diff >> o) & 1;
        }
    }
    double worst = 0;
    for (int f : flips) worst = std::max(worst, std::abs(double(f) / samples - 0.5));
    const double mean = double(total) / (double(samples) * double(in_bytes * 8) * out_bits);
    return {worst, mean};
}

// Pearson chi-square of `n` hashes bucketed into `buckets` (a power of two) by a bit range.
template <typename Hash>
double chi_square(int n, int buckets, Hash bucket_of) {
    std::vector<int> count(buckets, 0);
    for (int i = 0; i < n; ++i) ++count[bucket_of(i)];
    const double expected = double(n) / buckets;
    double chi = 0;
    for (int c : count) chi += (c - expected) * (c - expected) / expected;
    return chi;
}

}  // namespace

TEST_CASE("stable_hash64 is XXH64: published and reference-library answers", "[hash]") {
    // Published XXH64 values (xxHash's own sanity checks).
    CHECK(stable_hash64("", 0, 0) == 0xEF46DB3751D8E999ull);
    CHECK(stable_hash64("a", 1, 0) == 0xD24EC4F1A98C6E5Bull);
    CHECK(stable_hash64("abc", 3, 0) == 0x44BC2CF5AD770999ull);
    CHECK(stable_hash64(std::string_view("abc"), 0) == 0x44BC2CF5AD770999ull);

    // Every code path (stripes of 32, 8-, 4- and 1-byte tails) with a non-zero seed; values
    // checked once against libxxhash 0.8.1's XXH64, so a change to the function is caught.
    std::array<unsigned char, 100> buf{};
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<unsigned char>(i * 31 + 7);
    const uint64_t seed = 0x5465726E4F666673ull;
    struct Kat {
        size_t len;
        uint64_t hash;
    };
    const Kat kats[] = {
        {1, 0x23AFAB2FEA245F53ull},  {3, 0xDC92C3E95ED0C610ull},  {4, 0x0531991F345BB893ull},
        {7, 0x9AB68BA41DCDC02Bull},  {8, 0x64201A8BEC3E85ABull},  {15, 0x8AAF1FCC798E041Aull},
        {31, 0x159925EDACBC75FAull}, {32, 0x052121408EFC9767ull}, {33, 0x671A3D3A66AED404ull},
        {63, 0xA8C9B0F826324351ull}, {64, 0x2B44CD9FE5233E53ull}, {100, 0x78662390D1A3994Eull},
    };
    for (const Kat& k : kats) {
        INFO("len " << k.len);
        CHECK(stable_hash64(buf.data(), k.len, seed) == k.hash);
    }
    CHECK(stable_hash64(std::string_view("cp1001.eqiad.wmnet"), 0) == 0x75C0B04FCF2DEDDBull);
    CHECK(stable_hash64(std::string_view("cp1001.eqiad.wmnet"), 0x5465726E4D676C31ull) == 0x5CA13115D82A2374ull);
}

TEST_CASE("stable_hash64 does not depend on alignment; seed and length matter", "[hash]") {
    std::array<unsigned char, 80> buf{};
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<unsigned char>(i * 7 + 1);
    for (size_t len = 0; len <= 64; ++len) {
        const uint64_t aligned = stable_hash64(buf.data(), len, 9);
        for (size_t off = 1; off < 8; ++off) {
            std::array<unsigned char, 80> shifted{};
            std::memcpy(shifted.data() + off, buf.data(), len);
            REQUIRE(stable_hash64(shifted.data() + off, len, 9) == aligned);
        }
        CHECK(stable_hash64(buf.data(), len, 10) != aligned);
        if (len > 0) CHECK(stable_hash64(buf.data(), len - 1, 9) != aligned);
    }
    // Trailing zero bytes change the value.
    const unsigned char zeros[4] = {0, 0, 0, 0};
    CHECK(stable_hash64(zeros, 1, 0) != stable_hash64(zeros, 2, 0));
}

TEST_CASE("stable_hash64 avalanches", "[hash]") {
    for (size_t len : {4, 12, 18, 40}) {
        const auto [worst, mean] = avalanche(len, 64, 2000, [](const std::vector<unsigned char>& b) {
            return stable_hash64(b.data(), b.size(), 0x5465726E536B6970ull);
        });
        INFO("len " << len << ": worst bias " << worst << ", mean flip " << mean);
        CHECK(mean == Approx(0.5).margin(0.005));
        CHECK(worst < 0.05);  // 2000 samples: sigma ~0.011
    }
}

TEST_CASE("stable_hash64 spreads host names evenly", "[hash]") {
    // 100000 names into 1024 buckets, by the low and by the high bits. chi-square with 1023
    // degrees of freedom: mean 1023, sigma ~45.
    std::vector<uint64_t> h(100000);
    for (int i = 0; i < 100000; ++i) {
        const std::string name = "cp" + std::to_string(i) + ".eqiad.wmnet";
        h[i] = stable_hash64(name, 0);
    }
    const double low = chi_square(100000, 1024, [&](int i) { return int(h[i] & 1023); });
    const double high = chi_square(100000, 1024, [&](int i) { return int(h[i] >> 54); });
    INFO("chi-square low " << low << ", high " << high);
    CHECK(low < 1300);
    CHECK(high < 1300);
}

TEST_CASE("mix32 is murmur3 fmix32", "[hash]") {
    STATIC_REQUIRE(mix32(0) == 0);
    CHECK(mix32(1) == 0x514E28B7u);
    CHECK(mix32(2) == 0x30F4C306u);
    CHECK(mix32(0x12345678u) == 0xE37CD1BCu);
    CHECK(mix32(0xFFFFFFFFu) == 0x81F16F39u);

    const auto [worst, mean] = avalanche(4, 32, 4000, [](const std::vector<unsigned char>& b) {
        uint32_t x = 0;
        std::memcpy(&x, b.data(), 4);  // any order: only flip statistics matter here
        return uint64_t{mix32(x)};
    });
    INFO("worst bias " << worst << ", mean flip " << mean);
    CHECK(mean == Approx(0.5).margin(0.005));
    CHECK(worst < 0.05);

    // Sequential inputs (what a weak CRC might give) spread evenly over the low bits.
    const double chi = chi_square(100000, 1024, [](int i) { return int(mix32(uint32_t(i)) & 1023); });
    INFO("chi-square " << chi);
    CHECK(chi < 1300);
}
