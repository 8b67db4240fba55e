// tern run under a service manager (systemd, Type=notify; dist/tern.service):
// sd_notify(3) READY=1 once forwarding is up and BGP has its sessions (or
// kBgpReadyWait passed), RELOADING=1 around reloads, STOPPING=1 at a stop,
// STATUS= lines, and WATCHDOG=1 every half WATCHDOG_USEC while the control
// loop runs and every worker lcore makes progress (the appliance's
// LcoreWatchdog says whether they do). Without NOTIFY_SOCKET in the
// environment every call does nothing. Control thread only.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace tern::bgp {
class Speaker;
}

namespace tern::ctl {

// How long READY waits for BGP sessions that do not come up: a balancer
// whose routers are down is still ready (it forwards what reaches it).
inline constexpr std::chrono::seconds kBgpReadyWait{10};

class Supervision {
public:
    // Reads the environment (NOTIFY_SOCKET; WATCHDOG_USEC and WATCHDOG_PID,
    // which it removes so that child processes do not inherit them).
    Supervision();

    // Each control loop: READY=1 with `status` when due (never once
    // stopping); WATCHDOG=1 once per period while `lcores_progress` (no
    // worker lcore stalled).
    void tick(const bgp::Speaker* speaker, bool lcores_progress, const std::string& status);
    // Around a reload, once ready.
    void reloading();
    void reloaded(const std::string& status);
    void stopping(const std::string& status);
    void status(const std::string& status);

    bool ready() const { return ready_; }
    // The watchdog's period (half of WATCHDOG_USEC), when systemd asks for one.
    std::optional<std::chrono::microseconds> watchdog_period() const;

private:
    void notify(const std::string& state);

    bool notify_ = false;                                // NOTIFY_SOCKET set
    std::optional<std::chrono::microseconds> watchdog_;  // the ping period
    std::optional<std::chrono::steady_clock::time_point> last_ping_;
    bool ready_ = false;
    bool stopping_ = false;                                       // no READY after STOPPING
    std::optional<std::chrono::steady_clock::time_point> since_;  // the first tick: serving began
};

}  // namespace tern::ctl
