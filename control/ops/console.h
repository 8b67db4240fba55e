// The operator's console, testpmd-style: DPDK's rte_cmdline (line editing,
// history, TAB completion of commands, services and hosts, '?' help) on the
// terminal (`tern run --interactive`) and on a UNIX socket (root only, mode
// 0600) that `tern console` attaches to. The commands and their table for
// rte_cmdline come from one registry of descriptors (ops/console_commands.h)
// and act on an Operable (ops/operable.h). Control thread only.
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>

#include "control/ops/operable.h"

namespace tern::ctl {

class Console {
public:
    // `on_quit_interactive`: what `quit` on the terminal does (stop tern run).
    Console(boost::asio::io_context& io, Operable& target, std::function<void()> on_quit_interactive);
    ~Console();
    Console(const Console&) = delete;
    Console& operator=(const Console&) = delete;

    // Listens on `path` (replacing a stale socket); returns an error or "".
    std::string listen(const std::string& path);
    // The console on this process's terminal (stdin/stdout).
    std::string interactive();
    // Closes the socket (a reload moves or disables it); attached sessions
    // and the terminal stay.
    void unlisten();
    void stop();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// `tern console`: attaches the terminal (or a script on stdin) to the socket
// at `path` until either side ends. Returns the exit status.
int console_client(const std::string& path);

}  // namespace tern::ctl
