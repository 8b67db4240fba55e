// The exception path's classes and token bucket (dataplane/punt_policy.h),
// over hand-built frames and a fake clock.
#include "dataplane/punt_policy.h"

#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

using namespace tern::dp;

namespace {

struct Frame {
    std::vector<uint8_t> b;
    Frame& u8(uint8_t v) {
        b.push_back(v);
        return *this;
    }
    Frame& u16(uint16_t v) {
        b.push_back(static_cast<uint8_t>(v >> 8));
        b.push_back(static_cast<uint8_t>(v & 0xff));
        return *this;
    }
    Frame& zeros(size_t n) {
        b.insert(b.end(), n, 0);
        return *this;
    }
    Frame& addr4(const char* text) {
        uint8_t a[4];
        REQUIRE(inet_pton(AF_INET, text, a) == 1);
        b.insert(b.end(), a, a + 4);
        return *this;
    }
    Frame& addr6(const char* text) {
        uint8_t a[16];
        REQUIRE(inet_pton(AF_INET6, text, a) == 1);
        b.insert(b.end(), a, a + 16);
        return *this;
    }
};

Frame eth(uint16_t type) { return Frame{}.zeros(12).u16(type); }

// IPv4 with protocol `proto`, then `l4` (ports, or an ICMP type).
Frame ip4(const char* src, uint8_t proto, uint16_t sport, uint16_t dport, uint16_t frag = 0, uint16_t tag = 0) {
    Frame f = tag ? eth(0x8100).u16(tag).u16(0x0800) : eth(0x0800);
    f.u8(0x45).u8(0).u16(40).u16(1).u16(frag).u8(64).u8(proto).u16(0).addr4(src).addr4("192.0.2.10");
    return f.u16(sport).u16(dport).zeros(16);
}

Frame ip6(const char* src, uint8_t next, uint8_t hop_limit, uint16_t w0, uint16_t w1) {
    Frame f = eth(0x86DD);
    f.u8(0x60).zeros(3).u16(20).u8(next).u8(hop_limit).addr6(src).addr6("2001:db8::10");
    return f.u16(w0).u16(w1).zeros(16);
}

void add4(AddressSet& s, const char* text) {
    uint8_t a[16] = {};
    REQUIRE(inet_pton(AF_INET, text, a) == 1);
    s.add(4, a);
}

void add6(AddressSet& s, const char* text) {
    uint8_t a[16];
    REQUIRE(inet_pton(AF_INET6, text, a) == 1);
    s.add(6, a);
}

PuntPolicy policy() {
    PuntPolicy p;
    add4(p.peers, "192.0.2.1");
    add6(p.peers, "2001:db8::1");
    p.peers.seal();
    for (const char* a : {"192.0.2.1", "10.0.0.5", "10.0.0.7"}) add4(p.trusted, a);
    add4(p.trusted, "10.0.0.5");  // twice: seal() keeps one
    add6(p.trusted, "2001:db8::1");
    add6(p.trusted, "2001:db8::5");
    p.trusted.seal();
    p.bgp_ports = {179, 1179};
    return p;
}

PuntClass classify(const Frame& f, const PuntPolicy& p) {
    return classify_punt(f.b.data(), static_cast<uint32_t>(f.b.size()), p);
}

}  // namespace

TEST_CASE("punt policy: address set", "[punt]") {
    const PuntPolicy p = policy();
    CHECK(p.trusted.size() == 5);
    uint8_t a[16] = {};
    inet_pton(AF_INET, "10.0.0.7", a);
    CHECK(p.trusted.contains_v4(a));
    inet_pton(AF_INET, "10.0.0.6", a);
    CHECK_FALSE(p.trusted.contains_v4(a));
    // An IPv4 address is not the IPv6 address with the same bytes in front.
    uint8_t v6[16] = {};
    std::memcpy(v6, a, 4);
    CHECK_FALSE(p.trusted.contains_v6(v6));
    inet_pton(AF_INET6, "2001:db8::5", v6);
    CHECK(p.trusted.contains_v6(v6));
    CHECK_FALSE(AddressSet{}.contains_v4(a));
}

