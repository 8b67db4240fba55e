#include "control/daemon/watchdog.h"

#include <algorithm>

namespace tern::ctl {

LcoreWatchdog::Verdict LcoreWatchdog::check(Clock::time_point now, const std::vector<Heartbeat>& beats) {
    Verdict v;
    if (checked_ && now - last_ < period_) return v;
    bool all = true;
    for (const auto& b : beats) {
        auto prev = std::find_if(prev_.begin(), prev_.end(), [&](const Heartbeat& p) { return p.lcore == b.lcore; });
        const bool advanced = !checked_ || prev == prev_.end() || b.loops != prev->loops;
        const bool was = std::find(stalled_.begin(), stalled_.end(), b.lcore) != stalled_.end();
        if (!advanced) {
            all = false;
            if (!was) {
                stalled_.push_back(b.lcore);
                v.stalled.push_back(b.lcore);
            }
        } else if (was) {
            std::erase(stalled_, b.lcore);
            v.resumed.push_back(b.lcore);
        }
    }
    v.ping = all;
    prev_ = beats;
    last_ = now;
    checked_ = true;
    return v;
}

}  // namespace tern::ctl
