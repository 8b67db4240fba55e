// tern run's log: one line per event, in PyBal's spirit, to stderr. Under
// systemd (JOURNAL_STREAM set) each line starts with its syslog priority
// ("<3>"), so journald records the level; elsewhere warnings and errors
// say so in words. The level comes from the config's log.level.
#pragma once

#include <string>

#include "conf/config.h"

namespace tern::ctl {

void set_log_level(conf::LogLevel level);
void log(conf::LogLevel level, const std::string& line);
inline void log_info(const std::string& line) { log(conf::LogLevel::info, line); }
inline void log_error(const std::string& line) { log(conf::LogLevel::error, line); }

}  // namespace tern::ctl
