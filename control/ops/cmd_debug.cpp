// The console's fault injection, for testing what watches the balancer
// (systemd's watchdog): never needed in normal operation.
#include <fmt/format.h>

#include "control/ops/console_commands.h"

namespace tern::ctl {

void add_debug_commands(CommandRegistry& r) {
    r.add({"debug stall lcore N SECONDS",
           "fault injection: worker lcore N busy-waits SECONDS\n(1..600), forwarding nothing; the watchdog stops",
           [](Operable& t, const Args& a) {
               const auto lcore = parse_u32(a[3]);
               if (!lcore) return fail(fmt::format("debug stall: '{}' is not an lcore number", a[3]));
               const auto secs = parse_u32(a[4]);
               if (!secs || *secs < 1 || *secs > 600) {
                   return fail(fmt::format("debug stall: '{}' is not a number of seconds 1..600", a[4]));
               }
               if (auto err = t.stall_lcore(*lcore, *secs); !err.empty()) return fail("debug stall: " + err);
               return done(fmt::format("lcore {} stalls for {} s", *lcore, *secs));
           }});
}

}  // namespace tern::ctl
