// The rte_cmdline instance table generated from a CommandRegistry: one
// instance per command and number of words it takes, so that DPDK's
// rte_cmdline completes commands with TAB (SERVICE and HOST from the running
// daemon's names) and lists them with '?'; then a catch-all that takes any
// line no instance takes whole, so that the registry answers a mistyped line
// naming the bad word instead of rte_cmdline's bare "Bad arguments". Every
// instance hands the line's words to `exec`. Control thread only.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "control/ops/command_registry.h"

struct cmdline;
struct cmdline_inst;

namespace tern::ctl {

class CmdlineTable {
public:
    using Exec = std::function<void(cmdline* cl, const std::vector<std::string>& words)>;
    using Names = std::function<std::vector<std::string>(Token::Names kind)>;

    CmdlineTable(const CommandRegistry& registry, Exec exec, Names names);
    ~CmdlineTable();
    CmdlineTable(const CmdlineTable&) = delete;
    CmdlineTable& operator=(const CmdlineTable&) = delete;

    // The instances for cmdline_new(), null-terminated; valid while this lives.
    cmdline_inst** context() { return all_.data(); }

    struct Parts;  // the C structures' storage

private:
    Exec exec_;
    Names names_;
    std::unique_ptr<Parts> parts_;
    std::vector<cmdline_inst*> all_;    // the commands, then the catch-all
    std::vector<cmdline_inst*> known_;  // the commands only: the checker's
    cmdline* checker_ = nullptr;        // knows `known_`: is a line a command's?
};

}  // namespace tern::ctl
