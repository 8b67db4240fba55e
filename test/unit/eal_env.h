// Starts the EAL once for the unit tests that need DPDK memory (rte_hash,
// mbufs, RCU): no hugepages, no PCI, a private file prefix.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "dataplane/rte.h"

namespace tern::test {

inline bool ensure_eal() {
    static const bool ok = [] {
        std::string prefix = "tern-unit-" + std::to_string(getpid());
        std::vector<std::string> args = {"tern_unit",   "--no-huge",      "-m",          "256",     "--no-pci",
                                         "--no-shconf", "--no-telemetry", "--log-level", "*:error", "--lcores",
                                         "(0-1)@(0)",   "--file-prefix",  prefix};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) return false;
        // Leave no runtime directory behind.
        std::atexit([] {
            const std::string dir = rte_eal_get_runtime_dir();
            rte_eal_cleanup();
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        });
        return true;
    }();
    return ok;
}

}  // namespace tern::test
