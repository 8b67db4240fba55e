// The ports a dataplane command drives: the data port (a NIC or a vdev)
// and the exception path to the kernel, with the mbuf pool both receive
// into. One way to open them for `tern run` (a TAP interface as the
// exception path), `tern replay` (pcap vdevs) and the benchmarks. Control
// thread only: after eal_init, before the lcores start; closed before
// eal_cleanup.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "dataplane/rss.h"

struct rte_mempool;

namespace tern::ctl {

struct PortsSpec {
    std::string data;        // DPDK device name of the data port: a PCI address or a vdev's name
    std::string data_label;  // how errors name it ("ports[0] uplink")
    // The exception path: an existing port of this device name, or, when
    // `tap_iface` is set, a TAP interface of that name created with the data
    // port's MAC (the kernel answers ARP/ND for it and speaks BGP through it).
    std::string exception;
    std::string tap_iface;
    std::string missing_hint;  // added when a device is not found ("is the device bound to a DPDK driver?")
    uint16_t queues = 1;       // RX/TX queue pairs on each port: one per worker lcore
    uint32_t mtu = 1500;
    std::optional<std::array<uint8_t, 6>> mac;  // set on the data port (else its own)
    uint32_t mbufs = 8191;
    std::string pool_name = "tern_rx";
};

class Ports {
public:
    Ports() = default;
    Ports(const Ports&) = delete;
    Ports& operator=(const Ports&) = delete;
    ~Ports() { close(); }

    // Creates the pool, sets up and starts both ports. The error names the
    // device and what failed; whatever was opened is closed again by close().
    std::optional<std::string> open(const PortsSpec& spec);
    // Stops and closes both ports (a pcap port's files are complete then)
    // and frees the pool. Idempotent.
    void close();

    uint16_t data() const { return data_; }
    uint16_t exception() const { return exception_; }
    // The data port's MAC as the dataplane uses it (the configured one).
    const uint8_t* mac() const { return mac_.data(); }
    const std::string& tap_iface() const { return spec_.tap_iface; }
    rte_mempool* pool() const { return pool_; }
    // How the data port spreads flows over its RX queues (see dp::RssLayout).
    const dp::RssLayout& rss() const { return rss_; }

private:
    PortsSpec spec_;
    rte_mempool* pool_ = nullptr;
    uint16_t data_ = 0;
    uint16_t exception_ = 0;
    bool data_started_ = false;
    bool exception_started_ = false;
    std::array<uint8_t, 6> mac_{};
    dp::RssLayout rss_;
};

}  // namespace tern::ctl
