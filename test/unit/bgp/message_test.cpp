// The BGP codec against byte layouts written out from RFC 4271 4.x, RFC 6793,
// RFC 4760 and RFC 2918, and against malformed input (section 6 error codes).
#include "bgp/message.h"

#include <catch2/catch.hpp>
#include <random>

using namespace tern::bgp;

namespace {

Bytes marker_header(uint16_t len, uint8_t type) {
    Bytes b(16, 0xff);
    b.push_back(static_cast<uint8_t>(len >> 8));
    b.push_back(static_cast<uint8_t>(len));
    b.push_back(type);
    return b;
}

Bytes cat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Notification must_fail(const Bytes& b, Codec c = {}) {
    auto d = decode(b, c);
    REQUIRE(std::holds_alternative<Notification>(d));
    return std::get<Notification>(d);
}

template <typename T>
T must_decode(const Bytes& b, Codec c = {}) {
    auto d = decode(b, c);
    if (auto* n = std::get_if<Notification>(&d)) FAIL("decode failed: " << n->str());
    auto& m = std::get<Message>(d);
    REQUIRE(std::holds_alternative<T>(m));
    return std::get<T>(m);
}

Prefix pfx(const char* a, uint8_t len) { return {*Address::parse(a), len}; }

}  // namespace

TEST_CASE("bgp codec: KEEPALIVE is a bare 19-byte header", "[bgp]") {
    CHECK(encode(Keepalive{}) == marker_header(19, 4));
    must_decode<Keepalive>(marker_header(19, 4));
}

TEST_CASE("bgp codec: OPEN with capabilities, RFC 4271 4.2 + RFC 5492 + RFC 6793", "[bgp]") {
    Open o;
    o.asn = 4200000001u;  // 4-octet: My AS carries AS_TRANS
    o.hold_time = 90;
    o.router_id = 0x0a40000a;  // 10.64.0.10
    o.caps.multiprotocol = {{kAfiIpv4, kSafiUnicast}, {kAfiIpv6, kSafiUnicast}};
    o.caps.route_refresh = true;
    o.caps.as4 = 4200000001u;
    const Bytes want =
        cat(marker_header(19 + 10 + 2 + 6 + 6 + 2 + 6, 1), {4,  0x5b, 0xa0,      // version, My AS = 23456
                                                            0,  90,              // hold time
                                                            10, 64,   0,    10,  // BGP identifier
                                                            22,                  // optional parameters length
                                                            2,  20,              // parameter: capabilities, 20 bytes
                                                            1,  4,    0,    1,    0,    1,       // MP: IPv4 unicast
                                                            1,  4,    0,    2,    0,    1,       // MP: IPv6 unicast
                                                            2,  0,                               // route refresh
                                                            65, 4,    0xfa, 0x56, 0xea, 0x01});  // AS4: 4200000001
    CHECK(encode(o) == want);
    Open d = must_decode<Open>(want);
    CHECK(d.asn == 4200000001u);
    CHECK(d.my_as_field == kAsTrans);
    CHECK(d.hold_time == 90);
    CHECK(d.router_id == 0x0a40000a);
    CHECK(d.caps.route_refresh);
    REQUIRE(d.caps.multiprotocol.size() == 2);
    CHECK(d.caps.multiprotocol[1] == AfiSafi{kAfiIpv6, kSafiUnicast});
}

TEST_CASE("bgp codec: OPEN errors", "[bgp]") {
    Open o;
    o.asn = 64600;
    o.hold_time = 90;
    o.router_id = 1;
    o.caps.as4 = 64600;
    const Bytes good = encode(o);
    SECTION("version 3") {
        Bytes b = good;
        b[19] = 3;
        auto n = must_fail(b);
        CHECK(n.code == 2);
        CHECK(n.subcode == 1);
        CHECK(n.data == Bytes{0, 4});
    }
    SECTION("hold time 2") {
        Bytes b = good;
        b[23] = 2;
        CHECK(must_fail(b).subcode == err::kBadHoldTime);
    }
    SECTION("identifier 0") {
        Bytes b = good;
        b[24] = b[25] = b[26] = b[27] = 0;
        CHECK(must_fail(b).subcode == err::kBadIdentifier);
    }
    SECTION("unknown optional parameter") {
        Bytes b = good;
        b[29] = 9;
        CHECK(must_fail(b).subcode == err::kUnsupportedParam);
    }
    SECTION("optional parameters length overruns the message") {
        Bytes b = good;
        b[28] = 200;
        CHECK(must_fail(b).code == err::kOpen);
    }
    SECTION("capability length overruns the parameter") {
        Bytes b = good;
        b[32] = 60;
        CHECK(must_fail(b).code == err::kOpen);
    }
}

