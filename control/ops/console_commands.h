// The console's command areas. Each area's descriptors live in its
// cmd_<area>.cpp; a new area is a new file, its add_ function here and one
// line in console_commands(). Control thread only.
#pragma once

#include "control/ops/command_registry.h"

namespace tern::ctl {

// Every console command, area by area in the order `help` lists them.
const CommandRegistry& console_commands();

void add_show_commands(CommandRegistry& registry);     // cmd_show.cpp
void add_port_commands(CommandRegistry& registry);     // cmd_port.cpp
void add_pool_commands(CommandRegistry& registry);     // cmd_pool.cpp
void add_capture_commands(CommandRegistry& registry);  // cmd_capture.cpp
void add_session_commands(CommandRegistry& registry);  // cmd_session.cpp
void add_debug_commands(CommandRegistry& registry);    // cmd_debug.cpp

}  // namespace tern::ctl
