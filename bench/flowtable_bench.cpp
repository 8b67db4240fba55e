#include "bench/flowtable_bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>
#include <vector>

#include "dataplane/flow_table.h"
#include "dataplane/packet.h"

namespace tern::bench {
namespace {

using Clock = std::chrono::steady_clock;

dp::FlowKey key_of(uint64_t i) {
    dp::FlowKey k{};
    k.family = 4;
    k.proto = dp::kProtoTcp;
    k.src[0] = 10;
    k.src[1] = static_cast<uint8_t>(i >> 16);
    k.src[2] = static_cast<uint8_t>(i >> 8);
    k.src[3] = static_cast<uint8_t>(i);
    k.dst[0] = 192;
    k.dst[3] = 10;
    k.sport = static_cast<uint16_t>(i >> 24 | 1024);
    k.dport = 443;
    return k;
}

std::vector<uint64_t> parse_list(const std::string& s) {
    std::vector<uint64_t> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(std::stoull(item));
    return out;
}

// SplitMix64: random line numbers.
uint64_t scramble(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

}  // namespace

int run_memlimit(const Args& args) {
    const size_t mib = static_cast<size_t>(args.num("mib", 128));
    const auto groups = parse_list(args.get("groups", "1,8,16,32,64"));
    const uint64_t lookups = static_cast<uint64_t>(args.num("lookups", 4e6));
    const size_t capacity = std::max<size_t>(1024, mib * (size_t{1} << 20) / 64);
    dp::FlowMemory mem(capacity);
    auto* base = static_cast<uint8_t*>(mem.data());
    // The table's shape: bucket lines first (1/9 of the memory), entries after.
    const size_t bucket_lines = capacity / dp::FlowTable::kWays;
    const size_t entry_lines = dp::FlowTable::bytes_for(capacity) / 64 - bucket_lines;
    std::memset(base, 1, dp::FlowTable::bytes_for(capacity));
    uint64_t seed = 1, sum = 0;
    fmt::print("{{\"mib\": {}, \"results\": [", mib);
    bool first = true;
    for (uint64_t g : groups) {
        g = std::clamp<uint64_t>(g, 1, 128);
        const uint64_t n = std::max<uint64_t>(g, lookups / g * g);
        std::vector<size_t> a(g), e(g);
        auto t0 = Clock::now();
        for (uint64_t i = 0; i < n; i += g) {
            for (size_t k = 0; k < g; ++k) {
                a[k] = scramble(seed++) % (bucket_lines + entry_lines);
                __builtin_prefetch(base + a[k] * 64);
            }
            for (size_t k = 0; k < g; ++k) sum += *reinterpret_cast<volatile uint64_t*>(base + a[k] * 64);
        }
        const double line_ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
        t0 = Clock::now();
        for (uint64_t i = 0; i < n; i += g) {
            for (size_t k = 0; k < g; ++k) {
                a[k] = scramble(seed++) % bucket_lines;
                __builtin_prefetch(base + a[k] * 64);
            }
            for (size_t k = 0; k < g; ++k) {
                // The entry depends on what the bucket line holds, as a way's signature match.
                const uint64_t v = *reinterpret_cast<volatile uint64_t*>(base + a[k] * 64);
                e[k] = bucket_lines + (a[k] * dp::FlowTable::kWays + (v & 7)) % entry_lines;
                __builtin_prefetch(base + e[k] * 64);
            }
            for (size_t k = 0; k < g; ++k) sum += *reinterpret_cast<volatile uint64_t*>(base + e[k] * 64);
        }
        const double pair_ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
        fmt::print("{}{{\"group\": {}, \"ns_per_line\": {:.2f}, \"ns_per_lookup\": {:.2f}}}", first ? "" : ", ", g,
                   line_ns, pair_ns);
        first = false;
    }
    fmt::print("], \"checksum\": {}}}\n", sum & 1);
    return 0;
}

int run_flowtable(const Args& args) {
    const auto counts = parse_list(args.get("flows", "1000000,10000000"));
    fmt::print("{{\"bytes_per_entry\": {}, \"results\": [", dp::FlowTable::bytes_for(1024) / 1024);
    bool first = true;
    for (uint64_t n : counts) {
        // The smallest power of two at least 1.25 x n: the table is sized for
        // its flows with headroom, as an operator would.
        uint64_t cap = 1024;
        while (cap < n + n / 4) cap <<= 1;
        dp::FlowMemory mem(cap);
        dp::FlowTable t(mem.data(), cap, dp::FlowTimeouts{}, nullptr, nullptr);
        std::vector<uint32_t> hashes(n);
        for (uint64_t i = 0; i < n; ++i) hashes[i] = dp::flow_hash(key_of(i));
        const uint32_t now = 1000;
        auto t0 = Clock::now();
        for (uint64_t i = 0; i < n; ++i) {
            dp::FlowEntry* e = t.insert(key_of(i), hashes[i], now);
            t.set_state(*e, dp::ConnState::established, now);
        }
        const double ins_s = std::chrono::duration<double>(Clock::now() - t0).count();
        std::vector<uint64_t> order(n);
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
        uint64_t hits = 0;
        t0 = Clock::now();
        for (uint64_t i : order) hits += t.find(key_of(i), hashes[i], now) != nullptr;
        const double look_s = std::chrono::duration<double>(Clock::now() - t0).count();
        fmt::print(
            "{}{{\"flows\": {}, \"capacity\": {}, \"bytes\": {}, \"inserts_per_s\": {:.0f}, "
            "\"lookups_per_s\": {:.0f}, \"hits\": {}, \"evictions\": {}}}",
            first ? "" : ", ", n, cap, dp::FlowTable::bytes_for(cap), n / ins_s, n / look_s, hits, t.evictions());
        first = false;
    }
    fmt::print("]}}\n");
    return 0;
}

}  // namespace tern::bench
