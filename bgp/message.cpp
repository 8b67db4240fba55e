#include "bgp/message.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <bitset>
#include <cstring>

namespace tern::bgp {
namespace {

constexpr uint8_t kAttrOrigin = 1, kAttrAsPath = 2, kAttrNextHop = 3, kAttrMed = 4, kAttrLocalPref = 5,
                  kAttrAtomicAggregate = 6, kAttrAggregator = 7, kAttrCommunities = 8, kAttrMpReach = 14,
                  kAttrMpUnreach = 15, kAttrAs4Path = 17, kAttrAs4Aggregator = 18, kAttrLargeCommunity = 32;
constexpr uint8_t kFlagOptional = 0x80, kFlagTransitive = 0x40, kFlagExtended = 0x10;
constexpr uint8_t kOptionalAttrError = 9;
constexpr uint8_t kCapMp = 1, kCapRouteRefresh = 2, kCapAs4 = 65;
constexpr uint8_t kParamCapabilities = 2;

class Writer {
public:
    void u8(uint8_t v) { b_.push_back(v); }
    void u16(uint16_t v) {
        u8(static_cast<uint8_t>(v >> 8));
        u8(static_cast<uint8_t>(v));
    }
    void u32(uint32_t v) {
        u16(static_cast<uint16_t>(v >> 16));
        u16(static_cast<uint16_t>(v));
    }
    void raw(std::span<const uint8_t> s) { b_.insert(b_.end(), s.begin(), s.end()); }
    size_t size() const { return b_.size(); }
    void patch16(size_t at, uint16_t v) {
        b_[at] = static_cast<uint8_t>(v >> 8);
        b_[at + 1] = static_cast<uint8_t>(v);
    }
    Bytes& bytes() { return b_; }

private:
    Bytes b_;
};

// Reads big-endian fields; once a read runs past the end, every later read fails too.
class Reader {
public:
    explicit Reader(std::span<const uint8_t> s) : s_(s) {}
    bool ok() const { return ok_; }
    size_t left() const { return ok_ ? s_.size() - pos_ : 0; }
    bool has(size_t n) const { return ok_ && s_.size() - pos_ >= n; }
    uint8_t u8() { return has(1) ? s_[pos_++] : fail(); }
    uint16_t u16() {
        if (!has(2)) return fail();
        uint16_t v = static_cast<uint16_t>(s_[pos_] << 8 | s_[pos_ + 1]);
        pos_ += 2;
        return v;
    }
    uint32_t u32() {
        if (!has(4)) return fail();
        uint32_t v = static_cast<uint32_t>(u16()) << 16;
        return v | u16();
    }
    std::span<const uint8_t> take(size_t n) {
        if (!has(n)) {
            fail();
            return {};
        }
        auto r = s_.subspan(pos_, n);
        pos_ += n;
        return r;
    }

private:
    uint8_t fail() {
        ok_ = false;
        return 0;
    }
    std::span<const uint8_t> s_;
    size_t pos_ = 0;
    bool ok_ = true;
};

void header(Writer& w, MsgType t) {
    for (int i = 0; i < 16; ++i) w.u8(0xff);
    w.u16(0);  // patched by finish()
    w.u8(static_cast<uint8_t>(t));
}

Bytes finish(Writer& w) {
    w.patch16(16, static_cast<uint16_t>(w.size()));
    return std::move(w.bytes());
}

Notification note(uint8_t code, uint8_t subcode, Bytes data = {}) { return {code, subcode, std::move(data)}; }

void put_prefix(Writer& w, const Prefix& p) {
    w.u8(p.length);
    w.raw(std::span(p.addr.bytes.data(), (p.length + 7u) / 8u));
}

// Prefixes in NLRI encoding until the reader is exhausted.
std::optional<Notification> get_prefixes(Reader r, uint8_t family, uint8_t subcode, std::vector<Prefix>& out) {
    const unsigned max = family == 4 ? 32 : 128;
    while (r.left() > 0) {
        Prefix p;
        p.addr.family = family;
        p.length = r.u8();
        if (p.length > max || !r.has((p.length + 7u) / 8u)) return note(err::kUpdate, subcode);
        auto b = r.take((p.length + 7u) / 8u);
        std::copy(b.begin(), b.end(), p.addr.bytes.begin());
        // Host bits beyond the length are ignored, not trusted.
        if (p.length % 8 != 0) p.addr.bytes[p.length / 8] &= static_cast<uint8_t>(0xff00 >> (p.length % 8));
        out.push_back(p);
    }
    return std::nullopt;
}

void put_attr(Writer& w, uint8_t flags, uint8_t type, const Bytes& value) {
    if (value.size() > 255) flags |= kFlagExtended;
    w.u8(flags);
    w.u8(type);
    if (flags & kFlagExtended) {
        w.u16(static_cast<uint16_t>(value.size()));
    } else {
        w.u8(static_cast<uint8_t>(value.size()));
    }
    w.raw(value);
}

Bytes as_path_value(const std::vector<AsSegment>& path, bool four) {
    Writer v;
    for (const auto& seg : path) {
        // A segment holds at most 255 ASes; longer ones are split.
        for (size_t i = 0; i < seg.asns.size(); i += 255) {
            const size_t n = std::min<size_t>(255, seg.asns.size() - i);
            v.u8(seg.type);
            v.u8(static_cast<uint8_t>(n));
            for (size_t j = i; j < i + n; ++j) {
                if (four) {
                    v.u32(seg.asns[j]);
                } else {
                    v.u16(seg.asns[j] > 0xffff ? kAsTrans : static_cast<uint16_t>(seg.asns[j]));
                }
            }
        }
    }
    return std::move(v.bytes());
}

// The Optional and Transitive bits an attribute we know must carry (RFC 4271
// 5, RFC 4760, 1997, 6793, 8092); -1 for the ones we do not check.
int expected_flags(uint8_t type) {
    switch (type) {
        case kAttrOrigin:
        case kAttrAsPath:
        case kAttrNextHop:
        case kAttrLocalPref:
        case kAttrAtomicAggregate: return kFlagTransitive;
        case kAttrMed:
        case kAttrMpReach:
        case kAttrMpUnreach: return kFlagOptional;
        case kAttrAggregator:
        case kAttrCommunities:
        case kAttrAs4Path:
        case kAttrAs4Aggregator:
        case kAttrLargeCommunity: return kFlagOptional | kFlagTransitive;
        default: return -1;
    }
}

bool parse_as_path(std::span<const uint8_t> value, bool four, std::vector<AsSegment>& out) {
    Reader r(value);
    const size_t width = four ? 4 : 2;
    while (r.left() > 0) {
        AsSegment seg;
        seg.type = r.u8();
        const uint8_t n = r.u8();
        if (!r.ok() || (seg.type != kAsSet && seg.type != kAsSequence) || n == 0 || !r.has(n * width)) return false;
        for (uint8_t i = 0; i < n; ++i) seg.asns.push_back(four ? r.u32() : r.u16());
        out.push_back(std::move(seg));
    }
    return r.ok();
}

Decoded<Message> decode_open(Reader r) {
    Open m;
    m.version = r.u8();
    m.my_as_field = r.u16();
    m.asn = m.my_as_field;
    m.hold_time = r.u16();
    m.router_id = r.u32();
    const uint8_t opt_len = r.u8();
    if (!r.ok()) return note(err::kHeader, err::kBadLength);
    if (m.version != 4) return note(err::kOpen, err::kUnsupportedVersion, {0, 4});
    if (opt_len != r.left()) return note(err::kOpen, 0);
    while (r.left() > 0) {
        const uint8_t type = r.u8();
        const uint8_t len = r.u8();
        if (!r.has(len)) return note(err::kOpen, 0);
        Reader p(r.take(len));
        if (type != kParamCapabilities) return note(err::kOpen, err::kUnsupportedParam);
        while (p.left() > 0) {
            const uint8_t code = p.u8();
            const uint8_t clen = p.u8();
            if (!p.has(clen)) return note(err::kOpen, 0);
            Reader c(p.take(clen));
            if (code == kCapMp) {
                if (clen != 4) return note(err::kOpen, 0);
                AfiSafi f;
                f.afi = c.u16();
                c.u8();
                f.safi = c.u8();
                if (m.caps.multiprotocol.size() < 64) m.caps.multiprotocol.push_back(f);
            } else if (code == kCapRouteRefresh) {
                m.caps.route_refresh = true;
            } else if (code == kCapAs4) {
                if (clen != 4) return note(err::kOpen, 0);
                m.caps.as4 = c.u32();
            }  // other capabilities: not ours to use; ignored (RFC 5492 3)
        }
    }
    if (m.caps.as4) m.asn = *m.caps.as4;
    if (m.hold_time == 1 || m.hold_time == 2) return note(err::kOpen, err::kBadHoldTime);
    if (m.router_id == 0) return note(err::kOpen, err::kBadIdentifier);
    return Message{m};
}

// RFC 7606: errors that lose one route's meaning turn the UPDATE into a
// withdrawal (treat_as_withdraw); errors that lose the message's structure
// reset the session (returned as a NOTIFICATION).
Decoded<Message> decode_update(Reader r, Codec codec) {
    Update u;
    const uint16_t wlen = r.u16();
    if (!r.has(wlen)) return note(err::kUpdate, err::kMalformedAttrList);
    Reader withdrawn(r.take(wlen));
    const uint16_t alen = r.u16();
    if (!r.has(alen)) return note(err::kUpdate, err::kMalformedAttrList);
    Reader attrs(r.take(alen));
    if (auto e = get_prefixes(withdrawn, 4, err::kInvalidNetwork, u.withdrawn)) return *e;
    if (auto e = get_prefixes(r, 4, err::kInvalidNetwork, u.nlri)) return *e;
    std::bitset<256> seen;
    while (attrs.left() > 0) {
        const uint8_t flags = attrs.u8();
        const uint8_t type = attrs.u8();
        const uint16_t len = (flags & kFlagExtended) ? attrs.u16() : attrs.u8();
        if (!attrs.ok() || !attrs.has(len)) {
            // RFC 7606 4: an attribute running past the total attribute length
            // (or too few bytes left for an attribute header) is treat-as-withdraw;
            // the total length still finds the NLRI. An MP attribute cut short
            // hides NLRI we cannot withdraw: that resets the session (7606 5.3).
            if (attrs.ok() && (type == kAttrMpReach || type == kAttrMpUnreach)) {
                return note(err::kUpdate, kOptionalAttrError);
            }
            u.treat_as_withdraw = true;
            break;
        }
        const auto value = attrs.take(len);
        if (seen.test(type)) {
            if (type == kAttrMpReach || type == kAttrMpUnreach) return note(err::kUpdate, err::kMalformedAttrList);
            continue;  // RFC 7606 3(g): keep the first
        }
        seen.set(type);
        // RFC 7606 3(c): Optional or Transitive bits that contradict the
        // attribute's definition make it malformed: treat-as-withdraw. MP
        // attributes are still parsed, so the NLRI they carry is located.
        if (const int want = expected_flags(type); want >= 0 && (flags & (kFlagOptional | kFlagTransitive)) != want) {
            u.treat_as_withdraw = true;
            if (type != kAttrMpReach && type != kAttrMpUnreach) continue;
        }
        Reader v(value);
        // RFC 4271 6.3: an Optional Attribute Error carries the attribute.
        auto optional_error = [&] {
            Bytes data{flags, type};
            if (flags & kFlagExtended) data.push_back(static_cast<uint8_t>(len >> 8));
            data.push_back(static_cast<uint8_t>(len));
            data.insert(data.end(), value.begin(), value.end());
            return note(err::kUpdate, kOptionalAttrError, std::move(data));
        };
        switch (type) {
            case kAttrOrigin:
                if (len != 1 || value[0] > 2) {
                    u.treat_as_withdraw = true;
                } else {
                    u.attrs.origin = value[0];
                }
                break;
            case kAttrAsPath:
                if (!parse_as_path(value, codec.as4, u.attrs.as_path)) {
                    u.attrs.as_path.clear();
                    u.treat_as_withdraw = true;
                }
                break;
            case kAttrNextHop:
                if (len != 4) {
                    u.treat_as_withdraw = true;
                } else {
                    u.attrs.next_hop.emplace();
                    std::copy(value.begin(), value.end(), u.attrs.next_hop->begin());
                }
                break;
            case kAttrMed:
                if (len != 4) u.treat_as_withdraw = true;
                else u.attrs.med = v.u32();
                break;
            case kAttrLocalPref:
                if (len != 4) u.treat_as_withdraw = true;
                else u.attrs.local_pref = v.u32();
                break;
            case kAttrCommunities:
                if (len % 4 != 0) {
                    u.treat_as_withdraw = true;
                } else {
                    while (v.left() > 0) u.attrs.communities.push_back(v.u32());
                }
                break;
            case kAttrLargeCommunity:
                if (len % 12 != 0) {
                    u.treat_as_withdraw = true;
                } else {
                    while (v.left() > 0) u.attrs.large_communities.push_back({v.u32(), v.u32(), v.u32()});
                }
                break;
            case kAttrMpReach: {
                MpReach mp;
                mp.family.afi = v.u16();
                mp.family.safi = v.u8();
                const uint8_t nhl = v.u8();
                auto nh = v.take(nhl);
                mp.next_hop.assign(nh.begin(), nh.end());
                v.u8();  // reserved
                if (!v.ok()) return optional_error();
                if (mp.family.afi == kAfiIpv4 || mp.family.afi == kAfiIpv6) {
                    if (get_prefixes(v, mp.family.afi == kAfiIpv4 ? 4 : 6, kOptionalAttrError, mp.nlri)) {
                        return optional_error();
                    }
                }
                u.mp_reach = std::move(mp);
                break;
            }
            case kAttrMpUnreach: {
                MpUnreach mp;
                mp.family.afi = v.u16();
                mp.family.safi = v.u8();
                if (!v.ok()) return optional_error();
                if (mp.family.afi == kAfiIpv4 || mp.family.afi == kAfiIpv6) {
                    if (get_prefixes(v, mp.family.afi == kAfiIpv4 ? 4 : 6, kOptionalAttrError, mp.withdrawn)) {
                        return optional_error();
                    }
                }
                u.mp_unreach = std::move(mp);
                break;
            }
            default: break;  // AS4_PATH, AGGREGATOR, ...: not used by a speaker that ignores routes
        }
    }
    // Mandatory attributes for reachable NLRI (RFC 7606 3(d): treat-as-withdraw).
    const bool reach = !u.nlri.empty() || (u.mp_reach && !u.mp_reach->nlri.empty());
    if (reach &&
        (!seen.test(kAttrOrigin) || !seen.test(kAttrAsPath) || (!u.nlri.empty() && !seen.test(kAttrNextHop)))) {
        u.treat_as_withdraw = true;
    }
    return Message{std::move(u)};
}

}  // namespace

std::string Address::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

std::optional<Address> Address::parse(const std::string& text) {
    Address a;
    if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) {
        a.family = 4;
        return a;
    }
    if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) {
        a.family = 6;
        return a;
    }
    return std::nullopt;
}

