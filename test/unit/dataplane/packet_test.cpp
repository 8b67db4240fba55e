#include "dataplane/packet.h"

#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <vector>

using namespace tern::dp;

namespace {

const uint8_t kMac[6] = {0x02, 0, 0, 0, 0, 0x01};

struct Frame {
    std::vector<uint8_t> b;
    Frame& u8(uint8_t v) { b.push_back(v); return *this; }
    Frame& u16(uint16_t v) { b.push_back(v >> 8); b.push_back(v & 0xff); return *this; }
    Frame& bytes(std::initializer_list<uint8_t> v) { b.insert(b.end(), v); return *this; }
    Frame& zeros(size_t n) { b.insert(b.end(), n, 0); return *this; }
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
    SECTION("total length beyond the frame") {
        CHECK(parse(ipv4(6, tcp(1, 80), 5, 200)).drop == Drop::bad_ip_length);
    }
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
    SECTION("payload length beyond the frame") {
        CHECK(parse(ipv6(6, tcp(1, 2), 100)).drop == Drop::bad_ip_length);
    }
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
