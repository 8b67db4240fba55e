// The ports a dataplane command drives: the data ports (NICs or vdevs),
// each with its exception path to the kernel, and the mbuf pool they all
// receive into. One way to open them for `tern run` (a TAP interface per
// port as its exception path), `tern replay` (pcap vdevs) and the
// benchmarks. Control thread only: after eal_init, before the lcores start;
// closed before eal_cleanup.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "dataplane/rss.h"
#include "dataplane/worker.h"

struct rte_mempool;

namespace tern::ctl {

// One data port and its exception path.
struct PortSpec {
    std::string data;        // DPDK device name of the data port: a PCI address or a vdev's name
    std::string data_label;  // how errors name it ("ports[0] uplink")
    // The exception path: an existing port of this device name, or, when
    // `tap_iface` is set, a TAP interface of that name created with the data
    // port's MAC (the kernel answers ARP/ND for it and speaks BGP through it).
    std::string exception;
    std::string tap_iface;
    uint32_t mtu = 1500;
    std::optional<std::array<uint8_t, 6>> mac;  // set on the data port (else its own)
};

struct PortsSpec {
    std::vector<PortSpec> ports;  // at least one; the first is index 0 of the table's output ports
    std::string missing_hint;     // added when a device is not found ("is the device bound to a DPDK driver?")
    uint16_t queues = 1;          // RX/TX queue pairs on each port: one per worker lcore
    uint32_t mbufs = 8191;
    std::string pool_name = "tern_rx";
};

class Ports {
public:
    Ports() = default;
    Ports(const Ports&) = delete;
    Ports& operator=(const Ports&) = delete;
    ~Ports() { close(); }

    // Creates the pool, sets up and starts every port and its exception
    // path, each data port with the same RSS key and redirection table. The
    // error names the device and what failed; whatever was opened is closed
    // again by close().
    std::optional<std::string> open(const PortsSpec& spec);
    // Stops and closes every port (a pcap port's files are complete then)
    // and frees the pool. Idempotent.
    void close();

    size_t count() const { return open_.size(); }
    uint16_t data(size_t i = 0) const { return open_.at(i).data; }
    uint16_t exception(size_t i = 0) const { return open_.at(i).exception; }
    // The data port's MAC as the dataplane uses it (the configured one).
    const uint8_t* mac(size_t i = 0) const { return open_.at(i).mac.data(); }
    const std::string& tap_iface(size_t i = 0) const { return spec_.ports.at(i).tap_iface; }
    // Every port's TAP interface, in port order.
    std::vector<std::string> tap_ifaces() const {
        std::vector<std::string> out;
        for (size_t i = 0; i < count(); ++i) out.push_back(tap_iface(i));
        return out;
    }
    rte_mempool* pool() const { return pool_; }
    // How the data ports spread flows over their RX queues (see
    // dp::RssLayout): Toeplitz only when every port computes the same owner.
    const dp::RssLayout& rss() const { return rss_; }
    const dp::RssLayout& rss(size_t i) const { return open_.at(i).rss; }

private:
    struct Open {
        uint16_t data = 0;
        uint16_t exception = 0;
        bool data_started = false;
        bool exception_started = false;
        std::array<uint8_t, 6> mac{};
        dp::RssLayout rss;
    };
    std::optional<std::string> open_one(const PortSpec& ps);

    PortsSpec spec_;
    rte_mempool* pool_ = nullptr;
    std::vector<Open> open_;
    dp::RssLayout rss_;
};

// `tern run`'s ports: every port of `config` (its device, MTU, MAC) with a
// TAP interface tern-<name> as its exception path, `queues` queue pairs each.
PortsSpec run_ports_spec(const conf::Config& config, uint16_t queues);

// The ports' part of a worker's config: the first port in the base fields,
// the others in more_ports (each with its MTU from `config`).
void set_worker_ports(const Ports& ports, const conf::Config& config, dp::WorkerConfig& wc);

}  // namespace tern::ctl
