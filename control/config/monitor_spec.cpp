#include "control/config/monitor_spec.h"

#include <fmt/format.h>

#include <algorithm>

#include "conf/yaml_reader.h"
#include "health/monitor_kind.h"

namespace tern::ctl {
namespace {

using health::OptionSpec;
using health::OptionType;
using health::OptionValue;

// One option's value from the options map `o` at `p`, reported as the schema
// reports its own keys; nullopt when absent or invalid.
std::optional<OptionValue> read_option(conf::YamlReader& r, const YAML::Node& o, const std::string& p,
                                       const OptionSpec& opt) {
    const auto min = static_cast<uint64_t>(opt.min), max = static_cast<uint64_t>(opt.max);
    switch (opt.type) {
        case OptionType::real:
            if (auto v = r.real(o, p, opt.name, opt.min, opt.max, opt.required)) return *v;
            break;
        case OptionType::uint:
            if (auto v = r.uint(o, p, opt.name, min, max, opt.required)) return *v;
            break;
        case OptionType::boolean:
            if (auto v = r.boolean(o, p, opt.name, opt.required)) return *v;
            break;
        case OptionType::str:
            if (auto v = r.str(o, p, opt.name, opt.required)) return *v;
            break;
        case OptionType::str_list:
            if (auto v = r.str_list(o, p, opt.name, opt.required)) return *v;
            break;
        case OptionType::uint_list:
            if (auto v = r.uint_list(o, p, opt.name, min, max, opt.required)) return *v;
            break;
    }
    return std::nullopt;
}

// The options read before a kind's own, as the schema always read them:
// interval, timeout (where the kind has them), rise, fall.
bool read_first(const OptionSpec& o) {
    const std::string_view n = o.name;
    return n == "interval" || n == "timeout" || n == "rise" || n == "fall";
}

}  // namespace

std::optional<health::MonitorSpec> read_monitor(conf::YamlReader& r, const conf::Monitor& m) {
    const auto& kinds = health::monitor_kinds();
    const health::MonitorKind* kind = health::find_kind(m.name);
    if (kind == nullptr) {
        std::vector<std::string_view> names;
        for (const auto* k : kinds) names.push_back(k->name);
        r.unknown_key(*m.key, m.parent_path, names);
        return std::nullopt;
    }
    const YAML::Node& o = *m.options;
    const std::string& p = m.path;
    health::MonitorSpec spec = health::default_spec(*kind);
    if (o.IsNull()) {
        // No options: the defaults, where no option is required.
        if (const OptionSpec* needs = health::required_option(*kind)) {
            r.error(*m.key, p, fmt::format("{} needs options: missing required key '{}'", m.name, needs->name));
            return std::nullopt;
        }
        return spec;
    }
    if (!o.IsMap()) {
        r.error(o, p, "the monitor's options must be a map");
        return std::nullopt;
    }
    // PyBal's names, then Tern's rise and fall.
    std::vector<const OptionSpec*> table;
    for (const auto& opt : kind->options) table.push_back(&opt);
    for (const auto& opt : health::common_options()) table.push_back(&opt);
    std::vector<std::string_view> names;
    for (const auto* opt : table) names.push_back(opt->name);
    r.known_keys(o, p, names);
    const size_t before = r.errors().size();
    r.duplicate_keys(o, p);
    std::stable_partition(table.begin(), table.end(), [](const OptionSpec* opt) { return read_first(*opt); });
    bool ok = true;
    for (const OptionSpec* opt : table) {
        std::optional<OptionValue> v = read_option(r, o, p, *opt);
        if (!v) continue;
        if (opt->check != nullptr) {
            for (auto& why : opt->check(*v)) {
                r.error(o[opt->name], conf::join_path(p, opt->name), std::move(why));
                ok = false;
            }
        }
        spec.set(opt->name, *v);
    }
    if (kind->check != nullptr) {
        for (auto& why : kind->check(spec)) r.error(o, p, std::move(why));
    }
    if (!ok || r.errors().size() != before) return std::nullopt;
    return spec;
}

std::optional<health::MonitorSpec> monitor_spec(const conf::Monitor& m) {
    if (!m.key || !m.options) return std::nullopt;
    std::vector<conf::Error> errors;
    conf::YamlReader r(m.mark.file, errors);
    return read_monitor(r, m);
}

conf::LoadResult load_checked_string(const std::string& text, const std::string& name) {
    return conf::load_string(text, name, [](conf::YamlReader& r, const conf::Monitor& m) { read_monitor(r, m); });
}

conf::LoadResult load_checked_file(const std::string& path) {
    return conf::load_file(path, [](conf::YamlReader& r, const conf::Monitor& m) { read_monitor(r, m); });
}

boost::asio::ip::address to_asio(const conf::IpAddr& ip) {
    if (ip.is_v4()) {
        boost::asio::ip::address_v4::bytes_type b;
        std::copy_n(ip.bytes.begin(), b.size(), b.begin());
        return boost::asio::ip::address_v4(b);
    }
    boost::asio::ip::address_v6::bytes_type b;
    std::copy_n(ip.bytes.begin(), b.size(), b.begin());
    return boost::asio::ip::address_v6(b);
}

}  // namespace tern::ctl
