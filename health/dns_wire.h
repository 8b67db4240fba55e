// The DNS messages DNSQuery needs (RFC 1035 section 4): a one-question query
// and the parts of a reply that say whether the server answered it. Pure
// functions over bytes, no I/O, so the unit tests feed them byte vectors.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tern::health::dns {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeAAAA = 28;
inline constexpr uint16_t kClassIN = 1;

inline constexpr uint8_t kNoError = 0;
inline constexpr uint8_t kFormErr = 1;
inline constexpr uint8_t kServFail = 2;
inline constexpr uint8_t kNxDomain = 3;
inline constexpr uint8_t kNotImp = 4;
inline constexpr uint8_t kRefused = 5;

struct Record {
    std::string name;
    uint16_t type = 0;
    uint16_t cls = 0;
    uint32_t ttl = 0;
    std::vector<uint8_t> data;  // RDATA as sent
};

struct Reply {
    uint16_t id = 0;
    bool truncated = false;  // TC
    uint8_t opcode = 0;
    uint8_t rcode = 0;
    // The question echoed back (RFC 1035 4.1.2); replies to our queries carry exactly one.
    std::string qname;
    uint16_t qtype = 0;
    uint16_t qclass = 0;
    std::vector<Record> answers;  // the answer section; authority and additional are not read
};

// A standard query with recursion desired for `name` ("example.org", a
// trailing dot allowed) of `type`, class IN. nullopt, with `error` naming the
// fault, when the name cannot be encoded (an empty label, a label over 63
// bytes, over 255 bytes in all).
std::optional<std::vector<uint8_t>> encode_query(uint16_t id, std::string_view name, uint16_t type, std::string& error);

// The reply in `msg`: header, its single question, its answer records
// (names decompressed). nullopt, with `error` saying what is wrong, when `msg`
// is not a response, is cut short, has a bad name or compression pointer, or
// does not carry exactly one question. Never reads outside `msg`.
std::optional<Reply> decode_reply(std::span<const uint8_t> msg, std::string& error);

// Whether a decoded name equals a name as written in the config: DNS names
// compare without regard to ASCII case, and a trailing dot is optional.
bool same_name(std::string_view a, std::string_view b);

// "NXDOMAIN", "SERVFAIL", ... or "RCODE 9".
std::string rcode_name(uint8_t rcode);
// "A", "AAAA" or "TYPE 15".
std::string type_name(uint16_t type);

}  // namespace tern::health::dns