std::string Prefix::str() const { return fmt::format("{}/{}", addr.str(), length); }

const char* to_string(MsgType t) {
    switch (t) {
        case MsgType::open: return "OPEN";
        case MsgType::update: return "UPDATE";
        case MsgType::notification: return "NOTIFICATION";
        case MsgType::keepalive: return "KEEPALIVE";
        case MsgType::route_refresh: return "ROUTE-REFRESH";
    }
    return "?";
}

std::string Notification::str() const {
    static const char* codes[] = {"?",
                                  "message header error",
                                  "OPEN message error",
                                  "UPDATE message error",
                                  "hold timer expired",
                                  "finite state machine error",
                                  "cease"};
    const char* name = code < 7 ? codes[code] : "?";
    std::string extra;
    if (code == err::kCease && subcode == err::kAdminShutdown) extra = ", administrative shutdown";
    if (code == err::kCease && subcode == err::kPeerDeconfigured) extra = ", peer de-configured";
    if (code == err::kCease && subcode == err::kConfigChange) extra = ", other configuration change";
    if (code == err::kCease && subcode == err::kCollision) extra = ", connection collision resolution";
    if (code == err::kOpen && subcode == err::kBadPeerAs) extra = ", bad peer AS";
    if (code == err::kOpen && subcode == err::kBadHoldTime) extra = ", unacceptable hold time";
    return fmt::format("{}/{} ({}{})", code, subcode, name, extra);
}

