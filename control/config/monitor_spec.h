// From a config's monitors (conf::Monitor: a kind's name and its options as
// written) to health's own MonitorSpec, through health's registry of kinds:
// each option checked against its kind's table, with the schema's messages
// (file:line:column, key path). Control thread only (reads YAML nodes).
#pragma once

#include <boost/asio/ip/address.hpp>

#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "health/monitor_spec.h"

namespace tern::conf {
class YamlReader;
}

namespace tern::ctl {

// Reads `m` against its kind's table, reporting every problem through `r`;
// the spec when there is none. The conf::MonitorReader of load_checked_*.
std::optional<health::MonitorSpec> read_monitor(conf::YamlReader& r, const conf::Monitor& m);

// The spec of a monitor of a config loaded by load_checked_* (or
// load_config); nullopt only for a monitor that does not check.
std::optional<health::MonitorSpec> monitor_spec(const conf::Monitor& m);

// conf::load_string / conf::load_file with every monitor read as it is met:
// a config whose monitors can be made. What `tern check` and config loads use
// (control/config/config_load.h adds what this build cannot serve).
conf::LoadResult load_checked_string(const std::string& text, const std::string& name);
conf::LoadResult load_checked_file(const std::string& path);

// A config address as Asio's, for a monitor's target.
boost::asio::ip::address to_asio(const conf::IpAddr& ip);

}  // namespace tern::ctl
