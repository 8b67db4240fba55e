#include "control/ops/process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

namespace tern::ctl {
namespace {

std::string slurp(const char* path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::optional<double> boot_time() {
    std::istringstream in(slurp("/proc/stat"));
    std::string key;
    double v = 0;
    while (in >> key) {
        if (key == "btime" && in >> v) return v;
        in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return std::nullopt;
}

double count_fds() {
    DIR* d = opendir("/proc/self/fd");
    if (d == nullptr) return 0;
    double n = 0;
    while (const dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
    return n - 1;  // the directory stream's own descriptor
}

}  // namespace

std::optional<ProcessStats> parse_proc_stat(const std::string& stat, double boot_time_s, long ticks_per_s,
                                            long page_bytes) {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
    // the fields start after the last ')'. Field 3 (state) is the first there.
    const auto close = stat.rfind(')');
    if (close == std::string::npos || ticks_per_s <= 0) return std::nullopt;
    std::istringstream in(stat.substr(close + 1));
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    // Fields 14 utime, 15 stime, 22 starttime, 23 vsize, 24 rss (proc(5)),
    // at index field - 3 here.
    if (f.size() < 22) return std::nullopt;
    try {
        ProcessStats s;
        const double tick = static_cast<double>(ticks_per_s);
        s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / tick;
        s.start_time_s = boot_time_s + std::stod(f[19]) / tick;
        s.virtual_bytes = std::stod(f[20]);
        s.resident_bytes = std::stod(f[21]) * static_cast<double>(page_bytes);
        return s;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::optional<ProcessStats> read_process_stats() {
    const auto btime = boot_time();
    if (!btime) return std::nullopt;
    auto s = parse_proc_stat(slurp("/proc/self/stat"), *btime, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE));
    if (!s) return std::nullopt;
    s->open_fds = count_fds();
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) s->max_fds = static_cast<double>(lim.rlim_cur);
    return s;
}

}  // namespace tern::ctl
