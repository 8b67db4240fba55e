// DPDK's own log (the EAL, the PMDs, mempools) through tern's log
// (control/daemon/log.h): its lines get tern's time stamp or journald
// priority, at their own level, instead of going to stdout and syslog.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace tern::ctl {

// The level of a DPDK log line (RTE_LOG_EMERG 1 .. RTE_LOG_DEBUG 8):
// EMERG..ERR error, WARNING warning, NOTICE and INFO info, DEBUG debug.
conf::LogLevel log_level_of_rte(uint32_t rte_level);

// Bytes written by DPDK, cut into lines (a line may come in pieces).
class LogLines {
public:
    // The lines that `bytes` completes, without their newlines.
    std::vector<std::string> feed(std::string_view bytes);

private:
    std::string partial_;
};

// From now on DPDK's log lines go to tern's log. Call before rte_eal_init
// (its first lines are about the arguments); the stream lives as long as
// the process. Any thread: DPDK serialises writes through the stream.
void route_dpdk_log();

}  // namespace tern::ctl
