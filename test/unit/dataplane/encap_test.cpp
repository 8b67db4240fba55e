#include "dataplane/encap.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

using namespace tern::dp;

namespace {

// RFC 1071 written out, the reference the DPDK helpers in encap.cpp are
// checked against: 16-bit big-endian words (an odd last byte padded with
// zero), carries added back, complemented at the end.
uint32_t csum_add(uint32_t sum, const uint8_t* data, size_t len) {
    uint64_t s = sum;
    size_t i = 0;
    for (; i + 1 < len; i += 2) s += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
    if (i < len) s += static_cast<uint32_t>(data[i] << 8);
    while (s >> 32) s = (s & 0xFFFFFFFFu) + (s >> 32);
    return static_cast<uint32_t>(s);
}

uint16_t csum_fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

// A 60-byte IPv4/TCP packet with TOS 0xB8 (EF), DF, ID 0x1234.
std::vector<uint8_t> inner_v4() {
    std::vector<uint8_t> p(60, 0);
    p[0] = 0x45;
    p[1] = 0xB8;
    p[2] = 0;
    p[3] = 60;
    p[4] = 0x12;
    p[5] = 0x34;
    p[6] = 0x40;
    p[8] = 57;
    p[9] = 6;
    uint8_t src[4] = {198, 51, 100, 7}, dst[4] = {192, 0, 2, 10};
    std::memcpy(&p[12], src, 4);
    std::memcpy(&p[16], dst, 4);
    const uint16_t c = csum_fold(csum_add(0, p.data(), 20));
    p[10] = c >> 8;
    p[11] = c & 0xff;
    return p;
}

bool valid_ipv4_checksum(const uint8_t* ip) { return csum_fold(csum_add(0, ip, 20)) == 0; }

}  // namespace

TEST_CASE("encap: checksum of a known header (RFC 1071 example style)", "[encap]") {
    // 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7
    const uint8_t h[20] = {0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7};
    CHECK(csum_fold(csum_add(0, h, 20)) == 0xb861);
}

TEST_CASE("encap: outer IPv4 copies TOS, DF and ID, TTL 64, protocol 4", "[encap]") {
    auto in = inner_v4();
    uint8_t out[20];
    const uint8_t src[4] = {10, 64, 1, 7}, dst[4] = {10, 64, 0, 21};
    write_outer_ipv4(out, in.data(), 60, src, dst);
    CHECK(out[0] == 0x45);
    CHECK(out[1] == 0xB8);
    CHECK((out[2] << 8 | out[3]) == 80);
    CHECK(out[4] == 0x12);
    CHECK(out[5] == 0x34);
    CHECK(out[6] == 0x40);
    CHECK(out[7] == 0);
    CHECK(out[8] == 64);
    CHECK(out[9] == 4);
    CHECK(std::memcmp(out + 12, src, 4) == 0);
    CHECK(std::memcmp(out + 16, dst, 4) == 0);
    CHECK(valid_ipv4_checksum(out));
    in[6] = 0x20;  // MF set, no DF: the outer has neither
    write_outer_ipv4(out, in.data(), 60, src, dst);
    CHECK(out[6] == 0);
}

TEST_CASE("encap: outer IPv6 copies the traffic class, flow label from the hash", "[encap]") {
    uint8_t in[60] = {0x6b, 0x80, 0, 0, 0, 20, 6, 64};  // TC 0xb8
    uint8_t out[40];
    uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8}, dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
    write_outer_ipv6(out, in, 60, src, dst, 0xABCDE123u);
    CHECK(out[0] == 0x6b);
    CHECK(out[1] == 0x8D);  // TC low nibble 8, label high nibble D
    CHECK(out[2] == 0xE1);
    CHECK(out[3] == 0x23);
    CHECK((out[4] << 8 | out[5]) == 60);
    CHECK(out[6] == 41);
    CHECK(out[7] == 64);
    CHECK(std::memcmp(out + 24, dst, 16) == 0);
}