TEST_CASE("bgp codec: header errors, RFC 4271 6.1", "[bgp]") {
    SECTION("marker not all ones") {
        Bytes b = marker_header(19, 4);
        b[3] = 0;
        auto n = must_fail(b);
        CHECK(n.code == 1);
        CHECK(n.subcode == 1);
    }
    SECTION("length above 4096 (data: the length field)") {
        auto n = must_fail(marker_header(4097, 2));
        CHECK(n.subcode == 2);
        CHECK(n.data == Bytes{0x10, 0x01});
    }
    SECTION("KEEPALIVE longer than 19") { CHECK(must_fail(cat(marker_header(20, 4), {0})).subcode == 2); }
    SECTION("OPEN shorter than 29") { CHECK(must_fail(cat(marker_header(20, 1), {4})).subcode == 2); }
    SECTION("unknown type (data: the type)") {
        auto n = must_fail(marker_header(19, 7));
        CHECK(n.subcode == 3);
        CHECK(n.data == Bytes{7});
    }
    SECTION("buffer shorter than its length field") {
        CHECK(must_fail(cat(marker_header(25, 3), {6, 2})).subcode == 2);
    }
}

TEST_CASE("bgp codec: NOTIFICATION and ROUTE-REFRESH", "[bgp]") {
    Notification n{6, 2, {}};
    CHECK(encode(n) == cat(marker_header(21, 3), {6, 2}));
    auto d = must_decode<Notification>(cat(marker_header(23, 3), {2, 1, 0, 4}));
    CHECK(d.code == 2);
    CHECK(d.data == Bytes{0, 4});
    CHECK(n.str() == "6/2 (cease, administrative shutdown)");
    RouteRefresh rr{{kAfiIpv6, kSafiUnicast}};
    CHECK(encode(rr) == cat(marker_header(23, 5), {0, 2, 0, 1}));
    CHECK(must_decode<RouteRefresh>(encode(rr)).family == AfiSafi{kAfiIpv6, kSafiUnicast});
}

TEST_CASE("bgp codec: IPv4 UPDATE laid out per RFC 4271 4.3", "[bgp]") {
    Update u;
    u.attrs.origin = kOriginIgp;
    u.attrs.as_path = {{kAsSequence, {64600, 64600}}};
    u.attrs.next_hop = std::array<uint8_t, 4>{10, 64, 0, 10};
    u.attrs.med = 100;
    u.attrs.communities = {(14907u << 16) | 1};
    u.attrs.large_communities = {{64600, 1, 2}};
    u.nlri = {pfx("198.35.26.96", 32)};
    const Bytes attrs = {0x40, 1,  1,  0,                                                     // ORIGIN IGP
                         0x40, 2,  10, 2,    2,    0,    0,    0xfc, 0x58, 0, 0, 0xfc, 0x58,  // AS_PATH seq 64600 64600
                         0x40, 3,  4,  10,   64,   0,    10,                                  // NEXT_HOP
                         0x80, 4,  4,  0,    0,    0,    100,                                 // MED
                         0xc0, 8,  4,  0x3a, 0x3b, 0,    1,                                   // COMMUNITIES 14907:1
                         0xc0, 32, 12, 0,    0,    0xfc, 0x58, 0,    0,    0, 1, 0,    0,    0, 2};  // LARGE 64600:1:2
    Bytes body = {0, 0, 0, static_cast<uint8_t>(attrs.size())};
    body = cat(body, attrs);
    body = cat(body, {32, 198, 35, 26, 96});
    const Bytes want = cat(marker_header(static_cast<uint16_t>(19 + body.size()), 2), body);
    CHECK(encode(u, {}) == want);
    Update d = must_decode<Update>(want);
    CHECK_FALSE(d.treat_as_withdraw);
    CHECK(d.attrs.as_path == u.attrs.as_path);
    CHECK(d.attrs.med == 100u);
    CHECK(d.attrs.communities == u.attrs.communities);
    CHECK(d.attrs.large_communities == u.attrs.large_communities);
    CHECK(d.nlri == u.nlri);
}