Bytes encode(const Open& m) {
    Writer w;
    header(w, MsgType::open);
    w.u8(m.version);
    w.u16(m.asn > 0xffff ? kAsTrans : static_cast<uint16_t>(m.asn));
    w.u16(m.hold_time);
    w.u32(m.router_id);
    Writer caps;
    for (const auto& f : m.caps.multiprotocol) {
        caps.u8(kCapMp);
        caps.u8(4);
        caps.u16(f.afi);
        caps.u8(0);
        caps.u8(f.safi);
    }
    if (m.caps.route_refresh) {
        caps.u8(kCapRouteRefresh);
        caps.u8(0);
    }
    if (m.caps.as4) {
        caps.u8(kCapAs4);
        caps.u8(4);
        caps.u32(*m.caps.as4);
    }
    if (caps.size() == 0) {
        w.u8(0);
    } else {
        w.u8(static_cast<uint8_t>(caps.size() + 2));
        w.u8(kParamCapabilities);
        w.u8(static_cast<uint8_t>(caps.size()));
        w.raw(caps.bytes());
    }
    return finish(w);
}

Bytes encode(const Keepalive&) {
    Writer w;
    header(w, MsgType::keepalive);
    return finish(w);
}

Bytes encode(const Notification& m) {
    Writer w;
    header(w, MsgType::notification);
    w.u8(m.code);
    w.u8(m.subcode);
    w.raw(std::span(m.data.data(), std::min<size_t>(m.data.size(), kMaxMessageLen - 21)));
    return finish(w);
}

