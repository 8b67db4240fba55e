// PyBal pool files and conftool values under fuzzing: what a pool source does
// with a file or an etcd value it fetched (conf/pool_file.h). The input is
// read as a legacy pool file, as a JSON pool file and as a conftool value.
// Checked besides "no crash" (ASan/UBSan):
// - a file without errors lists non-empty hosts, each once, weights 0..65535;
// - what parses, with plain ASCII hosts, writes back out (legacy lines,
//   JSON) and parses again to the same entries: the parser and the formats PyBal's tools write agree;
// - a conftool value is an entry, inactive, or an error naming the key.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "conf/pool_file.h"
#include "test/fuzz/fuzz_check.h"

namespace {
using namespace tern::conf;

void require(bool ok, const char* what) { tern::fuzz::require(ok, "pool_fuzz", what); }

void check_entries(const PoolParse& p) {
    if (!p.errors.empty()) return;
    std::set<std::string> hosts;
    for (const auto& e : p.entries) {
        require(!e.host.empty(), "a host is not empty");
        require(e.weight <= 65535, "a weight is at most 65535");
        require(hosts.insert(e.host).second, "a host is listed once");
    }
}

// A host PyBal's writers would quote without escapes.
bool plain(const std::string& host) {
    return std::all_of(host.begin(), host.end(), [](char c) { return c > 0x20 && c < 0x7f && c != '\'' && c != '\\'; });
}

std::vector<PoolEntry> sorted(std::vector<PoolEntry> v) {
    std::sort(v.begin(), v.end(), [](const PoolEntry& a, const PoolEntry& b) { return a.host < b.host; });
    return v;
}

void check_round_trip(const PoolParse& p) {
    if (!p.errors.empty()) return;
    std::string legacy;
    nlohmann::json j = nlohmann::json::object();
    bool all_plain = true;
    for (const auto& e : p.entries) {
        all_plain = all_plain && plain(e.host);
        legacy += "{ 'host': '" + e.host + "', 'weight': " + std::to_string(e.weight) +
                  ", 'enabled': " + (e.enabled ? "True" : "False") + " }\n";
        j[e.host] = {{"enabled", e.enabled}, {"weight", e.weight}};
    }
    if (!all_plain) return;  // (and JSON wants UTF-8)
    const PoolParse lines = parse_pool_file(legacy, false);
    require(lines.errors.empty(), "written legacy lines parse");
    require(lines.entries == p.entries, "legacy lines round-trip");
    const PoolParse again = parse_pool_file(j.dump(), true);
    require(again.errors.empty(), "written JSON parses");
    require(sorted(again.entries) == sorted(p.entries), "JSON round-trips");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const bool json : {false, true}) {
        const PoolParse p = parse_pool_file(text, json);
        check_entries(p);
        check_round_trip(p);
    }
    const std::string key = "/conftool/v1/pools/eqiad/text/nginx/cp1001.eqiad.wmnet";
    const ConftoolValue v = parse_conftool(key, text);
    if (!v.error.empty()) {
        require(!v.entry, "an error has no entry");
        require(v.error.rfind(key, 0) == 0, "an error names the key");
    } else if (v.entry) {
        require(v.entry->host == "cp1001.eqiad.wmnet", "the host is the key's last component");
        require(v.entry->weight <= 65535, "a conftool weight is at most 65535");
    }
    return 0;
}
