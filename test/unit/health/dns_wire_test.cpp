// The DNS codec against bytes from RFC 1035 4.1 layouts and replies captured
// from dnsmasq 2.90 (compressed answer names), and against malformed replies.
#include "health/dns_wire.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

using namespace tern::health::dns;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes hex(const std::string& h) {
    Bytes b;
    for (size_t i = 0; i + 1 < h.size(); i += 2) {
        b.push_back(static_cast<uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
    }
    return b;
}

// dnsmasq's replies to id 0x1234, RD, "up.test" A and AAAA (answers named by
// a pointer to offset 12), "nope.test" A (NXDOMAIN, AA), "www.example.com" A (REFUSED).
const Bytes kReplyA =
    hex("123485800001000100000000027570047465737400000100"
        "01c00c00010001000000000004c000020a");
const Bytes kReplyAAAA =
    hex("123485800001000100000000027570047465737400001c0001"
        "c00c001c000100000000001020010db8000000000000000000000010");
const Bytes kReplyNx = hex("123481830001000000000000046e6f706504746573740000010001");
const Bytes kReplyRefused = hex("12348185000100000000000003777777076578616d706c6503636f6d0000010001");

Reply must_decode(const Bytes& b) {
    std::string error;
    auto r = decode_reply(b, error);
    if (!r) FAIL("decode failed: " << error);
    return *r;
}

std::string must_fail(const Bytes& b) {
    std::string error;
    auto r = decode_reply(b, error);
    REQUIRE_FALSE(r);
    REQUIRE_FALSE(error.empty());
    return error;
}

// A header with QR set, one question, `an` answers, then `rest`.
Bytes reply_with(uint16_t flags, uint16_t qd, uint16_t an, const Bytes& rest) {
    Bytes b = {0xab,
               0xcd,
               static_cast<uint8_t>(flags >> 8),
               static_cast<uint8_t>(flags),
               0,
               static_cast<uint8_t>(qd),
               0,
               static_cast<uint8_t>(an),
               0,
               0,
               0,
               0};
    b.insert(b.end(), rest.begin(), rest.end());
    return b;
}

}  // namespace

TEST_CASE("dns query encoding", "[health][dns]") {
    std::string error;
    auto q = encode_query(0x1234, "up.test", kTypeA, error);
    REQUIRE(q);
    CHECK(*q == hex("123401000001000000000000027570047465737400"
                    "00010001"));
    auto q6 = encode_query(0xbeef, "Up.Test.", kTypeAAAA, error);
    REQUIRE(q6);
    CHECK(*q6 == hex("beef01000001000000000000025570045465737400"
                     "001c0001"));
    auto root = encode_query(1, ".", kTypeA, error);
    REQUIRE(root);
    CHECK(*root == hex("000101000001000000000000"
                       "00"
                       "00010001"));
}

TEST_CASE("dns query encoding refuses bad names", "[health][dns]") {
    std::string error;
    CHECK_FALSE(encode_query(1, "", kTypeA, error));
    CHECK_FALSE(encode_query(1, "a..b", kTypeA, error));
    CHECK(error.find("'a..b' has an empty label") != std::string::npos);
    CHECK_FALSE(encode_query(1, ".a", kTypeA, error));
    CHECK_FALSE(encode_query(1, "..", kTypeA, error));
    CHECK(encode_query(1, std::string(63, 'x') + ".org", kTypeA, error));
    CHECK_FALSE(encode_query(1, std::string(64, 'x') + ".org", kTypeA, error));
    CHECK(error.find("longer than 63") != std::string::npos);
    // 4 labels of 63 and the root: 4 * 64 + 1 = 257 bytes.
    const std::string l(63, 'y');
    CHECK_FALSE(encode_query(1, l + "." + l + "." + l + "." + l, kTypeA, error));
    CHECK(error.find("longer than 255") != std::string::npos);
    // 3 * 64 + 62 + 1 = 255 bytes: the most there is.
    CHECK(encode_query(1, l + "." + l + "." + l + "." + std::string(61, 'y'), kTypeA, error));
}

TEST_CASE("dns replies from dnsmasq, compressed names", "[health][dns]") {
    Reply a = must_decode(kReplyA);
    CHECK(a.id == 0x1234);
    CHECK(a.rcode == kNoError);
    CHECK_FALSE(a.truncated);
    CHECK(a.qname == "up.test");
    CHECK(a.qtype == kTypeA);
    CHECK(a.qclass == kClassIN);
    REQUIRE(a.answers.size() == 1);
    CHECK(a.answers[0].name == "up.test");
    CHECK(a.answers[0].type == kTypeA);
    CHECK(a.answers[0].data == Bytes{192, 0, 2, 10});

    Reply aaaa = must_decode(kReplyAAAA);
    REQUIRE(aaaa.answers.size() == 1);
    CHECK(aaaa.answers[0].type == kTypeAAAA);
    CHECK(aaaa.answers[0].data == hex("20010db8000000000000000000000010"));

    Reply nx = must_decode(kReplyNx);
    CHECK(nx.rcode == kNxDomain);
    CHECK(nx.qname == "nope.test");
    CHECK(nx.answers.empty());

    Reply refused = must_decode(kReplyRefused);
    CHECK(refused.rcode == kRefused);
    CHECK(refused.qname == "www.example.com");
}

