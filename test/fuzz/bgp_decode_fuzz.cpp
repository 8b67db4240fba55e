// The BGP decoder under fuzzing: what a session does with received bytes. The
// input is a TCP stream cut into reads by the framer, each message decoded under
// both codecs (4-octet AS negotiated or not), and the text a session logs.
// Checked besides "no crash, no out-of-bounds read" (ASan/UBSan):
// - an error is a NOTIFICATION we may send: a header, OPEN or UPDATE error with
//   a subcode RFC 4271 defines for it, and data that fits in a message;
// - decoded prefixes have their family's address and at most its length;
// - what decodes re-encodes to a message that decodes again, and encoding that
//   is a fixed point (the encoder and decoder agree on every field).
// Built as a libFuzzer binary with clang (test/fuzz/meson.build); run_corpus.cpp
// drives the same function under any compiler.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <type_traits>

#include "bgp/message.h"

namespace {
using namespace tern::bgp;

void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "bgp_decode_fuzz: check failed: %s\n", what);
    std::abort();
}

void check_error(const Notification& n) {
    require(n.code == err::kHeader || n.code == err::kOpen || n.code == err::kUpdate, "error code is 1, 2 or 3");
    if (n.code == err::kHeader) require(n.subcode >= 1 && n.subcode <= 3, "header error subcode 1..3");
    if (n.code == err::kOpen) require(n.subcode <= 7 && n.subcode != 5, "OPEN error subcode 0..7, not 5");
    if (n.code == err::kUpdate) require(n.subcode >= 1 && n.subcode <= 11 && n.subcode != 7, "UPDATE error subcode");
    require(n.data.size() <= kMaxMessageLen - kHeaderLen - 2, "NOTIFICATION data fits in a message");
    (void)n.str();
}

void check_prefixes(const std::vector<Prefix>& ps, uint8_t family) {
    for (const auto& p : ps) {
        require(p.addr.family == family, "prefix family");
        require(p.length <= (family == 4 ? 32 : 128), "prefix length");
        (void)p.str();
    }
}

uint8_t family_of(uint16_t afi) { return afi == kAfiIpv4 ? 4 : afi == kAfiIpv6 ? 6 : 0; }

void check_fields(const Message& m) {
    if (const auto* u = std::get_if<Update>(&m)) {
        check_prefixes(u->withdrawn, 4);
        check_prefixes(u->nlri, 4);
        if (u->mp_reach) {
            const uint8_t f = family_of(u->mp_reach->family.afi);
            if (f == 0) require(u->mp_reach->nlri.empty(), "no NLRI kept for an unknown AFI");
            check_prefixes(u->mp_reach->nlri, f);
            require(u->mp_reach->next_hop.size() <= 255, "MP next hop length");
        }
        if (u->mp_unreach) {
            const uint8_t f = family_of(u->mp_unreach->family.afi);
            if (f == 0) require(u->mp_unreach->withdrawn.empty(), "no withdrawals kept for an unknown AFI");
            check_prefixes(u->mp_unreach->withdrawn, f);
        }
        for (const auto& s : u->attrs.as_path) require(s.asns.size() <= 255, "AS_PATH segment length");
    } else if (const auto* n = std::get_if<Notification>(&m)) {
        (void)n->str();
    } else if (const auto* o = std::get_if<Open>(&m)) {
        require(o->version == 4, "OPEN version");
        require(o->hold_time == 0 || o->hold_time >= 3, "OPEN hold time");
        require(o->router_id != 0, "OPEN identifier");
    }
}

Bytes encode_message(const Message& m, Codec codec) {
    return std::visit(
        [&](const auto& x) -> Bytes {
            if constexpr (std::is_same_v<std::decay_t<decltype(x)>, Update>) {
                return encode(x, codec);
            } else {
                return encode(x);
            }
        },
        m);
}

void check_round_trip(const Message& m, Codec codec) {
    // Our OPEN carries at most a few capabilities in one parameter; one that
    // does not fit there is not a message we would ever build.
    if (const auto* o = std::get_if<Open>(&m); o && o->caps.multiprotocol.size() > 32) return;
    const Bytes once = encode_message(m, codec);
    if (once.size() > kMaxMessageLen) return;  // fits only in a larger message than the one it came from
    const auto again = decode(once, codec);
    require(std::holds_alternative<Message>(again), "a decoded message re-encodes to one that decodes");
    const Bytes twice = encode_message(std::get<Message>(again), codec);
    require(once == twice, "encode(decode(encode(m))) == encode(m)");
}

void check_message(std::span<const uint8_t> bytes) {
    for (const Codec codec : {Codec{true}, Codec{false}}) {
        const auto d = decode(bytes, codec);
        if (const auto* n = std::get_if<Notification>(&d)) {
            check_error(*n);
            continue;
        }
        const Message& m = std::get<Message>(d);
        check_fields(m);
        check_round_trip(m, codec);
    }
}

}  // namespace

// Input: one byte that picks the size of each read (1..256 bytes), then the
// bytes received: a message, or a stream of them.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const size_t step = static_cast<size_t>(data[0]) + 1;
    const std::span<const uint8_t> in(data + 1, size - 1);
    // The bytes as one message.
    check_message(in);
    if (const auto h = decode_header(in); const auto* n = std::get_if<Notification>(&h)) check_error(*n);
    // The bytes as a stream, read by a session.
    Framer framer;
    for (size_t at = 0; at < in.size(); at += step) {
        framer.feed(in.subspan(at, std::min(step, in.size() - at)));
        for (;;) {
            auto next = framer.next();
            if (next.error) {
                check_error(*next.error);
                require(next.error->code == err::kHeader, "the framer reports header errors only");
                return 0;  // the session drops the connection
            }
            if (!next.message) break;
            const auto h = decode_header(*next.message);
            require(std::holds_alternative<Header>(h), "a framed message has a good header");
            require(std::get<Header>(h).length == next.message->size(), "a framed message has its header's length");
            check_message(*next.message);
        }
        require(framer.buffered() < kMaxMessageLen + step, "the framer holds at most one message and a read");
    }
    return 0;
}
