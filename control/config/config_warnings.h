// What `tern check` warns about in a valid config: exposures, not errors.
// A config file that holds secrets (BGP MD5 passwords, credentials in a pool
// URL) and that every local user can read; an HTTP API (unauthenticated:
// /pools, /alerts, /metrics) bound beyond loopback; a RunCommand that runs
// as root.
#pragma once

#include <string>
#include <vector>

#include "conf/config.h"

namespace tern::ctl {

// Each warning one line without the newline; `path` is the config's file
// (its mode is looked at; a missing file gives no mode warning).
std::vector<std::string> config_warnings(const conf::Config& config, const std::string& path);

}  // namespace tern::ctl
