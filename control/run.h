// `tern run`: the appliance. Control thread = the EAL main lcore.
#pragma once

#include <string>
#include <vector>

namespace tern::ctl {

struct RunOptions {
    std::string config;
    bool interactive = false;
    std::vector<std::string> eal_args;  // replaces the defaults when given
};

// Returns the process exit status.
int run_appliance(const RunOptions& options);

}  // namespace tern::ctl
