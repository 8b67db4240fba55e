// Whether every worker lcore makes progress: each lcore bumps its loop
// counter once per loop (dp::LcoreCounters::loops) and control checks every
// kLcoreCheck that each counter advanced. A stuck lcore (a spinning bug, a
// livelock, a debugger) is then noticed within a second: an alert, a
// metric, systemd's watchdog no longer fed (so the service restarts like
// with a stuck control thread), and with no worker forwarding at all the
// routes withdrawn. Control thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace tern::ctl {

inline constexpr std::chrono::milliseconds kLcoreCheck{500};

struct Heartbeat {
    unsigned lcore = 0;
    uint64_t loops = 0;
};

class LcoreWatchdog {
public:
    using Clock = std::chrono::steady_clock;
    // `period`: how often the counters are compared.
    explicit LcoreWatchdog(std::chrono::microseconds period) : period_(period) {}

    struct Verdict {
        bool ping = false;              // this check ran and every lcore advanced
        std::vector<unsigned> stalled;  // lcores that just stopped advancing
        std::vector<unsigned> resumed;  // lcores that advance again
    };
    // Each control loop, with every worker's heartbeat. Once per period:
    // `ping` when every lcore advanced since the previous check (the first
    // check compares with nothing and pings); lcores that did not are named
    // once when they stall and once when they resume.
    Verdict check(Clock::time_point now, const std::vector<Heartbeat>& beats);

    std::chrono::microseconds period() const { return period_; }
    // The lcores stalled as of the last check.
    const std::vector<unsigned>& stalled() const { return stalled_; }

private:
    std::chrono::microseconds period_;
    bool checked_ = false;
    Clock::time_point last_{};
    std::vector<Heartbeat> prev_;
    std::vector<unsigned> stalled_;  // lcores reported stalled and not resumed
};

}  // namespace tern::ctl
