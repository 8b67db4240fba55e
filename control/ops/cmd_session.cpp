// The console's own commands: reload the config, list the commands, leave.
#include "control/ops/console_commands.h"

namespace tern::ctl {

void add_session_commands(CommandRegistry& r) {
    r.add({"reload", "re-read the config file (as SIGHUP)", [](Operable& t, const Args&) { return done(t.reload()); }});
    r.add({"help", "this list", [](Operable&, const Args& a) { return CommandResult{a.registry.help()}; }});
    r.add({"quit", "leave the console", [](Operable&, const Args&) { return CommandResult{"", true, true}; }});
    r.add({"exit", "", [](Operable&, const Args&) { return CommandResult{"", true, true}; }});
}

}  // namespace tern::ctl
