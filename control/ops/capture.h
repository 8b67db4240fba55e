// Packet capture on a running tern's ports into a pcapng file, with a
// pcap-filter expression: the console's `capture` command. DPDK's pcapng
// library writes the file; the filter is compiled by libpcap and run as
// DPDK BPF (as dpdk-dumpcap does). The lcores copy matching packets in
// RX/TX callbacks into a ring; control drains it into the file. In-process,
// because dpdk-dumpcap needs a secondary process, which tern run's
// --in-memory / --no-shconf EAL rules out. Control thread only (the
// callbacks excepted).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tern::ctl {

struct CapturePort {
    std::string name;  // as the console names it: the port's name, or "kernel"
    uint16_t port_id = 0;
    uint16_t queues = 1;
};

class Capture {
public:
    // `snaplen`: bytes kept of each packet when start() is given 0 (the
    // largest frame the ports carry, so nothing is cut by default).
    Capture(std::vector<CapturePort> ports, uint32_t snaplen);
    ~Capture();
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;

    // Starts a capture of `port` (a name, or "all") into `path`; `count` 0:
    // until stopped; `filter` in pcap-filter syntax ("" = everything). The
    // error names the bad argument.
    std::string start(const std::string& port, const std::string& path, uint64_t count, uint32_t snaplen,
                      const std::string& filter);
    // Writes what the lcores captured; stops by itself when `count` is reached.
    void poll();
    // Stops and closes the file; says what was captured.
    std::string stop();
    std::string status() const;
    bool running() const;

    struct State;

private:
    std::unique_ptr<State> state_;
};

}  // namespace tern::ctl
