#include "dataplane/packet.h"

#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <vector>

#include "test/unit/xorshift.h"

using namespace tern::dp;

namespace {

const uint8_t kMac[6] = {0x02, 0, 0, 0, 0, 0x01};

struct Frame {
    std::vector<uint8_t> b;
    Frame& u8(uint8_t v) {
        b.push_back(v);
        return *this;
    }
    Frame& u16(uint16_t v) {
        b.push_back(v >> 8);
        b.push_back(v & 0xff);
        return *this;
    }
    Frame& bytes(std::initializer_list<uint8_t> v) {
        b.insert(b.end(), v);
        return *this;
    }
    Frame& zeros(size_t n) {
        b.insert(b.end(), n, 0);
        return *this;
    }
};

Frame eth(uint16_t type, const uint8_t* dst = kMac) {
    Frame f;
    f.b.assign(dst, dst + 6);
    f.bytes({0x00, 0x00, 0x5e, 0x00, 0x01, 0x01}).u16(type);
    return f;
}

// IPv4 header (no options unless ihl > 5) + `l4` bytes of L4.
Frame ipv4(uint8_t proto, std::vector<uint8_t> l4, uint8_t ihl = 5, int total = -1, uint16_t frag = 0) {
    Frame f = eth(0x0800);
    const uint16_t tl = total >= 0 ? total : static_cast<uint16_t>(ihl * 4 + l4.size());
    f.u8(0x40 | ihl).u8(0).u16(tl).u16(0x1234).u16(frag).u8(64).u8(proto).u16(0);
    f.bytes({198, 51, 100, 7}).bytes({192, 0, 2, 10});
    f.zeros((ihl > 5 ? ihl - 5 : 0) * 4);
    f.b.insert(f.b.end(), l4.begin(), l4.end());
    return f;
}

std::vector<uint8_t> tcp(uint16_t sport, uint16_t dport, uint8_t doff = 5) {
    Frame f;
    f.u16(sport).u16(dport).zeros(8).u8(doff << 4).u8(0x02).zeros(6);
    f.zeros(doff > 5 ? (doff - 5) * 4 : 0);
    return f.b;
}

Parsed parse(const Frame& f) { return parse_frame(f.b.data(), f.b.size(), f.b.size(), kMac); }

}  // namespace

TEST_CASE("parser: a TCP/IPv4 frame gives its 5-tuple", "[packet]") {
    Parsed p = parse(ipv4(6, tcp(40000, 443)));
    REQUIRE(p.action == Action::lookup);
    CHECK(p.key.family == 4);
    CHECK(p.key.proto == 6);
    CHECK(p.key.sport == htons(40000));
    CHECK(p.key.dport == htons(443));
    CHECK(p.key.src[0] == 198);
    CHECK(p.key.dst[3] == 10);
    CHECK(p.key.fragment == 0);
    CHECK(p.l3_offset == 14);
}

TEST_CASE("parser: IPv4 options are skipped to reach the ports", "[packet]") {
    Parsed p = parse(ipv4(17, {0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0}, 7));
    REQUIRE(p.action == Action::lookup);
    CHECK(p.key.dport == htons(53));
}

TEST_CASE("parser: malformed frames are dropped by reason", "[packet]") {
    SECTION("shorter than Ethernet") {
        Frame f = eth(0x0800);
        f.b.resize(13);
        CHECK(parse(f).drop == Drop::truncated_ether);
    }
    SECTION("truncated IPv4 header") {
        Frame f = ipv4(6, tcp(1, 80));
        f.b.resize(14 + 19);
        Parsed p = parse(f);
        CHECK(p.action == Action::drop);
        CHECK(p.drop == Drop::truncated_ip);
    }
    SECTION("IHL below 5") {
        Frame f = ipv4(6, tcp(1, 80));
        f.b[14] = 0x44;
        CHECK(parse(f).drop == Drop::bad_ihl);
    }
    SECTION("IHL beyond the frame") {
        Frame f = ipv4(6, {});
        f.b[14] = 0x4f;
        CHECK(parse(f).drop == Drop::bad_ihl);
    }
    SECTION("wrong version") {
        Frame f = ipv4(6, tcp(1, 80));
        f.b[14] = 0x65;
        CHECK(parse(f).drop == Drop::bad_ip_version);
    }
    SECTION("total length beyond the frame") { CHECK(parse(ipv4(6, tcp(1, 80), 5, 200)).drop == Drop::bad_ip_length); }
    SECTION("total length shorter than the header") {
        CHECK(parse(ipv4(6, tcp(1, 80), 5, 16)).drop == Drop::bad_ip_length);
    }
    SECTION("truncated TCP header") {
        std::vector<uint8_t> t = tcp(1, 80);
        t.resize(12);
        CHECK(parse(ipv4(6, t)).drop == Drop::truncated_l4);
    }
    SECTION("TCP data offset beyond the packet") {
        std::vector<uint8_t> t = tcp(1, 80);
        t[12] = 0xf0;
        CHECK(parse(ipv4(6, t)).drop == Drop::truncated_l4);
    }
    SECTION("frame for another MAC") {
        const uint8_t other[6] = {0x02, 0, 0, 0, 0, 0x99};
        Frame f = eth(0x0800, other);
        f.zeros(46);
        CHECK(parse(f).drop == Drop::other_mac);
    }
}

