// The console's port commands in testpmd's words (show port stats all,
// clear port stats all, show port info all, show port xstats all): the
// data port and the exception path's TAP, by their DPDK port ids.
#include <fmt/format.h>

#include <vector>

#include "control/ops/console_commands.h"
#include "control/ops/show_text.h"
#include "dataplane/rte.h"

namespace tern::ctl {
namespace {

std::string mac_text(uint16_t port) {
    rte_ether_addr a{};
    rte_eth_macaddr_get(port, &a);
    return fmt::format("{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}", a.addr_bytes[0], a.addr_bytes[1], a.addr_bytes[2],
                       a.addr_bytes[3], a.addr_bytes[4], a.addr_bytes[5]);
}

// testpmd's "Infos for port" block, the lines that concern a balancer.
std::string info_text(const PortStats& p) {
    const uint16_t id = p.id;
    rte_eth_dev_info info{};
    rte_eth_dev_info_get(id, &info);
    rte_eth_link link{};
    rte_eth_link_get_nowait(id, &link);
    char name[RTE_ETH_NAME_MAX_LEN] = {};
    rte_eth_dev_get_name_by_port(id, name);
    uint16_t mtu = 0;
    rte_eth_dev_get_mtu(id, &mtu);
    const std::string border(21, '*');
    std::string o = fmt::format("\n{} Infos for port {:<2} {}\n", border, id, border);
    o += fmt::format("MAC address: {}\n", mac_text(id));
    o += fmt::format("Device name: {}\n", name);
    o += fmt::format("Driver name: {}\n", info.driver_name ? info.driver_name : "");
    o += fmt::format("Connect to socket: {}\n", rte_eth_dev_socket_id(id));
    o += fmt::format("\nLink status: {}\n", link.link_status ? "up" : "down");
    // testpmd's words for the speed (rte_eth_link_speed_to_str is still experimental in 22.11).
    o += fmt::format("Link speed: {}\n", link.link_speed == RTE_ETH_SPEED_NUM_NONE      ? std::string("None")
                                         : link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? std::string("Unknown")
                                         : link.link_speed >= 1000 ? fmt::format("{} Gbps", link.link_speed / 1000)
                                                                   : fmt::format("{} Mbps", link.link_speed));
    o += fmt::format("Link duplex: {}\n", link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX ? "full-duplex" : "half-duplex");
    o += fmt::format("MTU: {}\n", mtu);
    o += fmt::format("Promiscuous mode: {}\n", rte_eth_promiscuous_get(id) == 1 ? "enabled" : "disabled");
    o += fmt::format("Allmulticast mode: {}\n", rte_eth_allmulticast_get(id) == 1 ? "enabled" : "disabled");
    o += fmt::format("Maximum number of MAC addresses: {}\n", info.max_mac_addrs);
    o += fmt::format("Current number of RX queues: {}\n", info.nb_rx_queues);
    o += fmt::format("Max possible RX queues: {}\n", info.max_rx_queues);
    o += fmt::format("Current number of TX queues: {}\n", info.nb_tx_queues);
    o += fmt::format("Max possible TX queues: {}\n", info.max_tx_queues);
    o += fmt::format("(tern: {} is {})\n", p.name, p.device);
    return o;
}

// testpmd's "NIC extended statistics" block.
std::string xstats_text(uint16_t id) {
    const int n = rte_eth_xstats_get_names(id, nullptr, 0);
    std::string o = fmt::format("###### NIC extended statistics for port {:<2}\n", id);
    if (n > 0) {
        std::vector<rte_eth_xstat_name> names(static_cast<size_t>(n));
        std::vector<rte_eth_xstat> values(static_cast<size_t>(n));
        const int got_names = rte_eth_xstats_get_names(id, names.data(), static_cast<unsigned>(n));
        const int got = rte_eth_xstats_get(id, values.data(), static_cast<unsigned>(n));
        for (int i = 0; i < got && i < got_names; ++i) {
            if (values[i].id < names.size()) o += fmt::format("{}: {}\n", names[values[i].id].name, values[i].value);
        }
    }
    o += std::string(52, '#') + "\n";
    return o;
}

}  // namespace

void add_port_commands(CommandRegistry& r) {
    r.add({"show port stats all",
           "testpmd's counters per port (the data port, the kernel's TAP), rates since the last show",
           [](Operable& t, const Args&) {
               const Stats now = t.stats();
               double seconds = 0;
               const std::optional<Stats> before = t.rate_base("ports", now, seconds);
               std::string o;
               for (const auto& p : now.ports) {
                   const PortStats* was = nullptr;
                   if (before) {
                       for (const auto& b : before->ports) {
                           if (b.id == p.id) was = &b;
                       }
                   }
                   o += testpmd_port_stats_text(p, was, seconds);
               }
               return CommandResult{o};
           }});
    r.add({"clear port stats all", "zero every port's counters (testpmd's words)", [](Operable& t, const Args&) {
               std::string o;
               for (const auto& p : t.stats().ports) {
                   rte_eth_stats_reset(p.id);
                   o += fmt::format("\n  NIC statistics for port {} cleared\n", p.id);
               }
               return CommandResult{o};
           }});
    r.add({"show port info all", "each port's MAC, driver, link, MTU and queues (testpmd's words)",
           [](Operable& t, const Args&) {
               std::string o;
               for (const auto& p : t.stats().ports) o += info_text(p);
               return CommandResult{o};
           }});
    r.add({"show port xstats all", "each port's extended statistics (testpmd's words)", [](Operable& t, const Args&) {
               std::string o;
               for (const auto& p : t.stats().ports) o += xstats_text(p.id);
               return CommandResult{o};
           }});
}

}  // namespace tern::ctl
