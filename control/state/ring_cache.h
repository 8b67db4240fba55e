// Maglev rings kept between table builds, so that a rebuild generates only
// the rings whose input changed, and generates those on a few threads.
// Control thread only (the worker threads live inside one get() call).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/maglev.h"

namespace tern::ctl {

// One service's ring input: its servers in config order (the ring holds
// indexes into this list) with their effective weights, and the ring size.
struct RingInput {
    std::vector<dp::MaglevBackend> backends;  // views into the caller's strings
    uint32_t size = 0;
};

// generate_ring for every input, on up to `threads` threads (the calling
// thread is one of them); out[i] is the ring of inputs[i], exactly what a
// serial loop gives.
std::vector<std::vector<uint16_t>> generate_rings(std::span<const RingInput* const> inputs, unsigned threads);

// Threads for ring builds when `busy` CPUs are taken by forwarding lcores:
// the CPUs this thread may run on minus those, at least 1, at most 8. New
// threads inherit the caller's CPU affinity.
unsigned ring_build_threads(unsigned busy);

class RingCache {
public:
    explicit RingCache(unsigned threads = 1) : threads_(threads < 1 ? 1 : threads) {}

    // The rings for `inputs`, in order. A ring whose input (the ordered
    // (id, weight) list and the size) was in the previous call's inputs is
    // the same shared object; the others are generated (identical inputs
    // once). Afterwards the cache holds exactly the rings of `inputs`: those
    // only the older tables use are freed with those tables.
    std::vector<dp::SharedRing> get(std::span<const RingInput> inputs);

    struct Counts {
        size_t reused = 0;  // shared from the previous call
        size_t built = 0;   // generated (distinct inputs)
    };
    const Counts& last() const { return last_; }  // of the latest get()
    size_t size() const { return rings_.size(); }
    unsigned threads() const { return threads_; }

private:
    unsigned threads_;
    // Key: the exact input (size, then each id and weight), so that no hash
    // collision can hand a service another service's ring.
    std::unordered_map<std::string, std::shared_ptr<const dp::SharedRing::Entries>> rings_;
    Counts last_;
};

}  // namespace tern::ctl
