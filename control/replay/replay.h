// `tern replay`: the real dataplane over DPDK's pcap PMD, from a capture to
// captures, stopping at the end of the input.
#pragma once

#include <string>
#include <vector>

namespace tern::ctl {

struct ReplayOptions {
    std::string config;
    std::string in;
    std::string out;
    std::string punt;    // optional
    std::string stats;   // optional: JSON counters
    std::string events;  // optional: control events at capture times (control/replay/events.h)
    unsigned lcores = 1;
    std::vector<std::string> eal_args;  // replaces the default memory options when given
};

// Returns the process exit status.
int run_replay(const ReplayOptions& options);

}  // namespace tern::ctl
