// The registry of monitor kinds. Each kind is one descriptor (its name, its
// option table and its factory) in the kind's own file; monitor_kinds.cpp
// lists them, one line each. Whoever reads options (control, from tern.yaml;
// `tern import-pybal`, from pybal.conf) reads them through these tables, and
// whoever makes a monitor makes it through make_monitor. docs/health.md says
// how to add a kind.
#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "health/monitor.h"
#include "health/monitor_spec.h"

namespace tern::health {

// An option's type; the order of OptionValue's alternatives.
enum class OptionType {
    real,       // a number in [min, max]
    uint,       // an integer in [min, max]
    boolean,    // true or false
    str,        // a non-empty string
    str_list,   // a string or a non-empty list of strings
    uint_list,  // an integer or a non-empty list of integers, each in [min, max]
};

// One option of a kind, under PyBal's name (hyphens included).
struct OptionSpec {
    const char* name;
    OptionType type;
    double min = 0, max = 0;      // real, uint, uint_list
    OptionValue default_value{};  // when absent; of `type`
    bool required = false;
    // A further check of a value read, or nullptr: one message per problem
    // (ProxyFetch's URLs).
    std::vector<std::string> (*check)(const OptionValue& value) = nullptr;
};

using MonitorFactory = std::unique_ptr<Monitor> (*)(boost::asio::io_context& io, const MonitorSpec& spec, Target target,
                                                    Report report);

struct MonitorKind {
    const char* name;  // as in tern.yaml and pybal.conf: "ProxyFetch"
    // PyBal's options of the kind, in the order they are listed to a user
    // who mistyped one. "interval" and "timeout" set MonitorSpec's fields;
    // rise and fall (common_options()) come after, for every kind.
    std::vector<OptionSpec> options;
    // Checks across options once all are read (nullptr: none); one message
    // per problem, about the options as a whole.
    std::vector<std::string> (*check)(const MonitorSpec& spec) = nullptr;
    MonitorFactory make = nullptr;
};

// Every kind, in registration order (monitor_kinds.cpp).
const std::vector<const MonitorKind*>& monitor_kinds();
// The kind named `name` (exactly), or nullptr.
const MonitorKind* find_kind(std::string_view name);
// Tern's options of every kind, after the kind's own: rise and fall.
const std::vector<OptionSpec>& common_options();
// The first required option of `kind`, or nullptr.
const OptionSpec* required_option(const MonitorKind& kind);
// A spec of `kind` with every option at its default.
MonitorSpec default_spec(const MonitorKind& kind);

}  // namespace tern::health
