// Port and queue setup for a PCI device or a vdev. Control thread only,
// before the workers start.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dataplane/rss.h"

struct rte_mempool;

namespace tern::dp {

struct PortSetup {
    uint16_t port_id = 0;
    uint16_t rx_queues = 1;  // one per worker lcore
    uint16_t tx_queues = 1;
    uint16_t rx_desc = 1024;
    uint16_t tx_desc = 1024;
    uint32_t mtu = 1500;
    const uint8_t* mac = nullptr;  // set this MAC on the port when not null
    rte_mempool* pool = nullptr;
    RssLayout* rss = nullptr;  // when not null: how the port spreads flows over its RX queues
};

// Configures queues (RSS over IP/TCP/UDP when there are several RX queues
// and the device can), sets MAC and MTU, starts the port. With several RX
// queues and RSS, programs the redirection table i -> queue i % n
// (rte_eth_dev_rss_reta_update) and reads key and table back; the result
// goes to *setup.rss (RssLayout::toeplitz false when the device has no
// RSS, refuses the table, or reports another key). A device that
// cannot take a MAC is put in promiscuous mode instead: the dataplane uses
// the configured MAC in software (see WorkerConfig::port_mac). Returns an error
// message naming the port and the DPDK error, or nullopt.
std::optional<std::string> setup_port(const PortSetup& setup);

// The port's current MAC address.
void port_mac(uint16_t port_id, uint8_t out[6]);

// An mbuf pool sized for `mbufs` packets, on the port's socket.
rte_mempool* create_pool(const std::string& name, uint32_t mbufs, int socket);

// The 40-byte Toeplitz key programmed into ports with RSS; replay uses the
// same key in software to spread a capture over queues as a NIC would.
extern const uint8_t kRssKey[40];

}  // namespace tern::dp
