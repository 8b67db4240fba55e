#include "bench/common.h"

#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "control/daemon/eal.h"
#include "dataplane/rte.h"

namespace tern::bench {

bool Args::parse(int argc, char** argv, int first, std::string& error) {
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            for (++i; i < argc; ++i) eal_.push_back(argv[i]);
            break;
        }
        if (a.rfind("--", 0) != 0) {
            error = "unexpected argument '" + a + "'";
            return false;
        }
        a = a.substr(2);
        if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
            values_[a] = argv[++i];
        } else {
            values_[a] = "";
        }
    }
    return true;
}

std::string Args::get(const std::string& key, const std::string& def) const {
    auto it = values_.find(key);
    return it == values_.end() ? def : it->second;
}

double Args::num(const std::string& key, double def) const {
    auto it = values_.find(key);
    return it == values_.end() ? def : std::stod(it->second);
}

std::string start_eal(unsigned workers, bool no_huge, const std::vector<std::string>& extra, std::string& memory) {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; ++c) {
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
        }
    }
    if (cpus.empty()) cpus.push_back(0);
    // Main lcore on the first CPU; workers from the second CPU on, wrapping:
    // with 2 CPUs and 2 workers, worker 2 shares CPU 0 with the (sleeping) main lcore.
    std::string lcores = fmt::format("0@{}", cpus[0]);
    for (unsigned w = 1; w <= workers; ++w) {
        lcores += fmt::format(",{}@{}", w, cpus[w % cpus.size()]);
    }
    std::vector<std::string> eal = {
        "--lcores",    lcores,      "--no-pci",      "--no-telemetry",
        "--log-level", "*:warning", "--file-prefix", fmt::format("tern-bench-{}", getpid())};
    if (!no_huge && ctl::hugepages_available(256)) {
        eal.insert(eal.end(), {"--in-memory"});
        memory = "hugepages";
    } else {
        eal.insert(eal.end(), {"--no-huge", "-m", "1024", "--no-shconf"});
        memory = "no-huge";
    }
    eal.insert(eal.end(), extra.begin(), extra.end());
    if (auto err = ctl::eal_init(eal)) return *err;
    return "";
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string jstr(const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            o += fmt::format("\\u{:04x}", c);
        } else {
            o += c;
        }
    }
    return o + "\"";
}

std::string jnums(const std::vector<double>& v) {
    std::string o = "[";
    for (size_t i = 0; i < v.size(); ++i) o += fmt::format("{}{:.6g}", i ? ", " : "", v[i]);
    return o + "]";
}

void wait_workers_sleeping() {
    unsigned lcore;
    for (;;) {
        bool busy = false;
        RTE_LCORE_FOREACH_WORKER(lcore) {
            if (rte_eal_get_lcore_state(lcore) == RUNNING) busy = true;
        }
        if (!busy) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    rte_eal_mp_wait_lcore();
}

}  // namespace tern::bench
