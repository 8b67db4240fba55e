// The console's `show` commands: what the daemon serves, its pools,
// counters, flows, BGP sessions, alerts and config.
#include <fmt/format.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "control/ops/api.h"
#include "control/ops/console_commands.h"
#include "control/ops/show_text.h"
#include "control/state/table_builder.h"

namespace tern::ctl {

void add_show_commands(CommandRegistry& r) {
    r.add({"show services", "the services as ipvsadm -Ln shows them", [](Operable& t, const Args&) {
               return CommandResult{ipvsadm_text(t.effective_config(), t.stats(), t.state().pools(), "")};
           }});
    r.add({"show services stats", "ipvsadm -Ln --stats: Conns, InPkts, OutPkts, InBytes, OutBytes",
           [](Operable& t, const Args&) {
               return CommandResult{ipvsadm_stats_text(t.effective_config(), t.stats(), t.state().pools(), "")};
           }});
    r.add({"show services rate", "ipvsadm -Ln --rate: per second since the last `show services rate` (or start-up)",
           [](Operable& t, const Args&) {
               const Stats now = t.stats();
               double seconds = 0;
               // The first time: since start-up (the counters started at zero with the process).
               const Stats before = t.rate_base("services", now, seconds).value_or(Stats{});
               if (seconds == 0) seconds = t.uptime();
               return CommandResult{
                   ipvsadm_rate_text(t.effective_config(), now, before, seconds, t.state().pools(), "")};
           }});
    r.add({"show service SERVICE", "one service, its servers and their health", [](Operable& t, const Args& a) {
               const Pools& pools = t.state().pools();
               if (!pools.services().count(a[2])) return fail(fmt::format("show service: no service named '{}'", a[2]));
               const conf::Config config = t.effective_config();
               std::string table;
               for (const conf::Service& s : config.services) {
                   if (s.name != a[2]) continue;
                   table = fmt::format("  table: {} entries ({}, {} servers listed)\n", ring_size(s),
                                       table_size_text(s), s.realservers.size());
               }
               return CommandResult{ipvsadm_text(config, t.stats(), pools, a[2]) +
                                    pools_text(pools, a[2], t.state().unresolved()) + table};
           }});
    r.add({"show pools", "every server's enabled/up/pooled state and monitors", [](Operable& t, const Args&) {
               return CommandResult{pools_text(t.state().pools(), "", t.state().unresolved())};
           }});
    r.add({"show stats [port|lcore|service]", "counters",
           [](Operable& t, const Args& a) { return CommandResult{stats_text(t.stats(), a.get(2))}; }});
    r.add({"show flows", "a sample of the lcores' flow tables",
           [](Operable& t, const Args&) { return CommandResult{t.flows(20)}; }});
    r.add({"show connections", "a sample of the flows as ipvsadm -Lnc lists connections (at most 100)",
           [](Operable& t, const Args&) { return CommandResult{t.connections(100)}; }});
    r.add({"show bgp", "BGP sessions", [](Operable& t, const Args&) { return CommandResult{bgp_text(t.speaker())}; }});
    r.add({"show alerts", "what /alerts says", [](Operable& t, const Args&) {
               const Alerts a = alerts(t.state().pools(), t.state().unresolved(), t.critical());
               std::string upper = a.status;
               for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
               return done(fmt::format("{} - {}", upper, a.msg));
           }});
    r.add({"show config", "the running config file", [](Operable& t, const Args&) {
               std::ifstream in(t.config_path());
               std::stringstream ss;
               ss << in.rdbuf();
               return CommandResult{fmt::format("# {}\n{}", t.config_path(), ss.str())};
           }});
}

}  // namespace tern::ctl
