// BGP-4 messages (RFC 4271) with 4-octet AS numbers (RFC 6793), multiprotocol
// reachability for IPv6 unicast (RFC 4760), route refresh (RFC 2918), capabilities
// (RFC 5492) and large communities (RFC 8092): pure functions over byte buffers.
// Decoding never trusts a length it has not checked against the buffer; every
// problem yields the NOTIFICATION (code, subcode, data) RFC 4271 section 6 asks for.
// Messages are at most 4096 bytes, so nothing decoded grows without bound.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace tern::bgp {

constexpr size_t kHeaderLen = 19;
constexpr size_t kMaxMessageLen = 4096;
constexpr uint16_t kAsTrans = 23456;
constexpr uint16_t kAfiIpv4 = 1;
constexpr uint16_t kAfiIpv6 = 2;
constexpr uint8_t kSafiUnicast = 1;

enum class MsgType : uint8_t { open = 1, update = 2, notification = 3, keepalive = 4, route_refresh = 5 };

// NOTIFICATION error codes and the subcodes we send (RFC 4271 4.5, 6; RFC 6608; RFC 4486).
namespace err {
constexpr uint8_t kHeader = 1, kOpen = 2, kUpdate = 3, kHoldExpired = 4, kFsm = 5, kCease = 6;
// Message header
constexpr uint8_t kNotSynchronized = 1, kBadLength = 2, kBadType = 3;
// OPEN
constexpr uint8_t kUnsupportedVersion = 1, kBadPeerAs = 2, kBadIdentifier = 3, kUnsupportedParam = 4, kBadHoldTime = 6;
// UPDATE
constexpr uint8_t kMalformedAttrList = 1, kAttrFlags = 4, kAttrLength = 5, kInvalidNetwork = 10, kMalformedAsPath = 11;
// FSM (RFC 6608)
constexpr uint8_t kUnexpectedInOpenSent = 1, kUnexpectedInOpenConfirm = 2, kUnexpectedInEstablished = 3;
// CEASE (RFC 4486)
constexpr uint8_t kAdminShutdown = 2, kPeerDeconfigured = 3, kConfigChange = 6, kCollision = 7;
}  // namespace err

// An IPv4 or IPv6 address (network order; IPv4 uses the first 4 bytes).
struct Address {
    uint8_t family = 0;  // 4 or 6; 0 unset
    std::array<uint8_t, 16> bytes{};
    std::string str() const;
    static std::optional<Address> parse(const std::string& text);
    friend auto operator<=>(const Address&, const Address&) = default;
};

struct Prefix {
    Address addr;
    uint8_t length = 0;
    std::string str() const;
    static Prefix host(const Address& a) { return {a, static_cast<uint8_t>(a.family == 4 ? 32 : 128)}; }
    friend auto operator<=>(const Prefix&, const Prefix&) = default;
};

struct AfiSafi {
    uint16_t afi = 0;
    uint8_t safi = 0;
    friend auto operator<=>(const AfiSafi&, const AfiSafi&) = default;
};

struct Capabilities {
    std::vector<AfiSafi> multiprotocol;  // code 1
    bool route_refresh = false;          // code 2
    std::optional<uint32_t> as4;         // code 65: the speaker's 4-octet AS
};

struct Open {
    uint8_t version = 4;
    uint32_t asn = 0;          // the real AS: AS4 capability's when present, else My AS
    uint16_t my_as_field = 0;  // as on the wire (AS_TRANS for a 4-octet AS)
    uint16_t hold_time = 0;
    uint32_t router_id = 0;  // host order
    Capabilities caps;
};

struct Keepalive {};

struct Notification {
    uint8_t code = 0;
    uint8_t subcode = 0;
    std::vector<uint8_t> data;
    std::string str() const;  // "6/2 (Cease, administrative shutdown)"
};

struct RouteRefresh {
    AfiSafi family;
};

struct LargeCommunity {
    uint32_t global = 0, local1 = 0, local2 = 0;
    friend auto operator<=>(const LargeCommunity&, const LargeCommunity&) = default;
};

constexpr uint8_t kAsSet = 1, kAsSequence = 2;
struct AsSegment {
    uint8_t type = kAsSequence;
    std::vector<uint32_t> asns;
    friend bool operator==(const AsSegment&, const AsSegment&) = default;
};

constexpr uint8_t kOriginIgp = 0;
struct Attributes {
    std::optional<uint8_t> origin;
    std::vector<AsSegment> as_path;
    std::optional<std::array<uint8_t, 4>> next_hop;
    std::optional<uint32_t> med;
    std::optional<uint32_t> local_pref;
    std::vector<uint32_t> communities;
    std::vector<LargeCommunity> large_communities;
};

struct MpReach {
    AfiSafi family;
    std::vector<uint8_t> next_hop;  // 4, 16 or 32 bytes
    std::vector<Prefix> nlri;
};

struct MpUnreach {
    AfiSafi family;
    std::vector<Prefix> withdrawn;
};

struct Update {
    std::vector<Prefix> withdrawn;  // IPv4
    Attributes attrs;
    std::optional<MpReach> mp_reach;
    std::optional<MpUnreach> mp_unreach;
    std::vector<Prefix> nlri;  // IPv4
    // Set when decoding found an attribute error that RFC 7606 handles by
    // "treat-as-withdraw" or "attribute discard" rather than a session reset.
    bool treat_as_withdraw = false;
};

using Message = std::variant<Open, Update, Notification, Keepalive, RouteRefresh>;
using Bytes = std::vector<uint8_t>;

// What was negotiated, which changes how AS numbers are encoded.
struct Codec {
    bool as4 = true;  // both sides sent the AS4 capability
};

Bytes encode(const Open& m);
Bytes encode(const Keepalive& m);
Bytes encode(const Notification& m);
Bytes encode(const RouteRefresh& m);
// Without as4, AS numbers above 65535 become AS_TRANS in AS_PATH and the real
// path goes in AS4_PATH (RFC 6793 4.2.2).
Bytes encode(const Update& m, Codec codec);

// The result of decoding: the message, or the NOTIFICATION to send.
template <typename T>
using Decoded = std::variant<T, Notification>;

// Checks the 19-byte header of a message; returns its length and type.
struct Header {
    uint16_t length = 0;
    MsgType type{};
};
Decoded<Header> decode_header(std::span<const uint8_t> bytes);
// Decodes one whole message (header included).
Decoded<Message> decode(std::span<const uint8_t> message, Codec codec);

// Splits a TCP byte stream into messages. The caller feeds what it read (at
// most kMaxMessageLen at a time) and takes messages out until none is left, so
// the buffer never holds more than two messages' worth.
class Framer {
public:
    void feed(std::span<const uint8_t> bytes);
    // The next complete message; or the NOTIFICATION to send when its header is
    // bad (the stream is then unusable); or neither when more bytes are needed.
    struct Next {
        std::optional<Bytes> message;
        std::optional<Notification> error;
    };
    Next next();
    size_t buffered() const { return buf_.size() - pos_; }

private:
    Bytes buf_;
    size_t pos_ = 0;
};

const char* to_string(MsgType t);

}  // namespace tern::bgp
