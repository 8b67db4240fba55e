// The console's changes to pools: pool, depool, weights, servers added and
// removed, all through the control state's door and all overrides until the
// next reload; and the confirmation of a pool source's held answer.
#include <fmt/format.h>

#include "control/ops/console_commands.h"

namespace tern::ctl {
namespace {

// pool HOST [SERVICE], depool HOST [SERVICE].
CommandResult set_enabled(Operable& t, const Args& a) {
    const bool pool = a[0] == "pool";
    if (auto err = t.state().set_enabled(a.get(2), a[1], pool)) return fail(fmt::format("{}: {}", a[0], *err));
    return done(fmt::format("{} {}: done (until the next reload)", pool ? "pooled" : "depooled", a[1]));
}

}  // namespace

void add_pool_commands(CommandRegistry& r) {
    r.add({"pool HOST [SERVICE]", "enable a server (an override until the next reload)", set_enabled});
    r.add({"depool HOST [SERVICE]", "disable a server: no new flows, established ones stay", set_enabled});
    r.add({"set weight SERVICE HOST N", "a server's weight (0..65535)", [](Operable& t, const Args& a) {
               const auto weight = parse_u32(a[4]);
               if (!weight || *weight > 65535) {
                   return fail(fmt::format("set weight: '{}' is not a weight between 0 and 65535", a[4]));
               }
               if (auto err = t.state().set_weight(a[2], a[3], *weight))
                   return fail(fmt::format("set weight: {}", *err));
               return done(fmt::format("weight of {} in {}: {} (until the next reload)", a[3], a[2], *weight));
           }});
    r.add({"add realserver SERVICE HOST IP [W]", "add a server (an override until the next reload)",
           [](Operable& t, const Args& a) {
               conf::RealServer rs;
               rs.host = a[3];
               auto ip = conf::IpAddr::parse(a[4]);
               if (!ip) return fail(fmt::format("add realserver: '{}' is not an IP address", a[4]));
               rs.ip = *ip;
               rs.weight = 1;
               if (a.size() > 5) {
                   const auto weight = parse_u32(a[5]);
                   if (!weight || *weight > 65535) {
                       return fail(fmt::format("add realserver: '{}' is not a weight between 0 and 65535", a[5]));
                   }
                   rs.weight = *weight;
               }
               if (auto err = t.state().add_server(a[2], rs)) return fail(fmt::format("add realserver: {}", *err));
               return done(fmt::format("added {} {} to {} (until the next reload)", rs.host, rs.ip.str(), a[2]));
           }});
    r.add({"confirm pool SERVICE",
           "take the pool its source delivered and that was held (too many servers out at once)",
           [](Operable& t, const Args& a) {
               if (auto err = t.state().confirm_pool(a[2])) return fail(fmt::format("confirm pool: {}", *err));
               return done(fmt::format("{}: the held pool is taken", a[2]));
           }});
    r.add({"del realserver SERVICE HOST", "remove a server (an override until the next reload)",
           [](Operable& t, const Args& a) {
               if (auto err = t.state().del_server(a[2], a[3])) return fail(fmt::format("del realserver: {}", *err));
               return done(fmt::format("removed {} from {} (until the next reload)", a[3], a[2]));
           }});
}

}  // namespace tern::ctl
