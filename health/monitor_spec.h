// What one monitor is asked to do: its kind, the options every kind shares,
// and the kind's own options by name. The kind's table (health/monitor_kind.h)
// says which options there are, their types and defaults; control makes a
// spec from the config (control/config/monitor_spec.h). Plain data, no I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tern::health {

// An option's value, of its type in the kind's table (OptionType's order).
using OptionValue = std::variant<double, uint64_t, bool, std::string, std::vector<std::string>, std::vector<uint64_t>>;

struct MonitorSpec {
    std::string kind;      // the kind's name, as in tern.yaml and pybal.conf: "ProxyFetch"
    double interval = 10;  // seconds between checks (the option "interval", where the kind has it)
    double timeout = 5;    // seconds one check may take (the option "timeout", where the kind has it)
    uint32_t rise = 1;     // consecutive good results to turn up (PyBal: 1)
    uint32_t fall = 1;     // consecutive bad results to turn down (PyBal: 1)
    // The kind's other options by PyBal's name, every one of its table
    // (defaults filled in).
    std::map<std::string, OptionValue, std::less<>> options;

    // Sets option `name`: interval, timeout, rise and fall go to the fields
    // above, any other to `options`.
    void set(const std::string& name, const OptionValue& value);
    // Option `name` as a T; T's empty value when it is absent or of another type.
    template <class T>
    const T& get(std::string_view name) const {
        static const T kEmpty{};
        auto it = options.find(name);
        if (it == options.end()) return kEmpty;
        const T* v = std::get_if<T>(&it->second);
        return v ? *v : kEmpty;
    }
    friend bool operator==(const MonitorSpec&, const MonitorSpec&) = default;
};

}  // namespace tern::health