TEST_CASE("punt policy: classes of frames", "[punt]") {
    const PuntPolicy p = policy();
    SECTION("ARP, tagged or not") {
        CHECK(classify(eth(0x0806).zeros(28), p) == PuntClass::arp_nd);
        CHECK(classify(eth(0x8100).u16(7).u16(0x0806).zeros(28), p) == PuntClass::arp_nd);
        CHECK(classify(eth(0x88A8).u16(7).u16(0x8100).u16(8).u16(0x0806).zeros(28), p) == PuntClass::arp_nd);
    }
    SECTION("neighbour discovery needs hop limit 255") {
        CHECK(classify(ip6("fe80::9", 58, 255, 135 << 8, 0), p) == PuntClass::arp_nd);
        CHECK(classify(ip6("fe80::9", 58, 255, 136 << 8, 0), p) == PuntClass::arp_nd);
        CHECK(classify(ip6("fe80::9", 58, 64, 135 << 8, 0), p) == PuntClass::other);
        CHECK(classify(ip6("fe80::9", 58, 255, 128 << 8, 0), p) == PuntClass::other);  // echo request
    }
    SECTION("BGP: TCP from a peer, to or from a BGP port") {
        CHECK(classify(ip4("192.0.2.1", 6, 40000, 179), p) == PuntClass::bgp);
        CHECK(classify(ip4("192.0.2.1", 6, 179, 40000), p) == PuntClass::bgp);
        CHECK(classify(ip4("192.0.2.1", 6, 40000, 1179), p) == PuntClass::bgp);
        CHECK(classify(ip4("192.0.2.1", 6, 40000, 179, 0, 5), p) == PuntClass::bgp);
        CHECK(classify(ip6("2001:db8::1", 6, 64, 179, 50000), p) == PuntClass::bgp);
        // The peer on another port, or UDP, is only trusted.
        CHECK(classify(ip4("192.0.2.1", 6, 40000, 22), p) == PuntClass::trusted);
        CHECK(classify(ip4("192.0.2.1", 17, 40000, 179), p) == PuntClass::trusted);
        // A later fragment's "ports" are payload.
        CHECK(classify(ip4("192.0.2.1", 6, 40000, 179, 0x0010), p) == PuntClass::trusted);
        // Port 179 from anyone else is other.
        CHECK(classify(ip4("198.51.100.9", 6, 40000, 179), p) == PuntClass::other);
    }
    SECTION("trusted sources and the rest") {
        CHECK(classify(ip4("10.0.0.5", 6, 80, 41000), p) == PuntClass::trusted);
        CHECK(classify(ip4("10.0.0.7", 1, 0, 0), p) == PuntClass::trusted);
        CHECK(classify(ip6("2001:db8::5", 17, 64, 53, 1000), p) == PuntClass::trusted);
        CHECK(classify(ip4("10.0.0.6", 6, 80, 41000), p) == PuntClass::other);
        CHECK(classify(ip6("2001:db8::6", 6, 64, 80, 1000), p) == PuntClass::other);
        CHECK(classify(eth(0x88CC).zeros(40), p) == PuntClass::other);  // LLDP
    }
    SECTION("truncated or malformed is other, never read past the end") {
        const Frame bgp = ip4("192.0.2.1", 6, 40000, 179);
        for (size_t n = 0; n < bgp.b.size(); ++n) {
            std::vector<uint8_t> cut(bgp.b.begin(), bgp.b.begin() + static_cast<long>(n));
            const PuntClass c = classify_punt(cut.data(), static_cast<uint32_t>(n), p);
            INFO(n);
            if (n < 14 + 20) {
                CHECK(c == PuntClass::other);
            } else if (n < 14 + 24) {
                CHECK(c == PuntClass::trusted);  // the source is there, the ports are not
            } else {
                CHECK(c == PuntClass::bgp);
            }
        }
        Frame bad_ihl = ip4("10.0.0.5", 6, 1, 2);
        bad_ihl.b[14] = 0x44;
        CHECK(classify(bad_ihl, p) == PuntClass::other);
        CHECK(classify(eth(0x8100).u16(7), p) == PuntClass::other);
    }
}

TEST_CASE("punt policy: depths", "[punt]") {
    PuntPolicy p;
    p.budget_pps = 1000;
    p.burst = 50;
    p.priority_pps = 20000;
    CHECK(p.rate(PuntClass::other) == 1000);
    CHECK(p.depth(PuntClass::other) == 50);
    CHECK(p.rate(PuntClass::bgp) == 20000);
    CHECK(p.depth(PuntClass::arp_nd) == 2000);
    p.priority_pps = 5;
    CHECK(p.depth(PuntClass::trusted) == 1);
}

TEST_CASE("token bucket: burst, then the rate, on a fake clock", "[punt]") {
    constexpr uint64_t hz = 1000000;  // microseconds
    TokenBucket b;
    uint64_t now = 5000000;
    int passed = 0;
    for (int i = 0; i < 100; ++i) passed += b.take(now, hz, 1000, 20);
    CHECK(passed == 20);  // starts full: the burst
    // 1000/s: one packet a millisecond; 10 ms later, 10 more.
    now += 10000;
    passed = 0;
    for (int i = 0; i < 100; ++i) passed += b.take(now, hz, 1000, 20);
    CHECK(passed == 10);
    // A steady 100,000 pps for 2 s (a packet every 10 us) passes the rate.
    passed = 0;
    for (int i = 0; i < 200000; ++i) passed += b.take(now += 10, hz, 1000, 20);
    CHECK(passed >= 1999);
    CHECK(passed <= 2001);
    // After a long pause only the depth: the bucket does not hoard.
    now += 3600 * hz;
    passed = 0;
    for (int i = 0; i < 100; ++i) passed += b.take(now, hz, 1000, 20);
    CHECK(passed == 20);
    // A clock that goes back refills nothing.
    passed = 0;
    for (int i = 0; i < 10; ++i) passed += b.take(now - 500000, hz, 1000, 20);
    CHECK(passed == 0);
}

TEST_CASE("token bucket: a depth larger than a second's rate fills over seconds", "[punt]") {
    constexpr uint64_t hz = 2'500'000'000ull;  // a TSC
    TokenBucket b;
    uint64_t now = hz;
    while (b.take(now, hz, 100, 500)) {
    }
    now += hz;  // one second: 100 tokens, not 500
    int passed = 0;
    while (b.take(now, hz, 100, 500)) ++passed;
    CHECK(passed == 100);
    // A lower depth (a reload) takes effect at once.
    now += 10 * hz;
    passed = 0;
    while (b.take(now, hz, 100, 30)) ++passed;
    CHECK(passed == 30);
}
