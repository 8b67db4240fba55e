#include "control/state/ring_cache.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <system_error>
#include <thread>

namespace tern::ctl {
namespace {

// size, then per backend: id length, id bytes, weight (fixed-width, host order).
std::string key_of(const RingInput& in) {
    size_t n = sizeof(uint32_t);
    for (const auto& b : in.backends) n += sizeof(uint32_t) * 2 + b.id.size();
    std::string k;
    k.reserve(n);
    const auto put = [&k](uint32_t v) { k.append(reinterpret_cast<const char*>(&v), sizeof v); };
    put(in.size);
    for (const auto& b : in.backends) {
        put(static_cast<uint32_t>(b.id.size()));
        k.append(b.id);
        put(b.weight);
    }
    return k;
}

}  // namespace

std::vector<std::vector<uint16_t>> generate_rings(std::span<const RingInput* const> inputs, unsigned threads) {
    std::vector<std::vector<uint16_t>> out(inputs.size());
    // Rings cost about the same each: hand them out one at a time.
    std::atomic<size_t> next{0};
    const auto work = [&] {
        for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < inputs.size();) {
            out[i] = dp::generate_ring(inputs[i]->backends, inputs[i]->size);
        }
    };
    const size_t extra = std::min<size_t>(threads > 0 ? threads - 1 : 0, inputs.size() > 0 ? inputs.size() - 1 : 0);
    std::vector<std::thread> pool;
    pool.reserve(extra);
    for (size_t t = 0; t < extra; ++t) {
        try {
            pool.emplace_back(work);
        } catch (const std::system_error&) {
            break;  // no more threads to be had: fewer do the same work
        }
    }
    work();
    for (auto& t : pool) t.join();
    return out;
}

unsigned ring_build_threads(unsigned busy) {
    cpu_set_t set;
    CPU_ZERO(&set);
    unsigned cpus = 1;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = static_cast<unsigned>(CPU_COUNT(&set));
    return std::clamp(cpus > busy ? cpus - busy : 1u, 1u, 8u);
}

std::vector<dp::SharedRing> RingCache::get(std::span<const RingInput> inputs) {
    std::unordered_map<std::string, std::shared_ptr<const dp::SharedRing::Entries>> now;
    now.reserve(inputs.size());
    std::vector<std::string> keys(inputs.size());
    std::vector<const RingInput*> missing;
    std::vector<std::string> missing_keys;
    last_ = {};
    for (size_t i = 0; i < inputs.size(); ++i) {
        keys[i] = key_of(inputs[i]);
        if (now.count(keys[i])) continue;  // a duplicate of an earlier input: shared below
        auto it = rings_.find(keys[i]);
        if (it != rings_.end()) {
            now.emplace(keys[i], it->second);
            ++last_.reused;
        } else {
            now.emplace(keys[i], nullptr);
            missing.push_back(&inputs[i]);
            missing_keys.push_back(keys[i]);
        }
    }
    auto built = generate_rings(missing, threads_);
    last_.built = built.size();
    for (size_t m = 0; m < built.size(); ++m) {
        now[missing_keys[m]] = std::make_shared<const dp::SharedRing::Entries>(std::move(built[m]));
    }
    std::vector<dp::SharedRing> out;
    out.reserve(inputs.size());
    for (const auto& k : keys) out.emplace_back(now.at(k));
    rings_ = std::move(now);
    return out;
}

}  // namespace tern::ctl