TEST_CASE("encap: per-flow source inside the prefix", "[encap]") {
    const uint8_t base[4] = {10, 64, 1, 0};
    uint8_t out[16];
    pick_in_prefix(base, 24, 4, 0x12345678u, out);
    CHECK(out[0] == 10);
    CHECK(out[1] == 64);
    CHECK(out[2] == 1);
    CHECK(out[3] == 0x78);
    pick_in_prefix(base, 32, 4, 0xffffffffu, out);
    CHECK(std::memcmp(out, base, 4) == 0);
    const uint8_t base6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1};
    pick_in_prefix(base6, 64, 6, 0xdeadbeefu, out);
    CHECK(std::memcmp(out, base6, 8) == 0);
    CHECK(out[12] == 0xde);
    CHECK(out[15] == 0xef);
}

TEST_CASE("encap: ICMP fragmentation needed quotes the packet and names the MTU", "[encap]") {
    std::vector<uint8_t> big(1500, 0xAA);
    auto hdr = inner_v4();
    std::memcpy(big.data(), hdr.data(), 20);
    big[2] = 1500 >> 8;
    big[3] = 1500 & 0xff;
    std::vector<uint8_t> buf(big);
    const uint8_t vip[4] = {192, 0, 2, 10};
    const size_t len = write_icmp4_frag_needed(buf.data(), buf.data(), buf.size(), 1480, vip);
    CHECK(len == 576);
    CHECK(valid_ipv4_checksum(buf.data()));
    CHECK(std::memcmp(buf.data() + 12, vip, 4) == 0);
    CHECK(std::memcmp(buf.data() + 16, big.data() + 12, 4) == 0);  // to the client
    CHECK(buf[20] == 3);
    CHECK(buf[21] == 4);
    CHECK((buf[26] << 8 | buf[27]) == 1480);
    CHECK(csum_fold(csum_add(0, buf.data() + 20, len - 20)) == 0);
    CHECK(std::memcmp(buf.data() + 28, big.data(), len - 28) == 0);
}

TEST_CASE("encap: ICMPv6 packet too big has a valid checksum over the pseudo-header", "[encap]") {
    std::vector<uint8_t> pkt(1500, 0x55);
    pkt[0] = 0x60;
    pkt[4] = (1460 >> 8);
    pkt[5] = 1460 & 0xff;
    pkt[6] = 6;
    pkt[7] = 64;
    std::vector<uint8_t> buf(pkt);
    uint8_t vip[16] = {0x26, 0x20, 0, 0, 0x08, 0x63, 0xed, 0x1a};
    vip[15] = 1;
    const size_t len = write_icmp6_packet_too_big(buf.data(), buf.data(), buf.size(), 1460, vip);
    CHECK(len == 1280);
    CHECK(buf[40] == 2);
    CHECK((buf[44] << 24 | buf[45] << 16 | buf[46] << 8 | buf[47]) == 1460);
    // Verify: pseudo-header + message sums to 0xffff.
    uint32_t sum = csum_add(0, buf.data() + 8, 32);
    const uint32_t plen = static_cast<uint32_t>(len - 40);
    uint8_t tail[8] = {0, 0, static_cast<uint8_t>(plen >> 8), static_cast<uint8_t>(plen), 0, 0, 0, 58};
    sum = csum_add(sum, tail, 8);
    CHECK(csum_fold(csum_add(sum, buf.data() + 40, plen)) == 0);
    CHECK(std::memcmp(buf.data() + 24, pkt.data() + 8, 16) == 0);
}

