// EAL start-up and shutdown. Control thread only.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"

namespace tern::ctl {

// Starts the EAL with `args` (without argv[0]). Returns an error message or nullopt.
std::optional<std::string> eal_init(const std::vector<std::string>& args);
void eal_cleanup();

// "--lcores (0-N)@(cpus)": N worker lcores plus the main one, floating over
// every CPU this process may use, so more lcores than CPUs still start.
std::string lcores_arg(unsigned workers);

// The pinned lcores of `dataplane.lcores`: "-l MAIN,WORKERS --main-lcore
// MAIN", lcore N running on CPU N; the main lcore is `dataplane.main_lcore`
// or the lowest number not among the workers. Empty when `lcores` is.
std::vector<std::string> pinned_lcores_args(const conf::Dataplane& dataplane);

// True when the machine has at least `mb` MiB of free 2 MiB hugepages mounted.
bool hugepages_available(unsigned mb);

}  // namespace tern::ctl