TEST_CASE("bgp codec: 2-octet peers get AS_TRANS and AS4_PATH, RFC 6793 4.2.2", "[bgp]") {
    Update u;
    u.attrs.origin = kOriginIgp;
    u.attrs.as_path = {{kAsSequence, {4200000001u}}};
    u.attrs.next_hop = std::array<uint8_t, 4>{10, 0, 0, 1};
    u.nlri = {pfx("10.1.0.0", 16)};
    const Bytes b = encode(u, Codec{false});
    Update d = must_decode<Update>(b, Codec{false});
    REQUIRE(d.attrs.as_path.size() == 1);
    CHECK(d.attrs.as_path[0].asns == std::vector<uint32_t>{kAsTrans});
    const Bytes as4_path = {0xc0, 17, 6, 2, 1, 0xfa, 0x56, 0xea, 0x01};
    CHECK(std::search(b.begin(), b.end(), as4_path.begin(), as4_path.end()) != b.end());
}

TEST_CASE("bgp codec: IPv6 through MP_REACH_NLRI and MP_UNREACH_NLRI, RFC 4760", "[bgp]") {
    Update u;
    u.attrs.origin = kOriginIgp;
    u.attrs.as_path = {{kAsSequence, {64600}}};
    u.mp_reach = MpReach{{kAfiIpv6, kSafiUnicast}, {}, {pfx("2620:0:862:ed1a::1", 128)}};
    const auto nh = *Address::parse("2620:0:860:101::10");
    u.mp_reach->next_hop.assign(nh.bytes.begin(), nh.bytes.end());
    const Bytes b = encode(u, {});
    const Bytes mp = {0x80, 14,   38, 0,   2,    1,    16, 0x26, 0x20, 0,    0,    8,    0x60, 1, 1, 0, 0, 0, 0, 0, 0,
                      0,    0x10, 0,  128, 0x26, 0x20, 0,  0,    8,    0x62, 0xed, 0x1a, 0,    0, 0, 0, 0, 0, 0, 1};
    CHECK(std::search(b.begin(), b.end(), mp.begin(), mp.end()) != b.end());
    Update d = must_decode<Update>(b);
    REQUIRE(d.mp_reach);
    CHECK(d.mp_reach->nlri == u.mp_reach->nlri);
    CHECK(d.mp_reach->next_hop == u.mp_reach->next_hop);
    CHECK_FALSE(d.treat_as_withdraw);

    Update w;
    w.mp_unreach = MpUnreach{{kAfiIpv6, kSafiUnicast}, {pfx("2620:0:862:ed1a::1", 128)}};
    const Bytes wb = encode(w, {});
    // withdrawn length 0, attribute length 23, MP_UNREACH only
    CHECK(wb.size() == 19 + 4 + 23);
    Update wd = must_decode<Update>(wb);
    REQUIRE(wd.mp_unreach);
    CHECK(wd.mp_unreach->withdrawn == w.mp_unreach->withdrawn);
}

