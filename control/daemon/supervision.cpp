#include "control/daemon/supervision.h"

#include <systemd/sd-daemon.h>

#include <fmt/format.h>

#include <cstdlib>

#include "bgp/speaker.h"
#include "control/daemon/log.h"

namespace tern::ctl {
namespace {

// "2 of 3 BGP sessions established"; nullopt when every one is.
std::optional<std::string> bgp_waiting(const bgp::Speaker* speaker) {
    if (speaker == nullptr) return std::nullopt;
    size_t up = 0;
    for (const auto& s : speaker->sessions()) up += s->state() == bgp::State::established ? 1 : 0;
    if (up == speaker->sessions().size()) return std::nullopt;
    return fmt::format("{} of {} BGP sessions established", up, speaker->sessions().size());
}

}  // namespace

Supervision::Supervision() {
    notify_ = std::getenv("NOTIFY_SOCKET") != nullptr;
    uint64_t usec = 0;
    // 1: WATCHDOG_USEC and WATCHDOG_PID leave the environment.
    if (sd_watchdog_enabled(1, &usec) > 0 && usec > 0) {
        watchdog_ = std::chrono::microseconds(usec / 2);
        log_info(fmt::format("systemd watchdog: every {} ms while every worker lcore makes progress", usec / 2000));
    }
}

std::optional<std::chrono::microseconds> Supervision::watchdog_period() const { return watchdog_; }

void Supervision::notify(const std::string& state) {
    if (notify_) sd_notify(0, state.c_str());
}

void Supervision::tick(const bgp::Speaker* speaker, bool lcores_progress, const std::string& status) {
    if (!ready_ && !stopping_) {
        const auto waiting = bgp_waiting(speaker);
        const auto now = std::chrono::steady_clock::now();
        if (!since_) since_ = now;
        const bool late = now - *since_ >= kBgpReadyWait;
        if (!waiting || late) {
            ready_ = true;
            const std::string s =
                waiting ? fmt::format("{}; {} after {} s", status, *waiting, kBgpReadyWait.count()) : status;
            notify("READY=1\nSTATUS=" + s);
            log_info("ready: " + s);
        }
    }
    if (!watchdog_ || !lcores_progress) return;
    const auto now = std::chrono::steady_clock::now();
    if (last_ping_ && now - *last_ping_ < *watchdog_) return;
    last_ping_ = now;
    notify("WATCHDOG=1");
}

void Supervision::reloading() {
    if (ready_) notify("RELOADING=1\nSTATUS=reloading");
}

void Supervision::reloaded(const std::string& status) {
    if (ready_) notify("READY=1\nSTATUS=" + status);
}

void Supervision::stopping(const std::string& status) {
    stopping_ = true;
    notify("STOPPING=1\nSTATUS=" + status);
}

void Supervision::status(const std::string& status) { notify("STATUS=" + status); }

}  // namespace tern::ctl
