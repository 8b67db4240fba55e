#include "control/daemon/log.h"

#include <fmt/format.h>

#include <cstdlib>

namespace tern::ctl {
namespace {

conf::LogLevel g_level = conf::LogLevel::info;
const bool g_journal = std::getenv("JOURNAL_STREAM") != nullptr;

}  // namespace

void set_log_level(conf::LogLevel level) { g_level = level; }

void log(conf::LogLevel level, const std::string& line) {
    if (level < g_level) return;
    if (g_journal) {
        // sd-daemon(3) priorities: 7 debug, 6 info, 4 warning, 3 err.
        static constexpr int prio[] = {7, 6, 4, 3};
        fmt::print(stderr, "<{}>{}\n", prio[static_cast<int>(level)], line);
        return;
    }
    switch (level) {
        case conf::LogLevel::warning: fmt::print(stderr, "tern: warning: {}\n", line); break;
        case conf::LogLevel::error: fmt::print(stderr, "tern: error: {}\n", line); break;
        default: fmt::print(stderr, "tern: {}\n", line); break;
    }
}

}  // namespace tern::ctl