TEST_CASE("bgp codec: UPDATE errors, RFC 4271 6.3 and RFC 7606", "[bgp]") {
    Update u;
    u.attrs.origin = kOriginIgp;
    u.attrs.as_path = {{kAsSequence, {64600}}};
    u.attrs.next_hop = std::array<uint8_t, 4>{10, 0, 0, 1};
    u.nlri = {pfx("10.0.0.0", 8)};
    const Bytes good = encode(u, {});
    SECTION("withdrawn length past the end: session reset, malformed attribute list") {
        Bytes b = good;
        b[19] = 0x10;
        auto n = must_fail(b);
        CHECK(n.code == 3);
        CHECK(n.subcode == 1);
    }
    SECTION("attribute length overruns the attribute list: treat-as-withdraw (RFC 7606 4)") {
        Bytes b = good;
        b[23 + 2] = 250;  // ORIGIN claims 250 bytes
        auto m = must_decode<Update>(b);
        CHECK(m.treat_as_withdraw);
        CHECK(m.nlri == std::vector<Prefix>{pfx("10.0.0.0", 8)});  // found through the total length
    }
    SECTION("fewer bytes left than an attribute header: treat-as-withdraw (RFC 7606 4)") {
        // Grow the attribute list by two bytes (a flags and a type octet, no length).
        Bytes b = good;
        const uint16_t alen = static_cast<uint16_t>(b[21] << 8 | b[22]);
        b.insert(b.begin() + 23 + alen, {0x40, 1});
        b[22] = static_cast<uint8_t>(alen + 2);
        b[17] = static_cast<uint8_t>(b.size());
        CHECK(must_decode<Update>(b).treat_as_withdraw);
    }
    SECTION("Optional/Transitive flags against the attribute's definition: treat-as-withdraw (RFC 7606 3c)") {
        Bytes b = good;
        b[23] = 0xc0;  // ORIGIN (well-known) marked optional
        auto m = must_decode<Update>(b);
        CHECK(m.treat_as_withdraw);
        CHECK_FALSE(m.attrs.origin);
        Bytes c = good;
        c[27] = 0x00;  // AS_PATH not transitive
        CHECK(must_decode<Update>(c).treat_as_withdraw);
        CHECK(must_decode<Update>(good).treat_as_withdraw == false);
    }
    SECTION("AS_PATH with an unknown segment type or an empty segment: treat-as-withdraw (RFC 7606 7.2)") {
        Bytes b = good;
        b[30] = 5;  // segment type 5
        CHECK(must_decode<Update>(b).treat_as_withdraw);
        Bytes c = good;
        c[31] = 0;  // zero ASes, the rest left over
        CHECK(must_decode<Update>(c).treat_as_withdraw);
        Bytes d = good;
        d[31] = 2;  // two ASes in four bytes: the segment overruns the attribute
        CHECK(must_decode<Update>(d).treat_as_withdraw);
    }
    SECTION("an MP_REACH_NLRI cut short by the attribute list: session reset, optional attribute error") {
        Update m;
        m.attrs.origin = 0;
        m.mp_reach = MpReach{{kAfiIpv6, kSafiUnicast}, Bytes(16, 1), {pfx("2001:db8::", 32)}};
        Bytes b = encode(m, {});
        // The MP_REACH attribute (after ORIGIN's 4 bytes and an empty AS_PATH's 3) claims more than the list holds.
        REQUIRE(b[23 + 7 + 1] == 14);
        b[23 + 7 + 2] = 200;
        auto n = must_fail(b);
        CHECK(n.code == err::kUpdate);
        CHECK(n.subcode == 9);
    }
    SECTION("MP_REACH_NLRI with a prefix length 129: session reset, 3/9 with the attribute as data") {
        Update m;
        m.attrs.origin = 0;
        m.mp_reach = MpReach{{kAfiIpv6, kSafiUnicast}, Bytes(16, 1), {pfx("2001:db8::", 32)}};
        Bytes b = encode(m, {});
        const size_t at = 23 + 7;  // MP_REACH's flags, after ORIGIN and an empty AS_PATH
        REQUIRE(b[at + 1] == 14);
        const size_t len = b[at + 2];
        b[at + 3 + 4 + 16 + 1] = 129;  // after AFI, SAFI, next hop length, next hop, reserved: the prefix length
        auto n = must_fail(b);
        CHECK(n.code == err::kUpdate);
        CHECK(n.subcode == 9);
        CHECK(n.data == Bytes(b.begin() + at, b.begin() + at + 3 + len));
    }
    SECTION("NLRI prefix length 33") {
        Bytes b = good;
        b[b.size() - 2] = 33;
        CHECK(must_fail(b).subcode == err::kInvalidNetwork);
    }
    SECTION("bad ORIGIN value: treat-as-withdraw") {
        Bytes b = good;
        b[23 + 3] = 7;
        CHECK(must_decode<Update>(b).treat_as_withdraw);
    }
    SECTION("missing NEXT_HOP: treat-as-withdraw") {
        Update m = u;
        m.attrs.next_hop.reset();
        CHECK(must_decode<Update>(encode(m, {})).treat_as_withdraw);
    }
    SECTION("duplicate MP_REACH: session reset") {
        Update m;
        m.attrs.origin = 0;
        m.mp_reach = MpReach{{kAfiIpv6, kSafiUnicast}, Bytes(16, 1), {}};
        Bytes b = encode(m, {});
        // Append a second MP_REACH: grow the attribute length and the message length.
        const Bytes again = {0x80, 14, 5, 0, 2, 1, 0, 0};
        const uint16_t alen = static_cast<uint16_t>(b[21] << 8 | b[22]);
        b.insert(b.end(), again.begin(), again.end());
        b[21] = static_cast<uint8_t>((alen + again.size()) >> 8);
        b[22] = static_cast<uint8_t>(alen + again.size());
        b[16] = static_cast<uint8_t>(b.size() >> 8);
        b[17] = static_cast<uint8_t>(b.size());
        CHECK(must_fail(b).subcode == err::kMalformedAttrList);
    }
}

