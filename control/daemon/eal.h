// EAL start-up and shutdown. Control thread only.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tern::ctl {

// Starts the EAL with `args` (without argv[0]). Returns an error message or nullopt.
std::optional<std::string> eal_init(const std::vector<std::string>& args);
void eal_cleanup();

// "--lcores (0-N)@(cpus)": N worker lcores plus the main one, floating over
// every CPU this process may use, so more lcores than CPUs still start.
std::string lcores_arg(unsigned workers);

// True when the machine has at least `mb` MiB of free 2 MiB hugepages mounted.
bool hugepages_available(unsigned mb);

}  // namespace tern::ctl
