#include "dataplane/port.h"

#include <cstring>
#include <vector>

#include "dataplane/rte.h"

namespace tern::dp {

// The widely used default key of Intel NICs (symmetric enough for our use,
// and what operators see in ethtool -x).
const uint8_t kRssKey[40] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

namespace {
std::string err(uint16_t port, const char* what, int rc) {
    return "port " + std::to_string(port) + ": " + what + " failed: " + rte_strerror(rc < 0 ? -rc : rc);
}
// The hash types rss_hash() reproduces (no IPv6 extension-header types,
// which hash other fields).
constexpr uint64_t kRssTypes = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP |
                               RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV4_OTHER | RTE_ETH_RSS_IPV6 |
                               RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP |
                               RTE_ETH_RSS_NONFRAG_IPV6_OTHER;

// Sets the redirection table to i -> i % queues and checks that the device
// hashes with kRssKey over kRssTypes; fills `rss` when it does.
void program_reta(uint16_t port, uint16_t queues, RssLayout& rss) {
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port, &info) != 0 || info.reta_size == 0) return;
    const uint16_t size = info.reta_size;
    std::vector<rte_eth_rss_reta_entry64> conf((size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE);
    for (uint16_t i = 0; i < size; ++i) {
        auto& g = conf[i / RTE_ETH_RETA_GROUP_SIZE];
        g.mask |= uint64_t{1} << (i % RTE_ETH_RETA_GROUP_SIZE);
        g.reta[i % RTE_ETH_RETA_GROUP_SIZE] = static_cast<uint16_t>(i % queues);
    }
    if (rte_eth_dev_rss_reta_update(port, conf.data(), size) != 0) return;
    // Read back what the device uses.
    for (auto& g : conf) std::memset(g.reta, 0xFF, sizeof(g.reta));
    if (rte_eth_dev_rss_reta_query(port, conf.data(), size) != 0) return;
    std::vector<uint16_t> reta(size);
    for (uint16_t i = 0; i < size; ++i) {
        reta[i] = conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
        if (reta[i] >= queues) return;
    }
    uint8_t key[64] = {};
    rte_eth_rss_conf hc{};
    hc.rss_key = key;
    hc.rss_key_len = sizeof(key);
    if (rte_eth_dev_rss_hash_conf_get(port, &hc) != 0) return;
    // (Some PMDs leave rss_key_len as it was given; the device's own key size says it.)
    if (info.hash_key_size != sizeof(kRssKey) || std::memcmp(key, kRssKey, sizeof(kRssKey)) != 0) return;
    // The flows' own packets must be hashed on their 4-tuple; where the ICMP
    // errors land does not matter.
    constexpr uint64_t kFlowTypes = RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP |
                                    RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP;
    if ((hc.rss_hf & kFlowTypes) != kFlowTypes) return;
    rss.toeplitz = true;
    rss.reta = std::move(reta);
}

}  // namespace

std::optional<std::string> setup_port(const PortSetup& s) {
    rte_eth_dev_info info{};
    int rc = rte_eth_dev_info_get(s.port_id, &info);
    if (rc != 0) return err(s.port_id, "rte_eth_dev_info_get", rc);
    if (s.rx_queues > info.max_rx_queues || s.tx_queues > info.max_tx_queues) {
        return "port " + std::to_string(s.port_id) + " (" + info.driver_name + "): " + std::to_string(s.rx_queues) +
               " RX / " + std::to_string(s.tx_queues) + " TX queues wanted, the device has at most " +
               std::to_string(info.max_rx_queues) + " / " + std::to_string(info.max_tx_queues);
    }
    rte_eth_conf conf{};
    if (s.rx_queues > 1 && info.flow_type_rss_offloads != 0) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_key = const_cast<uint8_t*>(kRssKey);
        conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(kRssKey);
        conf.rx_adv_conf.rss_conf.rss_hf = kRssTypes & info.flow_type_rss_offloads;
    }
    // Offloads: only what the device reports.
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) {
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    }
    rc = rte_eth_dev_configure(s.port_id, s.rx_queues, s.tx_queues, &conf);
    if (rc != 0) return err(s.port_id, "rte_eth_dev_configure", rc);
    uint16_t rxd = s.rx_desc, txd = s.tx_desc;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(s.port_id, &rxd, &txd);
    if (rc != 0) return err(s.port_id, "rte_eth_dev_adjust_nb_rx_tx_desc", rc);
    const int socket = rte_eth_dev_socket_id(s.port_id);
    const unsigned sock = socket < 0 ? 0 : static_cast<unsigned>(socket);
    for (uint16_t q = 0; q < s.rx_queues; ++q) {
        rc = rte_eth_rx_queue_setup(s.port_id, q, rxd, sock, nullptr, s.pool);
        if (rc != 0) return err(s.port_id, "rte_eth_rx_queue_setup", rc);
    }
    for (uint16_t q = 0; q < s.tx_queues; ++q) {
        rte_eth_txconf txconf = info.default_txconf;
        txconf.offloads = conf.txmode.offloads;
        rc = rte_eth_tx_queue_setup(s.port_id, q, txd, sock, &txconf);
        if (rc != 0) return err(s.port_id, "rte_eth_tx_queue_setup", rc);
    }
    if (s.mac != nullptr) {
        rte_ether_addr addr;
        std::memcpy(addr.addr_bytes, s.mac, 6);
        rc = rte_eth_dev_default_mac_addr_set(s.port_id, &addr);
        if (rc == -ENOTSUP) {
            // Some vdevs (pcap) cannot change their address: the dataplane
            // filters and sources frames with the configured MAC itself, so
            // the port only has to deliver every frame.
            rte_eth_promiscuous_enable(s.port_id);
        } else if (rc != 0) {
            return err(s.port_id, "setting the MAC address", rc);
        }
    }
    // Some vdevs (pcap) have no MTU to set; that is not an error for them.
    rc = rte_eth_dev_set_mtu(s.port_id, static_cast<uint16_t>(s.mtu));
    if (rc != 0 && rc != -ENOTSUP) return err(s.port_id, "setting the MTU", rc);
    rc = rte_eth_dev_start(s.port_id);
    if (rc != 0) return err(s.port_id, "rte_eth_dev_start", rc);
    if (s.rss != nullptr) {
        *s.rss = RssLayout{};
        s.rss->queues = s.rx_queues;
        if (conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS) program_reta(s.port_id, s.rx_queues, *s.rss);
    }
    return std::nullopt;
}

void port_mac(uint16_t port_id, uint8_t out[6]) {
    rte_ether_addr addr{};
    rte_eth_macaddr_get(port_id, &addr);
    std::memcpy(out, addr.addr_bytes, 6);
}

rte_mempool* create_pool(const std::string& name, uint32_t mbufs, int socket) {
    return rte_pktmbuf_pool_create(name.c_str(), mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   socket < 0 ? SOCKET_ID_ANY : socket);
}

}  // namespace tern::dp