TEST_CASE("bgp codec: framer splits a stream and stops at a bad header", "[bgp]") {
    Framer f;
    Bytes stream = cat(encode(Keepalive{}), encode(Notification{6, 2, {}}));
    f.feed(std::span(stream).first(10));
    CHECK_FALSE(f.next().message);
    f.feed(std::span(stream).subspan(10));
    CHECK(f.next().message == encode(Keepalive{}));
    CHECK(f.next().message == encode(Notification{6, 2, {}}));
    CHECK_FALSE(f.next().message);
    CHECK(f.buffered() == 0);
    Bytes bad(19, 0);
    f.feed(bad);
    auto n = f.next();
    REQUIRE(n.error);
    CHECK(n.error->subcode == err::kNotSynchronized);
}

// A light fuzz pass (a coverage-guided libFuzzer target is still to do): random
// mutations of valid messages never crash and either decode or give a NOTIFICATION.
// Under scripts/test's sanitizer build this also checks for out-of-bounds reads.
TEST_CASE("bgp codec: mutated messages decode or fail cleanly", "[bgp]") {
    Update u;
    u.attrs.origin = kOriginIgp;
    u.attrs.as_path = {{kAsSequence, {64600, 1, 2}}};
    u.attrs.next_hop = std::array<uint8_t, 4>{10, 0, 0, 1};
    u.attrs.communities = {1, 2};
    u.attrs.large_communities = {{1, 2, 3}};
    u.nlri = {pfx("10.0.0.0", 8), pfx("192.168.1.1", 32)};
    u.mp_reach = MpReach{{kAfiIpv6, kSafiUnicast}, Bytes(16, 1), {pfx("2001:db8::", 32)}};
    Open o;
    o.asn = 1;
    o.hold_time = 3;
    o.router_id = 9;
    o.caps.multiprotocol = {{1, 1}};
    o.caps.as4 = 1;
    const std::vector<Bytes> seeds = {encode(u, {}), encode(o), encode(Notification{1, 2, {3}}),
                                      encode(RouteRefresh{{1, 1}})};
    std::mt19937 rng(42);
    size_t ok = 0, failed = 0;
    for (int i = 0; i < 20000; ++i) {
        Bytes b = seeds[rng() % seeds.size()];
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            const size_t at = 16 + rng() % (b.size() - 16);
            b[at] = static_cast<uint8_t>(rng());
        }
        if (rng() % 4 == 0) b.resize(19 + rng() % (b.size() - 18));
        auto d = decode(b, Codec{rng() % 2 == 0});
        (std::holds_alternative<Notification>(d) ? failed : ok)++;
    }
    CHECK(ok > 0);
    CHECK(failed > 0);
}