Bytes encode(const RouteRefresh& m) {
    Writer w;
    header(w, MsgType::route_refresh);
    w.u16(m.family.afi);
    w.u8(0);
    w.u8(m.family.safi);
    return finish(w);
}

Bytes encode(const Update& m, Codec codec) {
    Writer w;
    header(w, MsgType::update);
    const size_t wlen_at = w.size();
    w.u16(0);
    for (const auto& p : m.withdrawn) put_prefix(w, p);
    w.patch16(wlen_at, static_cast<uint16_t>(w.size() - wlen_at - 2));
    const size_t alen_at = w.size();
    w.u16(0);
    const Attributes& a = m.attrs;
    if (a.origin) put_attr(w, kFlagTransitive, kAttrOrigin, {*a.origin});
    const bool any_path = !a.as_path.empty() || !m.nlri.empty() || m.mp_reach;
    if (any_path) put_attr(w, kFlagTransitive, kAttrAsPath, as_path_value(a.as_path, codec.as4));
    if (a.next_hop) put_attr(w, kFlagTransitive, kAttrNextHop, Bytes(a.next_hop->begin(), a.next_hop->end()));
    auto u32 = [](uint32_t v) {
        return Bytes{static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                     static_cast<uint8_t>(v)};
    };
    if (a.med) put_attr(w, kFlagOptional, kAttrMed, u32(*a.med));
    if (a.local_pref) put_attr(w, kFlagTransitive, kAttrLocalPref, u32(*a.local_pref));
    if (!a.communities.empty()) {
        Writer v;
        for (uint32_t c : a.communities) v.u32(c);
        put_attr(w, kFlagOptional | kFlagTransitive, kAttrCommunities, v.bytes());
    }
    if (m.mp_reach) {
        Writer v;
        v.u16(m.mp_reach->family.afi);
        v.u8(m.mp_reach->family.safi);
        v.u8(static_cast<uint8_t>(m.mp_reach->next_hop.size()));
        v.raw(m.mp_reach->next_hop);
        v.u8(0);
        for (const auto& p : m.mp_reach->nlri) put_prefix(v, p);
        put_attr(w, kFlagOptional, kAttrMpReach, v.bytes());
    }
    if (m.mp_unreach) {
        Writer v;
        v.u16(m.mp_unreach->family.afi);
        v.u8(m.mp_unreach->family.safi);
        for (const auto& p : m.mp_unreach->withdrawn) put_prefix(v, p);
        put_attr(w, kFlagOptional, kAttrMpUnreach, v.bytes());
    }
    if (!codec.as4) {
        bool big = false;
        for (const auto& s : a.as_path)
            big = big || std::any_of(s.asns.begin(), s.asns.end(), [](uint32_t x) { return x > 0xffff; });
        if (big) put_attr(w, kFlagOptional | kFlagTransitive, kAttrAs4Path, as_path_value(a.as_path, true));
    }
    if (!a.large_communities.empty()) {
        Writer v;
        for (const auto& c : a.large_communities) {
            v.u32(c.global);
            v.u32(c.local1);
            v.u32(c.local2);
        }
        put_attr(w, kFlagOptional | kFlagTransitive, kAttrLargeCommunity, v.bytes());
    }
    w.patch16(alen_at, static_cast<uint16_t>(w.size() - alen_at - 2));
    for (const auto& p : m.nlri) put_prefix(w, p);
    return finish(w);
}