TEST_CASE("parser: Ethernet padding beyond the IP length is allowed", "[packet]") {
    Frame f = ipv4(17, {0, 1, 0, 53, 0, 8, 0, 0});
    f.zeros(60 - f.b.size());
    Parsed p = parse(f);
    REQUIRE(p.action == Action::lookup);
    CHECK(p.key.dport == htons(53));
}

TEST_CASE("parser: what goes to the kernel", "[packet]") {
    SECTION("ARP") { CHECK(parse(eth(0x0806).zeros(28)).action == Action::punt); }
    SECTION("broadcast IPv4") {
        const uint8_t bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        Frame f = eth(0x0800, bc);
        Frame ip = ipv4(17, {0, 1, 0, 53, 0, 8, 0, 0});
        f.b.insert(f.b.end(), ip.b.begin() + 14, ip.b.end());
        CHECK(parse(f).action == Action::punt);
    }
    SECTION("malformed multicast is still dropped") {
        const uint8_t mc[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
        Frame f = eth(0x0800, mc);
        f.zeros(10);
        CHECK(parse(f).action == Action::drop);
    }
    SECTION("GRE") { CHECK(parse(ipv4(47, {0, 0, 0x08, 0, 0, 0, 0, 0})).action == Action::punt); }
}

TEST_CASE("parser: ICMP is looked up (a VIP may answer it or own its flow)", "[packet]") {
    Parsed p = parse(ipv4(1, {8, 0, 0, 0, 0, 0, 0, 0}));
    REQUIRE(p.action == Action::lookup);
    CHECK(p.key.proto == 1);
    CHECK(p.l4_offset == 34);
    CHECK(p.l3_len == 28);
    CHECK(parse(ipv4(1, {8, 0, 0, 0})).drop == Drop::truncated_l4);
}

TEST_CASE("parser: IPv4 fragments carry no ports", "[packet]") {
    SECTION("first fragment") {
        Parsed p = parse(ipv4(17, {0, 1, 0, 53, 0, 8, 0, 0}, 5, -1, 0x2000));
        REQUIRE(p.action == Action::lookup);
        CHECK(p.key.fragment == 1);
        CHECK(p.key.sport == 0);
    }
    SECTION("later fragment") {
        Parsed p = parse(ipv4(17, {1, 2, 3, 4, 5, 6, 7, 8}, 5, -1, 0x0003));
        REQUIRE(p.action == Action::lookup);
        CHECK(p.key.fragment == 1);
        CHECK(flow_hash(p.key) == flow_hash(parse(ipv4(17, {0, 1, 0, 53, 0, 8, 0, 0}, 5, -1, 0x2000)).key));
    }
}

namespace {
Frame ipv6(uint8_t next, std::vector<uint8_t> payload, int plen = -1) {
    Frame f = eth(0x86DD);
    f.bytes({0x60, 0, 0, 0}).u16(plen >= 0 ? plen : payload.size()).u8(next).u8(64);
    f.bytes({0x20, 0x01, 0x0d, 0xb8}).zeros(11).u8(7);
    f.bytes({0x26, 0x20, 0, 0, 0x08, 0x63, 0xed, 0x1a}).zeros(7).u8(1);
    f.b.insert(f.b.end(), payload.begin(), payload.end());
    return f;
}
}  // namespace

TEST_CASE("parser: IPv6 with extension headers", "[packet]") {
    SECTION("plain TCP") {
        Parsed p = parse(ipv6(6, tcp(5000, 443)));
        REQUIRE(p.action == Action::lookup);
        CHECK(p.key.family == 6);
        CHECK(p.key.dport == htons(443));
        CHECK(p.key.dst[15] == 1);
    }
    SECTION("hop-by-hop then destination options then TCP") {
        std::vector<uint8_t> pl = {60, 0, 1, 4, 0, 0, 0, 0, 6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        auto t = tcp(5000, 443);
        pl.insert(pl.end(), t.begin(), t.end());
        Parsed p = parse(ipv6(0, pl));
        REQUIRE(p.action == Action::lookup);
        CHECK(p.key.proto == 6);
        CHECK(p.key.dport == htons(443));
    }
    SECTION("truncated extension header") {
        Parsed p = parse(ipv6(0, {6, 3, 0, 0, 0, 0, 0, 0}));
        CHECK(p.drop == Drop::bad_ipv6_ext);
    }
    SECTION("payload length beyond the frame") { CHECK(parse(ipv6(6, tcp(1, 2), 100)).drop == Drop::bad_ip_length); }
    SECTION("truncated header") {
        Frame f = ipv6(6, tcp(1, 2));
        f.b.resize(14 + 39);
        CHECK(parse(f).drop == Drop::truncated_ip);
    }
    SECTION("fragment") {
        std::vector<uint8_t> pl = {17, 0, 0x00, 0x10, 0, 0, 0, 42, 1, 2, 3, 4, 5, 6, 7, 8};
        Parsed p = parse(ipv6(44, pl));
        REQUIRE(p.action == Action::lookup);
        CHECK(p.key.fragment == 1);
        CHECK(p.key.proto == 17);
    }
}

TEST_CASE("parser: 802.1Q tagged frames", "[packet]") {
    Frame f = ipv4(6, tcp(1234, 80));
    f.b.insert(f.b.begin() + 12, {0x81, 0x00, 0x00, 0x64});
    Parsed p = parse(f);
    REQUIRE(p.action == Action::lookup);
    CHECK(p.l3_offset == 18);
    CHECK(p.key.dport == htons(80));
}

TEST_CASE("flow hash: stable and sensitive to every field", "[packet]") {
    Parsed a = parse(ipv4(6, tcp(40000, 443)));
    Parsed b = parse(ipv4(6, tcp(40001, 443)));
    CHECK(flow_hash(a.key) == flow_hash(parse(ipv4(6, tcp(40000, 443))).key));
    CHECK(flow_hash(a.key) != flow_hash(b.key));
    CHECK(source_hash(a.key) == source_hash(b.key));
    CHECK(hash_to_index(0xffffffffu, 65537) == 65536);
    CHECK(hash_to_index(0, 65537) == 0);
}

namespace {

// CRC32C bit by bit (reflected, polynomial 0x82F63B78): the flow hash as
// docs/dataplane.md specifies it, independent of the instructions used.
uint32_t crc32c_ref(uint32_t crc, const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
    }
    return crc;
}

uint32_t flow_hash_ref(const FlowKey& k) {
    const size_t alen = k.family == 4 ? 4 : 16;
    uint32_t h = crc32c_ref(0x7465726eu, k.src, alen);
    h = crc32c_ref(h, k.dst, alen);
    h = crc32c_ref(h, &k.proto, 1);
    if (!k.fragment) {
        h = crc32c_ref(h, reinterpret_cast<const uint8_t*>(&k.sport), 2);
        h = crc32c_ref(h, reinterpret_cast<const uint8_t*>(&k.dport), 2);
    }
    return mix32(h);
}

uint64_t mac48(const uint8_t* mac) {
    uint64_t v = 0;
    std::memcpy(&v, mac, 6);
    return v;
}

}  // namespace

TEST_CASE("flow hash: CRC32C of the documented fields, IPv4 and IPv6, whole and fragments", "[packet]") {
    tern::test::XorShift64 next(0x243F6A8885A308D3ull);
    for (int i = 0; i < 2000; ++i) {
        FlowKey k{};
        k.family = i % 3 == 0 ? 6 : 4;
        const size_t alen = k.family == 4 ? 4 : 16;
        for (size_t b = 0; b < alen; ++b) {
            k.src[b] = static_cast<uint8_t>(next());
            k.dst[b] = static_cast<uint8_t>(next());
        }
        k.proto = i % 2 ? kProtoTcp : kProtoUdp;
        k.fragment = i % 7 == 0;
        if (!k.fragment) {
            k.sport = static_cast<uint16_t>(next());
            k.dport = static_cast<uint16_t>(next());
        }
        REQUIRE(flow_hash(k) == flow_hash_ref(k));
        if (k.family == 4 && !k.fragment) {
            uint64_t addrs = 0;
            uint32_t ports = 0;
            std::memcpy(&addrs, k.src, 4);
            std::memcpy(reinterpret_cast<uint8_t*>(&addrs) + 4, k.dst, 4);
            std::memcpy(&ports, &k.sport, 2);
            std::memcpy(reinterpret_cast<uint8_t*>(&ports) + 2, &k.dport, 2);
            REQUIRE(flow_hash_v4(addrs, k.proto, ports) == flow_hash(k));
        }
    }
}

TEST_CASE("parser: the IPv4 fast path agrees with parse_frame wherever it answers", "[packet]") {
    // Valid frames of the fast shape, then random damage to the bytes the
    // parsers read and to the lengths: the fast path must either decline or
    // give parse_frame's answer, byte for byte.
    const std::vector<Frame> bases = {
        ipv4(6, tcp(40000, 443)),
        ipv4(17, {0x9c, 0x40, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00}),
        ipv4(6, tcp(1, 80, 8)),
        ipv4(6, tcp(1, 80), 5, 40),
    };
    tern::test::XorShift64 next(0x9E3779B97F4A7C15ull);
    int answered = 0, declined = 0;
    for (int i = 0; i < 200000; ++i) {
        std::vector<uint8_t> f = bases[i % bases.size()].b;
        f.resize(f.size() + next() % 24, 0);  // Ethernet padding, trailing bytes
        const int damage = static_cast<int>(next() % 4);
        for (int k = 0; k < damage; ++k) {
            const size_t at = next() % 60;
            if (at >= f.size()) continue;
            // Mostly small changes to the fields that decide the shape.
            const uint64_t r = next();
            f[at] = (r & 3) == 0 ? static_cast<uint8_t>(r >> 8) : static_cast<uint8_t>(f[at] ^ (1u << ((r >> 8) % 8)));
        }
        uint32_t len = static_cast<uint32_t>(f.size());
        uint32_t pkt_len = len;
        switch (next() % 8) {
            case 0: len = static_cast<uint32_t>(next() % (f.size() + 1)); break;      // a shorter first segment
            case 1: pkt_len = static_cast<uint32_t>(next() % (f.size() + 1)); break;  // frame shorter than the buffer
            case 2: pkt_len = len + static_cast<uint32_t>(next() % 100); break;       // more segments
            default: break;
        }
        f.resize(std::max<size_t>(f.size(), 64), 0);  // the loads never pass the buffer
        const Parsed ref = parse_frame(f.data(), len, pkt_len, kMac);
        Parsed fast;
        std::memset(&fast, 0xA5, sizeof(fast));
        if (!is_fast_v4(f.data(), len, pkt_len, mac48(kMac))) {
            ++declined;
            continue;
        }
        fast_v4_parsed(f.data(), fast);
        ++answered;
        REQUIRE(ref.action == Action::lookup);
        CHECK(fast.action == ref.action);
        CHECK(fast.drop == ref.drop);
        CHECK(fast.l3_offset == ref.l3_offset);
        CHECK(fast.l4_offset == ref.l4_offset);
        CHECK(fast.l3_len == ref.l3_len);
        REQUIRE(std::memcmp(&fast.key, &ref.key, sizeof(FlowKey)) == 0);
    }
    CHECK(answered > 10000);
    CHECK(declined > 10000);
}

TEST_CASE("parser: the IPv4 fast path declines what is not its shape", "[packet]") {
    const auto fast = [](const Frame& f) { return is_fast_v4(f.b.data(), f.b.size(), f.b.size(), mac48(kMac)); };
    CHECK(fast(ipv4(6, tcp(40000, 443))));
    CHECK(fast(ipv4(17, {0, 1, 0, 2, 0, 8, 0, 0})) == false);    // 42 bytes: shorter than the fast path reads
    CHECK_FALSE(fast(ipv4(6, tcp(40000, 443), 6)));              // IPv4 options
    CHECK_FALSE(fast(ipv4(6, tcp(40000, 443), 5, -1, 0x2000)));  // MF
    CHECK_FALSE(fast(ipv4(6, tcp(40000, 443), 5, -1, 0x0001)));  // an offset
    CHECK(fast(ipv4(6, tcp(40000, 443), 5, -1, 0x4000)));        // DF alone is whole
    CHECK_FALSE(fast(ipv4(1, std::vector<uint8_t>(20, 0))));     // ICMP
    CHECK_FALSE(fast(ipv4(47, std::vector<uint8_t>(20, 0))));    // GRE
    const uint8_t other[6] = {0x02, 0, 0, 0, 0, 0x02};
    Frame f = ipv4(6, tcp(40000, 443));
    std::memcpy(f.b.data(), other, 6);
    CHECK_FALSE(fast(f));  // another MAC
    std::memset(f.b.data(), 0xFF, 6);
    CHECK_FALSE(fast(f));  // broadcast
}
