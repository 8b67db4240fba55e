// The policed exception path: what an lcore hands to the kernel is sorted
// into classes by priority, and each class passes through a token bucket of
// its own, so a flood at the node's address (or at a VIP's unserved port)
// cannot crowd ARP/ND, BGP and health-check replies out of the TAP path.
// Pure functions and plain structs over bytes and a clock given as input:
// tests run them without the EAL. Control builds the PuntPolicy into the
// Table; the buckets are lcore-local (dataplane/worker.h).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace tern::dp {

// The classes, highest priority first. Every class has a bucket of its own:
// the first three a generous one (PuntPolicy::priority_pps), so that a
// flood with a spoofed trusted source still cannot take all of the path;
// `other` the budget.
enum class PuntClass : uint8_t {
    arp_nd,   // ARP; IPv6 neighbour discovery (ICMPv6 133..137 with hop limit 255)
    bgp,      // TCP from a configured BGP peer, to or from one of the BGP ports
    trusted,  // IP from a real server, a next hop or gateway, or a BGP peer (health-check replies)
    other,    // everything else: the per-lcore budget
    kCount
};
inline constexpr size_t kPuntClassCount = static_cast<size_t>(PuntClass::kCount);

constexpr std::string_view punt_class_name(PuntClass c) {
    constexpr std::array<std::string_view, kPuntClassCount> names = {"arp_nd", "bgp", "trusted", "other"};
    return names[static_cast<size_t>(c)];
}

// A set of IPv4 and IPv6 addresses, immutable once built: a sorted array,
// searched in O(log n) (only punted packets are looked up, never a VIP's).
class AddressSet {
public:
    // `addr` in network order; IPv4 in the first 4 bytes. Control thread.
    void add(uint8_t family, const uint8_t* addr);
    // Sorts and removes duplicates; call once after the last add().
    void seal();
    bool contains_v4(const uint8_t* addr) const;
    bool contains_v6(const uint8_t* addr) const;
    size_t size() const { return keys_.size(); }

private:
    struct Key {
        uint64_t hi, lo;  // IPv4: hi 0, lo 0xFFFF'xxxxxxxx (as ::ffff:a.b.c.d)
        friend auto operator<=>(const Key&, const Key&) = default;
    };
    static Key key_v4(const uint8_t* addr);
    static Key key_v6(const uint8_t* addr);
    bool contains(Key k) const;
    std::vector<Key> keys_;
};

// The exception path's policy, part of the table (control builds it from
// the config: dataplane.exception, the BGP peers, the servers and their
// next hops, the gateways).
struct PuntPolicy {
    uint32_t budget_pps = 5000;       // class other: packets per second per lcore
    uint32_t burst = 500;             // class other: the bucket's depth, packets
    uint32_t priority_pps = 50000;    // each priority class, per lcore (burst: a tenth of a second's worth)
    AddressSet peers;                 // BGP peers
    AddressSet trusted;               // servers, next hops, gateways, peers
    std::vector<uint16_t> bgp_ports;  // host order: bgp.listen_port and each peer's port

    uint32_t rate(PuntClass c) const { return c == PuntClass::other ? budget_pps : priority_pps; }
    uint32_t depth(PuntClass c) const {
        return c == PuntClass::other ? burst : (priority_pps / 10 > 0 ? priority_pps / 10 : 1);
    }
};

// The class of an Ethernet frame of `len` bytes that is going to the kernel.
// Reads at most `len` bytes; anything it cannot parse is `other`.
PuntClass classify_punt(const uint8_t* frame, uint32_t len, const PuntPolicy& policy);

// A token bucket of packets refilled from a clock of `hz` ticks a second
// (the TSC in tern run, microseconds of capture time in replay). Rate and
// depth are arguments, so a reload changes them at the next packet. Starts
// full. lcore-local.
class TokenBucket {
public:
    // Takes one packet's token at time `now`; false when there is none.
    bool take(uint64_t now, uint64_t hz, uint64_t rate, uint64_t depth) {
        const uint64_t cap = depth * hz;  // tokens are 1/hz of a packet
        if (!started_) {
            started_ = true;
            tokens_ = cap;
        } else if (now > last_) {
            const unsigned __int128 wide = static_cast<unsigned __int128>(now - last_) * rate;
            const uint64_t refill = wide > cap ? cap : static_cast<uint64_t>(wide);
            tokens_ = tokens_ + refill > cap ? cap : tokens_ + refill;
        }
        if (now > last_) last_ = now;      // a clock going back (replay) refills nothing
        if (tokens_ > cap) tokens_ = cap;  // depth lowered by a reload
        if (tokens_ < hz) return false;
        tokens_ -= hz;
        return true;
    }

private:
    uint64_t tokens_ = 0;
    uint64_t last_ = 0;
    bool started_ = false;
};

}  // namespace tern::dp
