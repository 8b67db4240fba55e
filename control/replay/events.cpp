#include "control/replay/events.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "conf/yaml_reader.h"
#include "control/config/config_load.h"

namespace tern::ctl {

EventsResult load_events(const std::string& path) {
    EventsResult res;
    conf::YamlReader r(path, res.errors);
    std::ifstream f(path);
    if (!f) {
        res.errors.push_back({path, 0, 0, "(file)", fmt::format("cannot read: {}", std::strerror(errno))});
        return res;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    YAML::Node root;
    try {
        root = YAML::Load(ss.str());
    } catch (const YAML::Exception& e) {
        res.errors.push_back(
            {path, e.mark.line + 1, e.mark.column + 1, "(file)", fmt::format("not valid YAML: {}", e.msg)});
        return res;
    }
    if (root.IsNull()) return res;
    if (!r.is_list(root, "(file)")) return res;
    uint64_t last = 0;
    for (size_t i = 0; i < root.size(); ++i) {
        const std::string p = fmt::format("[{}]", i);
        const YAML::Node n = root[i];
        if (!r.is_map(n, p)) continue;
        r.known_keys(n, p, {"at", "action", "service", "host", "weight", "config"});
        Event e;
        const conf::Mark m = r.mark(n);
        e.where = fmt::format("{}:{}", path, m.line);
        auto at = r.real(n, p, "at", 0, 1e10, true);
        auto action = r.choice(n, p, "action", {"weight", "pool", "depool", "down", "up", "reload"}, true);
        if (at) e.at_us = static_cast<uint64_t>(std::llround(*at * 1e6));
        if (action) {
            static const char* names[] = {"weight", "pool", "depool", "down", "up", "reload"};
            e.action = names[*action];
            if (e.action == "reload") {
                if (auto c = r.str(n, p, "config", true)) e.config = *c;
            } else {
                if (auto s = r.str(n, p, "service", false)) e.service = *s;
                if (auto h = r.str(n, p, "host", true)) e.host = *h;
                if (e.action == "weight") {
                    if (auto w = r.uint(n, p, "weight", 0, 65535, true)) e.weight = static_cast<uint32_t>(*w);
                }
            }
        }
        if (at && e.at_us < last) r.error(n["at"], p + ".at", "events must be in time order");
        if (at) last = e.at_us;
        res.events.push_back(e);
    }
    return res;
}

std::optional<std::string> apply_event(const Event& e, ControlState& state) {
    if (e.action == "weight") return state.set_weight(e.service, e.host, e.weight);
    if (e.action == "pool") return state.set_enabled(e.service, e.host, true);
    if (e.action == "depool") return state.set_enabled(e.service, e.host, false);
    if (e.action == "down") return state.set_down(e.service, e.host, true);
    if (e.action == "up") return state.set_down(e.service, e.host, false);
    conf::LoadResult r = load_config(e.config);
    if (!r.errors.empty()) {
        // A config with errors is rejected whole; the running one stays.
        std::string msg = fmt::format("reload {} rejected:", e.config);
        for (const auto& err : r.errors) msg += "\n  " + err.str();
        return msg;
    }
    if (auto err = state.apply(*r.config, e.at_us / 1000000)) {
        return fmt::format("reload {} rejected:\n  {}", e.config, *err);
    }
    return std::nullopt;
}

}  // namespace tern::ctl
