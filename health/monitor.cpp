#include "health/monitor.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace tern::health {

Monitor::Monitor(boost::asio::io_context& io, const MonitorSpec& spec, Target target, Report report)
    : io_(io), spec_(spec), target_(std::move(target)), report_(std::move(report)) {}

Monitor::~Monitor() { *alive_ = false; }

void Monitor::stop() {
    if (!*alive_) return;
    *alive_ = false;
    on_stop();
}

void Monitor::result(bool ok, const std::string& reason, double duration_s) {
    if (!*alive_) return;
    ++stats_.checks;
    if (!ok) ++stats_.failures;
    stats_.last_duration_s = duration_s;
    if (duration_s > 0) stats_.durations.add(duration_s);
    last_reason_ = reason;
    bool change = false;
    if (!up_) {
        change = true;
    } else if (*up_ == ok) {
        streak_ = 0;
    } else if (++streak_ >= (ok ? spec_.rise : spec_.fall)) {
        change = true;
    }
    if (!change) return;
    streak_ = 0;
    up_ = ok;
    ++(ok ? stats_.up_transitions : stats_.down_transitions);
    if (report_) report_(ok, reason);
}

void DurationHistogram::add(double seconds) {
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    ++counts[i];
    sum += seconds;
    ++count;
}

void DurationHistogram::merge(const DurationHistogram& o) {
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += o.counts[i];
    sum += o.sum;
    count += o.count;
}

double DurationHistogram::quantile(double q) const {
    if (count == 0) return 0;
    const auto want = static_cast<uint64_t>(q * static_cast<double>(count) + 0.5);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
        seen += counts[i];
        if (seen >= want && seen > 0) return i < kBounds.size() ? kBounds[i] : std::numeric_limits<double>::infinity();
    }
    return std::numeric_limits<double>::infinity();
}

void Monitor::log(const std::string& text) const {
    if (log_) log_(fmt::format("{} {} {}: {}", target_.service, spec_.kind, target_.host, text));
}

void Monitor::after(boost::asio::steady_timer& timer, double seconds, std::function<void()> fn) {
    timer.expires_after(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds)));
    timer.async_wait(guard([fn = std::move(fn)](const boost::system::error_code& ec) {
        if (!ec) fn();
    }));
}

std::string substitute(const std::string& text, const Target& target) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
        auto try_key = [&](std::string_view key, const std::string& value) {
            if (text.compare(i, key.size(), key) != 0) return false;
            out += value;
            i += key.size();
            return true;
        };
        if (try_key("{host}", target.host) || try_key("{ip}", target.ip.to_string()) ||
            try_key("{port}", std::to_string(target.port)) || try_key("{service}", target.service)) {
            continue;
        }
        out += text[i++];
    }
    return out;
}

}  // namespace tern::health
