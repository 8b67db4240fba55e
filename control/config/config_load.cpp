#include "control/config/config_load.h"

#include "control/config/monitor_spec.h"
#include "control/state/table_builder.h"

namespace tern::ctl {

conf::LoadResult load_config(const std::string& path) {
    conf::LoadResult r = load_checked_file(path);
    if (r.config) {
        auto more = unsupported(*r.config);
        r.errors.insert(r.errors.end(), more.begin(), more.end());
    }
    if (!r.errors.empty()) r.config.reset();
    return r;
}

std::string error_lines(const std::vector<conf::Error>& errors) {
    std::string out;
    for (const auto& e : errors) out += e.str() + "\n";
    return out;
}

}  // namespace tern::ctl
