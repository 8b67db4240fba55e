// tern run's log: one line per event, in PyBal's spirit, to stderr. When
// stderr is journald's stream (JOURNAL_STREAM names stderr's device and
// inode) each line starts with its syslog priority ("<3>"), so journald
// records the level and the time; elsewhere each line starts with an
// ISO-8601 local time and warnings and errors say so in words. The level
// comes from the config's log.level. DPDK's own lines come here too
// (control/daemon/eal_log.h). set_log_level: control thread; log: any
// thread (each line is one fwrite to stderr).
#pragma once

#include <ctime>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace tern::ctl {

void set_log_level(conf::LogLevel level);
void log(conf::LogLevel level, const std::string& line);
inline void log_info(const std::string& line) { log(conf::LogLevel::info, line); }
inline void log_error(const std::string& line) { log(conf::LogLevel::error, line); }

// Whether a JOURNAL_STREAM value ("DEV:INODE", sd_journal_stream_fd(3))
// names this device and inode.
bool journal_stream_is(std::string_view journal_stream, unsigned long dev, unsigned long ino);
// One log line as written: "<6>line" for journald, else
// "2026-12-03T12:20:01.123+01:00 tern: error: line" (`usec` after the epoch,
// in the local time zone).
std::string log_line(conf::LogLevel level, const std::string& line, bool journal, int64_t usec);

}  // namespace tern::ctl
