#include "control/daemon/eal.h"

#include <sched.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "dataplane/rte.h"

namespace tern::ctl {

std::optional<std::string> eal_init(const std::vector<std::string>& args) {
    std::vector<std::string> storage;
    storage.reserve(args.size() + 1);
    storage.push_back("tern");
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    const int rc = rte_eal_init(static_cast<int>(storage.size()), argv.data());
    if (rc < 0) {
        return fmt::format("EAL initialisation failed ({}); arguments: {}", rte_strerror(rte_errno),
                           fmt::join(args, " "));
    }
    return std::nullopt;
}

void eal_cleanup() {
    // The runtime directory (/var/run/dpdk/<file-prefix>) is ours alone:
    // leave nothing behind.
    const std::string dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
}

std::string lcores_arg(unsigned workers) {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; ++c) {
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
        }
    }
    if (cpus.empty()) cpus.push_back(0);
    return fmt::format("({}-{})@({})", 0, workers, fmt::join(cpus, ","));
}

std::vector<std::string> pinned_lcores_args(const conf::Dataplane& d) {
    if (d.lcores.empty()) return {};
    unsigned main = 0;
    if (d.main_lcore) {
        main = *d.main_lcore;
    } else {
        while (std::find(d.lcores.begin(), d.lcores.end(), main) != d.lcores.end()) ++main;
    }
    return {"-l", fmt::format("{},{}", main, fmt::join(d.lcores, ",")), "--main-lcore", std::to_string(main)};
}

bool hugepages_available(unsigned mb) {
    std::ifstream f("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
    unsigned long free_pages = 0;
    if (!(f >> free_pages)) return false;
    std::ifstream mounts("/proc/mounts");
    std::string line;
    bool mounted = false;
    while (std::getline(mounts, line)) {
        if (line.find(" hugetlbfs ") != std::string::npos) mounted = true;
    }
    return mounted && free_pages * 2 >= mb;
}

}  // namespace tern::ctl
