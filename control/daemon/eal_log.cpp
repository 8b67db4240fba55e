#include "control/daemon/eal_log.h"

#include <sys/types.h>

#include <cstdio>

#include "control/daemon/log.h"
#include "dataplane/rte.h"

namespace tern::ctl {

conf::LogLevel log_level_of_rte(uint32_t rte_level) {
    if (rte_level <= RTE_LOG_ERR) return conf::LogLevel::error;
    if (rte_level == RTE_LOG_WARNING) return conf::LogLevel::warning;
    if (rte_level <= RTE_LOG_INFO) return conf::LogLevel::info;
    return conf::LogLevel::debug;
}

std::vector<std::string> LogLines::feed(std::string_view bytes) {
    std::vector<std::string> lines;
    for (size_t nl; (nl = bytes.find('\n')) != std::string_view::npos; bytes.remove_prefix(nl + 1)) {
        partial_.append(bytes.substr(0, nl));
        if (!partial_.empty()) lines.push_back(std::move(partial_));
        partial_.clear();
    }
    partial_.append(bytes);
    return lines;
}

namespace {

// The stream's write function. rte_vlog() writes one message and flushes
// the stream, all on the calling thread, so rte_log_cur_msg_loglevel() is
// that message's level. The stream's lock (stdio) guards `lines`.
ssize_t write_dpdk_log(void* cookie, const char* data, size_t size) {
    auto* lines = static_cast<LogLines*>(cookie);
    const conf::LogLevel level = log_level_of_rte(static_cast<uint32_t>(rte_log_cur_msg_loglevel()));
    for (const auto& line : lines->feed({data, size})) log(level, line);
    return static_cast<ssize_t>(size);
}

}  // namespace

void route_dpdk_log() {
    static LogLines lines;
    static std::FILE* stream = [] {
        cookie_io_functions_t io{};
        io.write = write_dpdk_log;
        return fopencookie(&lines, "w", io);
    }();
    if (stream != nullptr) rte_openlog_stream(stream);
}

}  // namespace tern::ctl
