// etcd's answers under fuzzing: what the etcd pool sources do with a body
// (control/sources/pool_source.cpp, etcd_answer.h). The first input byte
// picks the answer (v2 read, v2 event, v3 range, v3 watch stream, the
// X-Etcd-Index header, base64) and the HTTP status; the rest is the body.
// Checked besides "no crash, nothing thrown" (ASan/UBSan; the parsers
// promise never to throw):
// - a rejected answer has a reason and no pool; an accepted pool has each
//   host under its own name, weights 0..65535;
// - v3 watch: a stream cut into lines as the watcher cuts it, each message
//   parsed; a failed one says why;
// - base64 of any bytes decodes back to them; an index is below 2^63.
#include <cstdint>
#include <string>
#include <string_view>

#include "control/sources/etcd_answer.h"
#include "test/fuzz/fuzz_check.h"

namespace {
using namespace tern::ctl;

void require(bool ok, const char* what) { tern::fuzz::require(ok, "etcd_fuzz", what); }

void check_pool(const etcd::Entries& pool, const std::string& error) {
    if (!error.empty()) {
        require(pool.empty(), "a rejected answer keeps no pool");
        return;
    }
    for (const auto& [host, e] : pool) {
        require(!host.empty() && host == e.host, "each host under its own name");
        require(e.weight <= 65535, "a weight is at most 65535");
    }
}

void check_entry(const std::string& host, const std::optional<tern::conf::PoolEntry>& e) {
    if (e) require(e->host == host && e->weight <= 65535, "an entry is its host's, weight at most 65535");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    static constexpr unsigned kStatus[] = {200, 200, 200, 201, 400, 404, 500, 0};
    const unsigned kind = data[0] & 7u;
    const unsigned status = kStatus[(data[0] >> 3) & 7u];
    const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (kind) {
        case 0: {
            const etcd::V2Read r = etcd::parse_v2_read(body, status, "/conftool/v1/pools/eqiad/text/nginx");
            check_pool(r.pool, r.error);
            break;
        }
        case 1: {
            const uint64_t index = 1000;
            const etcd::V2Event e = etcd::parse_v2_event(body, status, index);
            using K = etcd::V2Event::Kind;
            if (e.kind == K::bad || e.kind == K::failed) require(!e.error.empty(), "a bad event says why");
            if (e.kind == K::set) {
                require(!e.host.empty(), "a set names its host");
                check_entry(e.host, e.entry);
            }
            if (e.kind == K::remove) require(!e.host.empty(), "a removal names its host");
            if (e.kind == K::idle) require(e.next == index, "an idle wait goes on from the same index");
            break;
        }
        case 2: {
            const etcd::V3Range r = etcd::parse_v3_range(body, status);
            check_pool(r.pool, r.error);
            break;
        }
        case 3: {
            // The watch stream as the watcher cuts it: one message a line.
            for (size_t start = 0; start < body.size();) {
                size_t end = body.find('\n', start);
                if (end == std::string_view::npos) end = body.size();
                const etcd::V3Message m = etcd::parse_v3_message(std::string(body.substr(start, end - start)));
                if (m.kind == etcd::V3Message::Kind::failed) require(!m.error.empty(), "a failed message says why");
                if (m.kind == etcd::V3Message::Kind::events) {
                    for (const auto& c : m.changes) {
                        require(!c.host.empty(), "a change names its host");
                        check_entry(c.host, c.entry);
                    }
                } else {
                    require(m.changes.empty(), "only events carry changes");
                }
                start = end + 1;
            }
            break;
        }
        case 4: {
            const auto i = etcd::parse_index(body);
            if (i) require(*i < (uint64_t{1} << 63), "an index is below 2^63");
            break;
        }
        default: {
            const std::string raw(body);
            const auto back = etcd::unbase64(etcd::base64(raw));
            require(back && *back == raw, "base64 decodes back");
            if (const auto d = etcd::unbase64(raw)) {
                const auto again = etcd::unbase64(etcd::base64(*d));
                require(again && *again == *d, "decoded base64 round-trips");
            }
            break;
        }
    }
    return 0;
}
