// The registry: every monitor kind, one line each, and what every kind shares.
#include <algorithm>

#include "health/monitor_kind.h"

namespace tern::health {

// Each kind's descriptor, defined in the kind's own file.
const MonitorKind& proxy_fetch_kind();
const MonitorKind& idle_connection_kind();
const MonitorKind& run_command_kind();
const MonitorKind& dns_query_kind();
const MonitorKind& udp_kind();

const std::vector<const MonitorKind*>& monitor_kinds() {
    // Built on first use (no static-initialisation order to mind); this order
    // is the order known kinds are listed in.
    static const std::vector<const MonitorKind*> kKinds = {
        &proxy_fetch_kind(), &idle_connection_kind(), &run_command_kind(), &dns_query_kind(), &udp_kind(),
    };
    return kKinds;
}

const MonitorKind* find_kind(std::string_view name) {
    for (const MonitorKind* k : monitor_kinds()) {
        if (name == k->name) return k;
    }
    return nullptr;
}

const std::vector<OptionSpec>& common_options() {
    static const std::vector<OptionSpec> kCommon = {
        {"rise", OptionType::uint, 1, 100, uint64_t{1}},
        {"fall", OptionType::uint, 1, 100, uint64_t{1}},
    };
    return kCommon;
}

const OptionSpec* required_option(const MonitorKind& kind) {
    auto it = std::find_if(kind.options.begin(), kind.options.end(), [](const OptionSpec& o) { return o.required; });
    return it == kind.options.end() ? nullptr : &*it;
}

MonitorSpec default_spec(const MonitorKind& kind) {
    MonitorSpec spec;
    spec.kind = kind.name;
    for (const auto& o : kind.options) spec.set(o.name, o.default_value);
    for (const auto& o : common_options()) spec.set(o.name, o.default_value);
    return spec;
}

void MonitorSpec::set(const std::string& name, const OptionValue& value) {
    const double* real = std::get_if<double>(&value);
    const uint64_t* count = std::get_if<uint64_t>(&value);
    if (name == "interval" && real) {
        interval = *real;
    } else if (name == "timeout" && real) {
        timeout = *real;
    } else if (name == "rise" && count) {
        rise = static_cast<uint32_t>(*count);
    } else if (name == "fall" && count) {
        fall = static_cast<uint32_t>(*count);
    } else {
        options[name] = value;
    }
}

std::unique_ptr<Monitor> make_monitor(boost::asio::io_context& io, const MonitorSpec& spec, Target target,
                                      Report report) {
    const MonitorKind* kind = find_kind(spec.kind);
    if (kind == nullptr || kind->make == nullptr) return nullptr;
    return kind->make(io, spec, std::move(target), std::move(report));
}

}  // namespace tern::health
