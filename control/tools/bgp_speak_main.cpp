// tern-bgp-speak --config FILE: runs only the BGP speaker of a tern.yaml,
// announcing every VIP until SIGTERM or SIGINT, then withdraws them and sends
// CEASE. For interop tests and for trying a router's configuration; `tern run`
// runs the same Speaker beside the dataplane.
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <string>

#include "bgp/asio_io.h"
#include "bgp/speaker.h"
#include "conf/config.h"
#include "control/config/bgp_settings.h"

int main(int argc, char** argv) {
    using namespace tern;
    if (argc != 3 || std::string(argv[1]) != "--config") {
        fmt::print(stderr, "usage: tern-bgp-speak --config FILE\n");
        return 2;
    }
    conf::LoadResult loaded = conf::load_file(argv[2]);
    if (!loaded.config || !loaded.config->bgp) {
        for (const auto& e : loaded.errors) fmt::print(stderr, "{}\n", e.str());
        if (loaded.config) fmt::print(stderr, "{}: no bgp section\n", argv[2]);
        return 2;
    }
    const auto start = std::chrono::steady_clock::now();
    auto log = [start](const std::string& line) {
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        fmt::print(stderr, "[{:9.3f}] {}\n", t, line);
    };
    boost::asio::io_context io;
    bgp::AsioClock clock(io);
    bgp::AsioTransport transport(io);
    bgp::Speaker speaker(ctl::speaker_settings(*loaded.config), transport, clock, log);
    if (auto err = speaker.start(); !err.empty()) {
        log("bgp: " + err);
        return 1;
    }
    speaker.announce(ctl::vip_routes(*loaded.config));
    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    bool stopping = false;
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        stopping = true;
        log("stopping: withdrawing every route");
        speaker.stop();
    });
    while (!stopping) io.run_one();
    // Flush the withdrawals and CEASE, for at most two seconds.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (transport.open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
        io.run_for(std::chrono::milliseconds(10));
    }
    log("stopped");
    return 0;
}
