// What a reload changes: every key of conf::Config is classified as applied
// live by `tern run` or as taking effect at the next restart, and the
// difference between the running config and a new one is the list of keys
// that changed, each with its class. Nothing changes silently: a key that
// is neither is a build error (config_diff.cpp counts each struct's fields)
// and a unit test failure (the table below against the keys the diff visits
// and against conf/REFERENCE.md). Pure; any thread.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace tern::ctl {

enum class Takes { live, restart };

// One key path as conf/REFERENCE.md writes it, list indices as `[]`
// ("bgp.peers[].asn"), and how a change to it takes effect.
struct KeyRule {
    std::string_view path;
    Takes takes;
    std::string_view how;  // what applies it, or why it cannot be
};

// Every key, in the config's order.
std::span<const KeyRule> key_rules();
// The rule of `path` (indices as `[]` or numbers), or nullptr.
const KeyRule* key_rule(std::string_view path);

struct Change {
    std::string path;  // "bgp.peers[1]", "flows.timeouts.established"
    std::string what;  // "added", "removed", "changed", "900 -> 300"
    Takes takes = Takes::live;
};

struct ConfigDiff {
    std::vector<Change> changes;

    bool empty() const { return changes.empty(); }
    // Whether any key at or under `prefix` changed ("bgp", "flows.timeouts").
    bool touches(std::string_view prefix) const;
    std::vector<Change> live() const;
    std::vector<Change> restart() const;
    // "bgp.peers[1] (10.0.0.2) added; flows.timeouts.established 900 -> 300
    // applied; ports[0].device a -> b: takes effect at the next restart",
    // or "no change".
    std::string text() const;
};

// The keys that differ between the running config and `next`.
ConfigDiff diff_config(const conf::Config& running, const conf::Config& next);

// Every key path the diff compares (indices as `[]`), whether or not it
// changed: what the test holds against key_rules().
std::vector<std::string> compared_keys();

}  // namespace tern::ctl
