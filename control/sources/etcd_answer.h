// etcd's answers (v2 keys API, v3 JSON gateway) as checked values. The
// bodies come from the network: every field is checked for its type and
// range before use, and any surprise rejects the whole answer with a reason
// (the source then keeps its last good pool). Pure functions that never
// throw; the fetching is pool_source.cpp's.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/pool_file.h"

namespace tern::ctl::etcd {

// A pool by host.
using Entries = std::map<std::string, conf::PoolEntry>;

// v2: the recursive read of the pool's directory (GET /v2/keys<dir>?recursive=true).
struct V2Read {
    Entries pool;       // empty when rejected
    std::string error;  // non-empty: rejected
};
V2Read parse_v2_read(std::string_view body, unsigned status, const std::string& dir);

// v2: one long-poll's answer (…&wait=true&waitIndex=N).
struct V2Event {
    enum class Kind {
        idle,      // etcd ended an idle wait with an empty body: wait again from the same index
        outdated,  // the index left etcd's history: read everything again
        reread,    // a directory changed: read everything again
        set,       // `host` now has `entry` (nullopt: inactive, out of the pool)
        remove,    // `host` left
        bad,       // `error` says why; wait on from `next`
        failed,    // `error` says why; the watch is broken: read again after a back-off
    } kind = Kind::failed;
    std::string host;
    std::optional<conf::PoolEntry> entry;
    uint64_t next = 0;  // the index to wait from next
    std::string error;
};
V2Event parse_v2_event(std::string_view body, unsigned status, uint64_t index);

// v3: a range read of the prefix (POST /v3/kv/range).
struct V3Range {
    Entries pool;  // empty when rejected
    uint64_t revision = 0;
    std::string error;
};
V3Range parse_v3_range(std::string_view body, unsigned status);

// v3: one message of a watch stream (POST /v3/watch).
struct V3Change {
    std::string host;
    std::optional<conf::PoolEntry> entry;  // nullopt: deleted or inactive
};
struct V3Message {
    enum class Kind {
        events,     // `changes` (maybe none: a created or progress message)
        compacted,  // etcd compacted past our revision: read everything again
        failed,     // `error` says why: read everything again (no changes, errors or revision)
    } kind = Kind::failed;
    std::vector<V3Change> changes;
    std::vector<std::string> errors;  // bad values among the events (each skipped)
    uint64_t revision = 0;            // the highest mod_revision among the events (0: none)
    std::string error;
};
V3Message parse_v3_message(std::string_view text);

// X-Etcd-Index: a decimal below 2^63, or nullopt.
std::optional<uint64_t> parse_index(std::string_view text);

// Decoders etcd's v3 gateway needs (exposed for tests).
std::string base64(std::string_view s);
// nullopt when `s` is not base64.
std::optional<std::string> unbase64(std::string_view s);

}  // namespace tern::ctl::etcd
