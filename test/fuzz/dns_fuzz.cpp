// DNS answers under fuzzing: what DNSQuery does with a datagram that arrives
// on its socket (health/dns_query.cpp): decode_reply, then the checks that
// match it to its query. Checked besides "no crash, no read outside the
// datagram" (ASan/UBSan):
// - a rejected reply says why; a decoded one had a header;
// - every decoded name, its escapes undone, has labels of 1..63 bytes and
//   at most 255 bytes on the wire;
// - bytes after a complete (not truncated) reply change nothing decoded;
// - the question's name encodes into a query (when it needs no escapes),
//   and that query, marked as a response, decodes to the same name.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "health/dns_wire.h"
#include "test/fuzz/fuzz_check.h"

namespace {
using namespace tern::health;

void require(bool ok, const char* what) { tern::fuzz::require(ok, "dns_fuzz", what); }

// A name in presentation form ("a.b", "\\046", "\\.", "." for the root).
void check_name(const std::string& name) {
    if (name == ".") return;
    size_t wire = 1, label = 0;
    for (size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '.') {
            require(label >= 1, "no empty label");
            wire += 1 + label;
            label = 0;
            continue;
        }
        if (name[i] == '\\') {
            require(i + 1 < name.size(), "an escape is complete");
            if (name[i + 1] >= '0' && name[i + 1] <= '9') {
                require(i + 3 < name.size(), "a \\ddd escape has three digits");
                i += 3;
            } else {
                i += 1;
            }
        }
        ++label;
    }
    require(label >= 1, "no empty last label");
    require(label <= 63, "a label is at most 63 bytes");
    wire += 1 + label;
    require(wire <= 255, "a name is at most 255 bytes on the wire");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string error;
    const auto reply = dns::decode_reply(std::span<const uint8_t>(data, size), error);
    if (!reply) {
        require(!error.empty(), "a rejected reply says why");
        return 0;
    }
    require(size >= 12, "a reply has its 12-byte header");
    check_name(reply->qname);
    for (const auto& r : reply->answers) {
        check_name(r.name);
        require(r.data.size() <= size, "RDATA lies within the datagram");
        (void)dns::type_name(r.type);
    }
    (void)dns::rcode_name(reply->rcode);
    (void)dns::same_name(reply->qname, "www.example.org");

    if (!reply->truncated) {
        std::vector<uint8_t> longer(data, data + size);
        longer.insert(longer.end(), {0xc0, 0x0c, 0, 1, 0, 1});
        std::string error2;
        const auto again = dns::decode_reply(longer, error2);
        require(again.has_value(), "trailing bytes do not spoil a reply");
        require(again->id == reply->id && again->rcode == reply->rcode && again->qname == reply->qname &&
                    again->answers.size() == reply->answers.size(),
                "trailing bytes change nothing decoded");
    }

    if (reply->qname.find('\\') == std::string::npos) {
        std::string qerr;
        auto q = dns::encode_query(reply->id, reply->qname, reply->qtype, qerr);
        require(q.has_value(), "a decoded plain name encodes into a query");
        (*q)[2] |= 0x80;  // QR: as the server would echo it
        std::string rerr;
        const auto echoed = dns::decode_reply(*q, rerr);
        require(echoed.has_value(), "our query, answered empty, decodes");
        require(echoed->qname == reply->qname && echoed->qtype == reply->qtype, "the question round-trips");
        require(dns::same_name(echoed->qname, reply->qname), "same_name holds for equal names");
    }
    return 0;
}