TEST_CASE("dns reply names: pointers into names, escapes", "[health][dns]") {
    // Question "www.example.com"; the answer is "mail" then a pointer to
    // "example.com" inside the question (offset 16).
    const Bytes question =
        hex("03777777076578616d706c6503636f6d00"
            "00010001");
    Bytes rest = question;
    const Bytes answer =
        hex("046d61696cc010"
            "0001"
            "0001"
            "0000003c"
            "0004"
            "c0000201");
    rest.insert(rest.end(), answer.begin(), answer.end());
    Reply r = must_decode(reply_with(0x8180, 1, 1, rest));
    REQUIRE(r.answers.size() == 1);
    CHECK(r.answers[0].name == "mail.example.com");
    CHECK(r.answers[0].ttl == 60);

    // A label holding a dot, a backslash and a control byte.
    Reply e = must_decode(reply_with(0x8180, 1, 0,
                                     hex("0461"
                                         "2e"
                                         "5c"
                                         "01"
                                         "00"
                                         "00010001")));
    CHECK(e.qname == "a\\.\\\\\\001");
}

TEST_CASE("dns malformed replies are refused", "[health][dns]") {
    // Every cut of a complete reply falls short somewhere.
    for (size_t n = 0; n < kReplyA.size(); ++n) {
        INFO("cut at " << n);
        must_fail(Bytes(kReplyA.begin(), kReplyA.begin() + static_cast<std::ptrdiff_t>(n)));
    }
    CHECK(must_fail(Bytes(5, 0)).find("shorter than a DNS header") != std::string::npos);
    CHECK(must_fail(reply_with(0x0100, 1, 0,
                               hex("0161000001"
                                   "0001")))
              .find("not a response") != std::string::npos);
    CHECK(must_fail(reply_with(0x8180, 0, 0, {})).find("0 questions") != std::string::npos);
    CHECK(must_fail(reply_with(0x8180, 2, 0,
                               hex("016100"
                                   "00010001"
                                   "016200"
                                   "00010001")))
              .find("2 questions") != std::string::npos);
    // A pointer to itself, and a pair pointing at each other.
    CHECK(must_fail(reply_with(0x8180, 1, 0,
                               hex("c00c"
                                   "00010001")))
              .find("loop") != std::string::npos);
    must_fail(reply_with(0x8180, 1, 1,
                         hex("016100"
                             "00010001"
                             "c015"
                             "c013"
                             "00010001000000000000")));
    // A pointer past the end, a pointer cut in half, an extended label type.
    CHECK(must_fail(reply_with(0x8180, 1, 0,
                               hex("c0ff"
                                   "00010001")))
              .find("past the end") != std::string::npos);
    must_fail(reply_with(0x8180, 1, 0, hex("c0")));
    CHECK(must_fail(reply_with(0x8180, 1, 0,
                               hex("4100"
                                   "00010001")))
              .find("label type") != std::string::npos);
    // A label longer than what is left; RDATA longer than what is left.
    must_fail(reply_with(0x8180, 1, 0, hex("0a6162")));
    must_fail(reply_with(0x8180, 1, 1,
                         hex("016100"
                             "00010001"
                             "c00c"
                             "0001"
                             "0001"
                             "00000000"
                             "0010"
                             "c0000201")));
    // A name over 255 bytes made by pointers to a long label run.
    Bytes longname;
    for (int i = 0; i < 5; ++i) {
        longname.push_back(63);
        longname.insert(longname.end(), 63, 'z');
    }
    longname.push_back(0);
    Bytes rest = longname;
    for (uint8_t b : hex("00010001")) rest.push_back(b);
    CHECK(must_fail(reply_with(0x8180, 1, 0, rest)).find("longer than 255") != std::string::npos);
}

TEST_CASE("dns truncated replies keep what came", "[health][dns]") {
    // TC set, one answer announced, the answer cut off: the question stands.
    Bytes b(kReplyA.begin(), kReplyA.end() - 6);
    b[2] |= 0x02;
    Reply r = must_decode(b);
    CHECK(r.truncated);
    CHECK(r.qname == "up.test");
    CHECK(r.answers.empty());
    // TC does not excuse a cut question.
    Bytes q(kReplyA.begin(), kReplyA.begin() + 20);
    q[2] |= 0x02;
    must_fail(q);
}

TEST_CASE("dns random damage never reads out of bounds", "[health][dns]") {
    // Run under ASan in CI: every decode stays inside its buffer.
    std::mt19937 rng(7);
    const std::vector<Bytes> seeds = {kReplyA, kReplyAAAA, kReplyNx, kReplyRefused};
    for (int i = 0; i < 20000; ++i) {
        Bytes b = seeds[static_cast<size_t>(i) % seeds.size()];
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<uint8_t>(rng());
        if (rng() % 2) b.resize(rng() % (b.size() + 1));
        std::string error;
        auto r = decode_reply(b, error);
        CHECK((r.has_value() || !error.empty()));
    }
}

TEST_CASE("dns names and codes for messages", "[health][dns]") {
    CHECK(same_name("Up.TEST.", "up.test"));
    CHECK(same_name("up.test", "up.test."));
    CHECK_FALSE(same_name("up.test", "up.tes"));
    CHECK_FALSE(same_name("up.test", "up-test"));
    CHECK(rcode_name(kServFail) == "SERVFAIL");
    CHECK(rcode_name(kNxDomain) == "NXDOMAIN");
    CHECK(rcode_name(15) == "RCODE 15");
    CHECK(type_name(kTypeAAAA) == "AAAA");
    CHECK(type_name(15) == "TYPE 15");
}
