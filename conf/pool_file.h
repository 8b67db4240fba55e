// The data formats of pool sources, as PyBal and conftool write them: PyBal
// pool files (one Python dict literal per line, or the JSON form for files
// whose name ends in .json) and conftool's etcd values. Pure parsers: the
// fetching is control's (control/sources/pool_source.*).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::conf {

// A server as a pool source lists it. PyBal's defaults: weight 10, enabled.
struct PoolEntry {
    std::string host;
    uint32_t weight = 10;
    bool enabled = true;
    friend bool operator==(const PoolEntry&, const PoolEntry&) = default;
};

struct PoolParse {
    std::vector<PoolEntry> entries;   // in file order
    std::vector<std::string> errors;  // "line 3: ..." ; any error rejects the whole file
};

// A PyBal pool file. `json`: the JSON form ({"host": {"enabled": true,
// "weight": 10}, ...}); otherwise one `{ 'host': 'h', 'weight': 10,
// 'enabled': True }` per line, `#` comments and blank lines allowed. PyBal
// skips a bad line; Tern rejects the file, so that a half-written file never
// shrinks a pool (the source keeps its last good one).
PoolParse parse_pool_file(std::string_view text, bool json);

// conftool's value for a host: {"pooled": "yes"|"no"|"inactive", "weight": N}.
// yes/no: in the pool, enabled or not; inactive: not in the pool (nullopt).
// Errors name the key.
struct ConftoolValue {
    std::optional<PoolEntry> entry;  // nullopt: inactive
    std::string error;               // non-empty: the value is bad
};
ConftoolValue parse_conftool(const std::string& key, std::string_view value);

// The host a conftool key names: its last path component.
std::string conftool_host(std::string_view key);

}  // namespace tern::conf
