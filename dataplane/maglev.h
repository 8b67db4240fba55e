// Weighted Maglev lookup-table generation (Eisenbud et al., "Maglev: A Fast and Reliable
// Software Network Load Balancer", NSDI 2016, section 3.4). docs/maglev.md has the exact
// definition, so that another implementation can build the same rings.
//
// Pure functions: control thread only by convention (they allocate), no shared state.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace tern::dp {

inline constexpr uint16_t kNoBackend = 0xFFFF;

// Seeds of stable_hash64 (XXH64) over a backend's id: offset = H(id, kMaglevOffsetSeed) % size,
// skip = H(id, kMaglevSkipSeed) % (size - 1) + 1. ASCII "TernOffs" and "TernSkip".
inline constexpr uint64_t kMaglevOffsetSeed = 0x5465726E4F666673ull;
inline constexpr uint64_t kMaglevSkipSeed = 0x5465726E536B6970ull;

// Ring sizes for services that do not set one (`table_size: auto`, the default): the smallest
// prime above a power of two, 2^10 .. 2^22, that gives every server listed in the pool at least
// kMaglevEntriesPerServer entries. 64 is the ratio of the Maglev paper's own 65537-entry table
// for ~1000 backends; at that ratio a server's share is within one entry (1.6%) of its weight.
// The size depends only on how many servers the pool lists (drained, depooled and down ones
// included), never on health or weights, so that every balancer with the same pool builds the
// same ring; it changes only when the pool's length crosses a power of two: 1031 entries for up
// to 16 servers, 2053 for 17 to 32, ..., 65537 for 513 to 1024 (docs/maglev.md, "Ring size").
inline constexpr uint32_t kMaglevEntriesPerServer = 64;
inline constexpr uint32_t kMaglevSizeLadder[] = {1031,   2053,   4099,   8209,    16411,   32771,  65537,
                                                 131101, 262147, 524309, 1048583, 2097169, 4194319};

// The ring size for a pool of `servers` servers: the first ladder entry >= 64 * servers (the
// last one, 4194319, for more than 65,536).
uint32_t maglev_auto_size(size_t servers);

struct MaglevBackend {
    std::string_view id;  // server identity (its host name); unique within one call
    uint32_t weight;      // 0: gets no entry (drained or depooled)
};

// Returns a ring of `size` entries, each an index into `backends`, or kNoBackend in every entry
// when no backend has weight > 0. Entries are shared in proportion to weight. The result depends
// only on the set of (id, weight) and on `size`, not on the order of `backends`.
// Preconditions (asserted): size is prime and greater than the number of backends with
// weight > 0; backends.size() < 65535; ids are unique.
// Cost: O(size * log(size)) probes of a bitmap, plus O(size * log(backends)) when the weights
// are very skewed; O(size + backends) memory. About 0.8 ms for size 65537 (docs/bench/README.md).
std::vector<uint16_t> generate_ring(std::span<const MaglevBackend> backends, uint32_t size);

// A ring as a table holds it: immutable and reference counted, so that a rebuild can hand an
// unchanged ring to the next table generation instead of generating it again (ctl::RingCache).
// The entries live as long as the last table (or cache) holding them; tables are freed on the
// control thread after the RCU grace period, so lcores never touch the count. Reads cost what a
// std::vector's do: the data pointer and the size are members, one load and one indexed load.
class SharedRing {
public:
    using Entries = std::vector<uint16_t>;
    SharedRing() = default;
    // Takes a freshly generated ring (implicit: `entry.ring = generate_ring(...)`).
    SharedRing(Entries entries)  // NOLINT(google-explicit-constructor)
        : SharedRing(std::make_shared<const Entries>(std::move(entries))) {}
    explicit SharedRing(std::shared_ptr<const Entries> entries)
        : data_(entries ? entries->data() : nullptr),
          size_(entries ? static_cast<uint32_t>(entries->size()) : 0),
          owner_(std::move(entries)) {}
    SharedRing(const SharedRing&) = default;
    SharedRing& operator=(const SharedRing&) = default;
    SharedRing(SharedRing&& o) noexcept : data_(o.data_), size_(o.size_), owner_(std::move(o.owner_)) {
        o.data_ = nullptr;
        o.size_ = 0;
    }
    SharedRing& operator=(SharedRing&& o) noexcept {
        if (this != &o) {
            data_ = o.data_;
            size_ = o.size_;
            owner_ = std::move(o.owner_);
            o.data_ = nullptr;
            o.size_ = 0;
        }
        return *this;
    }

    bool empty() const { return size_ == 0; }
    size_t size() const { return size_; }
    uint16_t operator[](size_t i) const { return data_[i]; }
    const uint16_t* begin() const { return data_; }
    const uint16_t* end() const { return data_ + size_; }
    // The shared entries: equal pointers mean one ring shared by two holders.
    const std::shared_ptr<const Entries>& entries() const { return owner_; }

private:
    const uint16_t* data_ = nullptr;
    uint32_t size_ = 0;
    std::shared_ptr<const Entries> owner_;
};

// Deterministic primality test for any 32-bit n.
bool is_prime(uint32_t n);

}  // namespace tern::dp
