// The process metrics Prometheus' client libraries export by default
// (process_cpu_seconds_total, process_resident_memory_bytes, ...), read from
// /proc the way they read it. Control thread.
#pragma once

#include <optional>
#include <string>

namespace tern::ctl {

struct ProcessStats {
    double cpu_seconds = 0;     // user + system time
    double resident_bytes = 0;  // resident set size
    double virtual_bytes = 0;   // virtual memory size
    double start_time_s = 0;    // since the Unix epoch
    double open_fds = 0;
    double max_fds = 0;  // the soft limit on open files
};

// Parses /proc/<pid>/stat's text (`stat`) with the machine's boot time
// (/proc/stat's btime), clock ticks per second and page size. nullopt when
// the text is not what Linux writes.
std::optional<ProcessStats> parse_proc_stat(const std::string& stat, double boot_time_s, long ticks_per_s,
                                            long page_bytes);

// This process, now; nullopt when /proc is not readable.
std::optional<ProcessStats> read_process_stats();

}  // namespace tern::ctl