TEST_CASE("encap: echo request becomes a reply", "[encap]") {
    std::vector<uint8_t> p(28 + 8, 0);
    p[0] = 0x45;
    p[3] = 36;
    p[8] = 5;
    p[9] = 1;
    p[12] = 198;
    p[13] = 51;
    p[14] = 100;
    p[15] = 7;
    p[16] = 192;
    p[17] = 0;
    p[18] = 2;
    p[19] = 10;
    p[20] = 8;
    for (int i = 28; i < 36; ++i) p[i] = static_cast<uint8_t>(i);
    const uint16_t c = csum_fold(csum_add(0, p.data() + 20, 16));
    p[22] = c >> 8;
    p[23] = c & 0xff;
    icmp4_echo_to_reply(p.data(), p.size());
    CHECK(p[12] == 192);
    CHECK(p[16] == 198);
    CHECK(p[8] == 64);
    CHECK(p[20] == 0);
    CHECK(valid_ipv4_checksum(p.data()));
    CHECK(csum_fold(csum_add(0, p.data() + 20, 16)) == 0);
}

TEST_CASE("encap: DPDK's checksums give RFC 1071's bytes: odd lengths, IPv4 options, ICMPv6", "[encap]") {
    // The stored checksum equals the reference computed with the field zeroed.
    auto stored = [](const uint8_t* at) { return static_cast<uint16_t>(at[0] << 8 | at[1]); };
    auto reference = [](std::vector<uint8_t> bytes, size_t field, uint32_t sum = 0) {
        bytes[field] = bytes[field + 1] = 0;
        return csum_fold(csum_add(sum, bytes.data(), bytes.size()));
    };
    // ICMP fragmentation needed quoting an odd number of bytes (8 + 101).
    std::vector<uint8_t> orig(101);
    for (size_t i = 0; i < orig.size(); ++i) orig[i] = static_cast<uint8_t>(i * 37 + 11);
    std::memcpy(orig.data(), inner_v4().data(), 20);
    std::vector<uint8_t> out(576);
    const uint8_t vip[4] = {192, 0, 2, 10};
    const size_t len = write_icmp4_frag_needed(out.data(), orig.data(), orig.size(), 1400, vip);
    REQUIRE(len == 28 + 101);
    CHECK(stored(&out[10]) == reference({out.begin(), out.begin() + 20}, 10));
    CHECK(stored(&out[22]) == reference({out.begin() + 20, out.begin() + len}, 2));

    // An echo request with a 4-byte IPv4 option (IHL 6) and 7 bytes of data.
    std::vector<uint8_t> p(24 + 8 + 7, 0);
    p[0] = 0x46;
    p[3] = static_cast<uint8_t>(p.size());
    p[8] = 9;
    p[9] = 1;
    p[20] = 0x94;  // Router Alert
    p[21] = 4;
    const uint8_t a[4] = {198, 51, 100, 7}, b[4] = {192, 0, 2, 10};
    std::memcpy(&p[12], a, 4);
    std::memcpy(&p[16], b, 4);
    p[24] = 8;
    for (size_t i = 32; i < p.size(); ++i) p[i] = static_cast<uint8_t>(0xF0 + i);
    icmp4_echo_to_reply(p.data(), p.size());
    CHECK(stored(&p[10]) == reference({p.begin(), p.begin() + 24}, 10));
    CHECK(stored(&p[26]) == reference({p.begin() + 24, p.end()}, 2));

    // An ICMPv6 echo request with 9 bytes of data.
    std::vector<uint8_t> q(40 + 8 + 9, 0);
    q[0] = 0x60;
    q[5] = 8 + 9;
    q[6] = 58;
    q[7] = 64;
    for (int i = 8; i < 40; ++i) q[i] = static_cast<uint8_t>(i * 5);
    q[40] = 128;
    for (size_t i = 48; i < q.size(); ++i) q[i] = static_cast<uint8_t>(i * 3 + 1);
    icmp6_echo_to_reply(q.data(), q.size());
    REQUIRE(q[40] == 129);
    uint32_t sum = csum_add(0, q.data() + 8, 32);
    const uint8_t tail[8] = {0, 0, 0, 8 + 9, 0, 0, 0, 58};
    sum = csum_add(sum, tail, 8);
    CHECK(stored(&q[42]) == reference({q.begin() + 40, q.end()}, 2, sum));
}
