#include "control/daemon/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace tern::ctl {
namespace {

// Whether stderr is journald's stream: JOURNAL_STREAM is inherited by
// children whose stderr may be a file or a terminal, so it must name
// stderr itself (systemd.exec(5)).
bool stderr_is_journal() {
    const char* js = std::getenv("JOURNAL_STREAM");
    struct stat st {};
    if (js == nullptr || fstat(STDERR_FILENO, &st) != 0) return false;
    return journal_stream_is(js, static_cast<unsigned long>(st.st_dev), static_cast<unsigned long>(st.st_ino));
}

// Set by the control thread, read by any (DPDK logs from lcores too).
std::atomic<conf::LogLevel> g_level{conf::LogLevel::info};
const bool g_journal = stderr_is_journal();

}  // namespace

bool journal_stream_is(std::string_view js, unsigned long dev, unsigned long ino) {
    return js == fmt::format("{}:{}", dev, ino);
}

std::string log_line(conf::LogLevel level, const std::string& line, bool journal, int64_t usec) {
    if (journal) {
        // sd-daemon(3) priorities: 7 debug, 6 info, 4 warning, 3 err.
        static constexpr int prio[] = {7, 6, 4, 3};
        return fmt::format("<{}>{}\n", prio[static_cast<int>(level)], line);
    }
    const time_t secs = static_cast<time_t>(usec / 1000000);
    struct tm tm {};
    localtime_r(&secs, &tm);
    char date[32], zone[8];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    std::strftime(zone, sizeof zone, "%z", &tm);  // +0100 -> +01:00
    const std::string z = std::string(zone, 3) + ":" + std::string(zone + 3);
    const char* what = level == conf::LogLevel::warning ? "warning: " : level == conf::LogLevel::error ? "error: " : "";
    return fmt::format("{}.{:03}{} tern: {}{}\n", date, (usec / 1000) % 1000, z, what, line);
}

void set_log_level(conf::LogLevel level) { g_level.store(level, std::memory_order_relaxed); }

void log(conf::LogLevel level, const std::string& line) {
    if (level < g_level.load(std::memory_order_relaxed)) return;
    const auto usec =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
    const std::string text = log_line(level, line, g_journal, usec.count());
    std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace tern::ctl
