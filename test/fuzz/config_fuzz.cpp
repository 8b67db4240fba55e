// The YAML config under fuzzing: what `tern run`, `tern check` and a reload
// do with a config file's text (control/config: load_checked_string, then
// unsupported(), the warnings and the reload's diff). Checked besides "no
// crash, nothing thrown" (ASan/UBSan; the loader reports, never throws):
// - a config loads or says why: errors name the file, and a loaded config
//   has none;
// - loading is deterministic: the same text loads to the same errors;
// - a loaded config's every monitor makes a spec; the diff of a config
//   against itself is empty, and its warnings are one line each.
#include <cstdint>
#include <string>

#include "control/config/config_diff.h"
#include "control/config/config_warnings.h"
#include "control/config/monitor_spec.h"
#include "control/state/table_builder.h"
#include "test/fuzz/fuzz_check.h"

namespace {
using namespace tern;

void require(bool ok, const char* what) { tern::fuzz::require(ok, "config_fuzz", what); }

std::string all(const std::vector<conf::Error>& errors) {
    std::string out;
    for (const auto& e : errors) out += e.str() + "\n";
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const conf::LoadResult r = ctl::load_checked_string(text, "tern.yaml");
    require(r.config.has_value() == r.errors.empty(), "a config loads exactly when there is no error");
    for (const auto& e : r.errors) {
        require(e.file == "tern.yaml", "an error names the file");
        require(!e.message.empty(), "an error says what is wrong");
    }
    const conf::LoadResult again = ctl::load_checked_string(text, "tern.yaml");
    require(all(again.errors) == all(r.errors), "loading is deterministic");
    if (!r.config) return 0;
    const conf::Config& c = *r.config;
    (void)ctl::unsupported(c);
    for (const auto& w : ctl::config_warnings(c, "tern.yaml")) {
        require(w.find('\n') == std::string::npos, "a warning is one line");
    }
    for (const auto& s : c.services) {
        for (const auto& m : s.monitors) (void)ctl::monitor_spec(m);
    }
    const ctl::ConfigDiff d = ctl::diff_config(c, c);
    require(d.empty(), "a config does not differ from itself");
    return 0;
}
