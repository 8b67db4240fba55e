// Whether every worker lcore makes progress, for systemd's watchdog: each
// lcore bumps its loop counter once per loop (dp::LcoreCounters::loops);
// control feeds the watchdog only when every counter advanced since the
// previous ping, so a stuck lcore (a spinning bug, a livelock, a debugger)
// restarts the service like a stuck control thread does. Control thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace tern::ctl {

struct Heartbeat {
    unsigned lcore = 0;
    uint64_t loops = 0;
};

class LcoreWatchdog {
public:
    using Clock = std::chrono::steady_clock;
    // `period`: how often a ping is due (half of systemd's WATCHDOG_USEC).
    explicit LcoreWatchdog(std::chrono::microseconds period) : period_(period) {}

    struct Verdict {
        bool ping = false;              // send WATCHDOG=1 now
        std::vector<unsigned> stalled;  // lcores that just stopped advancing
        std::vector<unsigned> resumed;  // lcores that advance again
    };
    // Each control loop, with every worker's heartbeat. Once per period: a
    // ping when every lcore advanced since the previous check (the first
    // check compares with nothing and pings); lcores that did not are named
    // once when they stall and once when they resume.
    Verdict check(Clock::time_point now, const std::vector<Heartbeat>& beats);

    std::chrono::microseconds period() const { return period_; }

private:
    std::chrono::microseconds period_;
    bool checked_ = false;
    Clock::time_point last_{};
    std::vector<Heartbeat> prev_;
    std::vector<unsigned> stalled_;  // lcores reported stalled and not resumed
};

}  // namespace tern::ctl
