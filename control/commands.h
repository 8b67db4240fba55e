// The operator's commands, as words in and text out: what the console
// (rte_cmdline on the terminal and on the UNIX socket) runs. Every change
// goes through Pools, so the tables, /pools and the console agree. Control
// thread only.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bgp/speaker.h"
#include "conf/config.h"
#include "control/capture.h"
#include "control/pools.h"
#include "control/stats.h"
#include "control/table_builder.h"
#include "dataplane/flow_table.h"

namespace tern::ctl {

// What the commands look at and act on; the callbacks come from tern run.
struct CommandContext {
    Pools& pools;
    std::function<conf::Config()> config;  // the effective config (pools applied)
    std::function<Stats()> stats;
    std::function<const bgp::Speaker*()> speaker;
    // Up to `max` flows sampled from the lcores' flow tables, rendered.
    std::function<std::string(size_t max)> flows;
    std::function<std::string()> reload;  // re-reads the YAML; says what happened
    std::string config_path;
    Capture* capture = nullptr;  // packet capture on the ports, when there are ports
};

struct CommandResult {
    std::string out;   // ends with a newline when not empty
    bool ok = true;    // false: `out` is an error naming the bad word
    bool quit = false;
};

CommandResult run_command(CommandContext& ctx, const std::vector<std::string>& words);

// The command list with one line of help each.
std::string command_help();

// Sampled flows as `show flows` prints them (lcore, 5-tuple, state, server).
std::string flows_text(const std::vector<dp::FlowSample>& flows, const CounterSlots& slots,
                       size_t live, size_t capacity);

// ipvsadm -Ln's layout for the given services (all when `only` is empty).
std::string ipvsadm_text(const conf::Config& config, const Stats& stats, const Pools& pools, const std::string& only);

}  // namespace tern::ctl