Decoded<Header> decode_header(std::span<const uint8_t> bytes) {
    if (bytes.size() < kHeaderLen) return note(err::kHeader, err::kBadLength);
    for (size_t i = 0; i < 16; ++i) {
        if (bytes[i] != 0xff) return note(err::kHeader, err::kNotSynchronized);
    }
    Header h;
    h.length = static_cast<uint16_t>(bytes[16] << 8 | bytes[17]);
    const uint8_t type = bytes[18];
    const Bytes len_data{bytes[16], bytes[17]};
    if (h.length < kHeaderLen || h.length > kMaxMessageLen) return note(err::kHeader, err::kBadLength, len_data);
    size_t min = 0;
    switch (type) {
        case 1: min = 29; break;
        case 2: min = 23; break;
        case 3: min = 21; break;
        case 4: min = 19; break;
        case 5: min = 23; break;
        default: return note(err::kHeader, err::kBadType, {type});
    }
    if (h.length < min || (type == 4 && h.length != 19) || (type == 5 && h.length != 23)) {
        return note(err::kHeader, err::kBadLength, len_data);
    }
    h.type = static_cast<MsgType>(type);
    return h;
}

Decoded<Message> decode(std::span<const uint8_t> message, Codec codec) {
    auto hd = decode_header(message);
    if (auto* n = std::get_if<Notification>(&hd)) return *n;
    const Header h = std::get<Header>(hd);
    if (message.size() != h.length) return note(err::kHeader, err::kBadLength);
    Reader r(message.subspan(kHeaderLen));
    switch (h.type) {
        case MsgType::open: return decode_open(r);
        case MsgType::update: return decode_update(r, codec);
        case MsgType::keepalive: return Message{Keepalive{}};
        case MsgType::notification: {
            Notification n;
            n.code = r.u8();
            n.subcode = r.u8();
            auto d = r.take(r.left());
            n.data.assign(d.begin(), d.end());
            return Message{std::move(n)};
        }
        case MsgType::route_refresh: {
            RouteRefresh rr;
            rr.family.afi = r.u16();
            r.u8();
            rr.family.safi = r.u8();
            return Message{rr};
        }
    }
    return note(err::kHeader, err::kBadType);
}

void Framer::feed(std::span<const uint8_t> bytes) {
    if (pos_ > 0) {
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
        pos_ = 0;
    }
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

Framer::Next Framer::next() {
    Next out;
    const std::span<const uint8_t> avail(buf_.data() + pos_, buf_.size() - pos_);
    if (avail.size() < kHeaderLen) return out;
    auto hd = decode_header(avail.first(kHeaderLen));
    if (auto* n = std::get_if<Notification>(&hd)) {
        out.error = *n;
        buf_.clear();
        pos_ = 0;
        return out;
    }
    const size_t len = std::get<Header>(hd).length;
    if (avail.size() < len) return out;
    out.message = Bytes(avail.begin(), avail.begin() + static_cast<std::ptrdiff_t>(len));
    pos_ += len;
    return out;
}

}  // namespace tern::bgp
