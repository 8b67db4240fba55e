#include "health/dns_wire.h"

#include <fmt/format.h>

namespace tern::health::dns {

namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxName = 255;  // wire bytes, RFC 1035 2.3.4
constexpr size_t kMaxLabel = 63;
// A name has at most 127 labels, so a longer chain of pointers is a loop.
constexpr int kMaxPointers = 127;

void put16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}

// Reads big-endian fields from `msg`, failing (not reading) past its end.
class Reader {
public:
    explicit Reader(std::span<const uint8_t> msg) : msg_(msg) {}
    size_t pos() const { return pos_; }
    bool u8(uint8_t& v) {
        if (msg_.size() - pos_ < 1) return false;
        v = msg_[pos_++];
        return true;
    }
    bool u16(uint16_t& v) {
        if (msg_.size() - pos_ < 2) return false;
        v = static_cast<uint16_t>(msg_[pos_] << 8 | msg_[pos_ + 1]);
        pos_ += 2;
        return true;
    }
    bool u32(uint32_t& v) {
        uint16_t hi = 0, lo = 0;
        if (!u16(hi) || !u16(lo)) return false;
        v = static_cast<uint32_t>(hi) << 16 | lo;
        return true;
    }
    bool bytes(size_t n, std::vector<uint8_t>& v) {
        if (msg_.size() - pos_ < n) return false;
        v.assign(msg_.begin() + static_cast<std::ptrdiff_t>(pos_),
                 msg_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
        pos_ += n;
        return true;
    }
    // A possibly compressed name (RFC 1035 4.1.4) in presentation form:
    // labels joined by dots, '.', '\' and unprintable bytes escaped, the
    // root as ".". Leaves the reader after the name's first pointer or end.
    bool name(std::string& out, std::string& error) {
        out.clear();
        size_t at = pos_;
        size_t wire = 1;  // the root label
        int pointers = 0;
        bool jumped = false;
        for (;;) {
            if (at >= msg_.size()) {
                error = "name runs past the end of the message";
                return false;
            }
            const uint8_t len = msg_[at];
            if ((len & 0xc0) == 0xc0) {
                if (at + 1 >= msg_.size()) {
                    error = "compression pointer cut short";
                    return false;
                }
                const size_t target = static_cast<size_t>(len & 0x3f) << 8 | msg_[at + 1];
                if (++pointers > kMaxPointers) {
                    error = "compression pointers loop";
                    return false;
                }
                if (target >= msg_.size()) {
                    error = fmt::format("compression pointer to {} is past the end of the message", target);
                    return false;
                }
                if (!jumped) pos_ = at + 2;
                jumped = true;
                at = target;
                continue;
            }
            if ((len & 0xc0) != 0) {
                error = fmt::format("unsupported label type 0x{:02x}", len & 0xc0);
                return false;
            }
            if (len == 0) {
                if (!jumped) pos_ = at + 1;
                if (out.empty()) out = ".";
                return true;
            }
            wire += 1 + len;
            if (wire > kMaxName) {
                error = "name longer than 255 bytes";
                return false;
            }
            if (msg_.size() - at - 1 < len) {
                error = "label runs past the end of the message";
                return false;
            }
            if (!out.empty()) out += '.';
            for (size_t i = 0; i < len; ++i) {
                const uint8_t c = msg_[at + 1 + i];
                if (c == '.' || c == '\\') {
                    out += '\\';
                    out += static_cast<char>(c);
                } else if (c <= 0x20 || c >= 0x7f) {
                    out += fmt::format("\\{:03d}", c);
                } else {
                    out += static_cast<char>(c);
                }
            }
            at += 1 + len;
        }
    }

private:
    std::span<const uint8_t> msg_;
    size_t pos_ = 0;
};

std::string_view strip_dot(std::string_view s) {
    if (!s.empty() && s.back() == '.') s.remove_suffix(1);
    return s;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::optional<std::vector<uint8_t>> encode_query(uint16_t id, std::string_view name, uint16_t type,
                                                 std::string& error) {
    std::vector<uint8_t> out;
    put16(out, id);
    put16(out, 0x0100);  // QR=0 query, OPCODE=0 standard, RD=1
    put16(out, 1);       // QDCOUNT
    put16(out, 0);       // ANCOUNT
    put16(out, 0);       // NSCOUNT
    put16(out, 0);       // ARCOUNT
    const std::string_view labels = name == "." ? std::string_view{} : strip_dot(name);
    size_t wire = 1;
    if (!labels.empty()) {
        size_t start = 0;
        for (;;) {
            const size_t dot = labels.find('.', start);
            const std::string_view label =
                labels.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
            if (label.empty()) {
                error = fmt::format("'{}' has an empty label", name);
                return std::nullopt;
            }
            if (label.size() > kMaxLabel) {
                error = fmt::format("'{}' has a label longer than {} bytes", name, kMaxLabel);
                return std::nullopt;
            }
            wire += 1 + label.size();
            if (wire > kMaxName) {
                error = fmt::format("'{}' is longer than {} bytes", name, kMaxName);
                return std::nullopt;
            }
            out.push_back(static_cast<uint8_t>(label.size()));
            out.insert(out.end(), label.begin(), label.end());
            if (dot == std::string_view::npos) break;
            start = dot + 1;
        }
    } else if (name.empty()) {
        error = "empty name";
        return std::nullopt;
    }
    out.push_back(0);
    put16(out, type);
    put16(out, kClassIN);
    return out;
}

std::optional<Reply> decode_reply(std::span<const uint8_t> msg, std::string& error) {
    if (msg.size() < kHeaderSize) {
        error = fmt::format("{} bytes is shorter than a DNS header", msg.size());
        return std::nullopt;
    }
    Reader r(msg);
    Reply reply;
    uint16_t flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
    r.u16(reply.id);
    r.u16(flags);
    r.u16(qd);
    r.u16(an);
    r.u16(ns);
    r.u16(ar);
    if ((flags & 0x8000) == 0) {
        error = "not a response (QR is 0)";
        return std::nullopt;
    }
    reply.opcode = static_cast<uint8_t>(flags >> 11 & 0x0f);
    reply.truncated = (flags & 0x0200) != 0;
    reply.rcode = static_cast<uint8_t>(flags & 0x0f);
    if (qd != 1) {
        error = fmt::format("{} questions, not 1", qd);
        return std::nullopt;
    }
    if (!r.name(reply.qname, error)) {
        error = "question: " + error;
        return std::nullopt;
    }
    if (!r.u16(reply.qtype) || !r.u16(reply.qclass)) {
        error = "question cut short";
        return std::nullopt;
    }
    // A truncated reply may stop anywhere after the question.
    for (uint16_t i = 0; i < an; ++i) {
        Record rec;
        uint16_t rdlength = 0;
        if (!r.name(rec.name, error)) {
            if (reply.truncated) break;
            error = fmt::format("answer {}: {}", i + 1, error);
            return std::nullopt;
        }
        if (!r.u16(rec.type) || !r.u16(rec.cls) || !r.u32(rec.ttl) || !r.u16(rdlength) ||
            !r.bytes(rdlength, rec.data)) {
            if (reply.truncated) break;
            error = fmt::format("answer {} cut short", i + 1);
            return std::nullopt;
        }
        reply.answers.push_back(std::move(rec));
    }
    return reply;
}

bool same_name(std::string_view a, std::string_view b) {
    a = strip_dot(a);
    b = strip_dot(b);
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

std::string rcode_name(uint8_t rcode) {
    switch (rcode) {
        case kNoError: return "NOERROR";
        case kFormErr: return "FORMERR";
        case kServFail: return "SERVFAIL";
        case kNxDomain: return "NXDOMAIN";
        case kNotImp: return "NOTIMP";
        case kRefused: return "REFUSED";
        case 6: return "YXDOMAIN";
        case 7: return "YXRRSET";
        case 8: return "NXRRSET";
        case 9: return "NOTAUTH";
        case 10: return "NOTZONE";
        default: return fmt::format("RCODE {}", rcode);
    }
}

std::string type_name(uint16_t type) {
    switch (type) {
        case kTypeA: return "A";
        case kTypeAAAA: return "AAAA";
        default: return fmt::format("TYPE {}", type);
    }
}

}  // namespace tern::health::dns
