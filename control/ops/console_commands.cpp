#include "control/ops/console_commands.h"

namespace tern::ctl {

const CommandRegistry& console_commands() {
    static const CommandRegistry registry = [] {
        CommandRegistry r;
        add_show_commands(r);
        add_port_commands(r);
        add_pool_commands(r);
        add_capture_commands(r);
        add_session_commands(r);
        add_debug_commands(r);
        return r;
    }();
    return registry;
}

}  // namespace tern::ctl
