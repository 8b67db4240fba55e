#include "control/daemon/ports.h"

#include <fmt/format.h>

#include <cstring>

#include "dataplane/port.h"
#include "dataplane/rte.h"

namespace tern::ctl {

std::optional<std::string> Ports::open(const PortsSpec& spec) {
    close();
    spec_ = spec;
    if (spec.ports.empty()) return "no port to open";
    const std::string hint = spec.missing_hint.empty() ? "" : " (" + spec.missing_hint + ")";
    // Every device must exist before anything is set up.
    for (const PortSpec& ps : spec.ports) {
        uint16_t id = 0;
        if (rte_eth_dev_get_port_by_name(ps.data.c_str(), &id) != 0) {
            return fmt::format("{}: {}: no such DPDK port{}", ps.data_label, ps.data, hint);
        }
        if (ps.tap_iface.empty() && rte_eth_dev_get_port_by_name(ps.exception.c_str(), &id) != 0) {
            return fmt::format("exception path {}: no such DPDK port{}", ps.exception, hint);
        }
    }
    uint16_t first = 0;
    rte_eth_dev_get_port_by_name(spec.ports[0].data.c_str(), &first);
    pool_ = dp::create_pool(spec.pool_name, spec.mbufs, rte_eth_dev_socket_id(first));
    if (pool_ == nullptr) {
        return fmt::format("cannot create the mbuf pool ({} mbufs): {}", spec.mbufs, rte_strerror(rte_errno));
    }
    for (const PortSpec& ps : spec.ports) {
        if (auto err = open_one(ps)) return err;
    }
    std::vector<dp::RssLayout> each;
    for (const Open& o : open_) each.push_back(o.rss);
    rss_ = dp::RssLayout::common(each);
    return std::nullopt;
}

std::optional<std::string> Ports::open_one(const PortSpec& ps) {
    Open& o = open_.emplace_back();
    rte_eth_dev_get_port_by_name(ps.data.c_str(), &o.data);
    dp::PortSetup setup;
    setup.port_id = o.data;
    setup.rx_queues = setup.tx_queues = spec_.queues;
    setup.mtu = ps.mtu;
    setup.mac = ps.mac ? ps.mac->data() : nullptr;
    setup.pool = pool_;
    setup.rss = &o.rss;
    if (auto err = dp::setup_port(setup)) return fmt::format("{}: {}", ps.data_label, *err);
    o.data_started = true;
    dp::port_mac(o.data, o.mac.data());
    if (ps.mac) o.mac = *ps.mac;
    if (!ps.tap_iface.empty()) {
        const auto& m = o.mac;
        const std::string tap = fmt::format("{},iface={},mac={:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", ps.exception,
                                            ps.tap_iface, m[0], m[1], m[2], m[3], m[4], m[5]);
        if (rte_dev_probe(tap.c_str()) != 0 || rte_eth_dev_get_port_by_name(ps.exception.c_str(), &o.exception) != 0) {
            return fmt::format("cannot create the exception path {}: {}", tap, rte_strerror(rte_errno));
        }
    } else {
        rte_eth_dev_get_port_by_name(ps.exception.c_str(), &o.exception);
    }
    dp::PortSetup es = setup;
    es.port_id = o.exception;
    es.mac = nullptr;
    es.rss = nullptr;
    if (auto err = dp::setup_port(es)) {
        return fmt::format("exception path {} ({}): {}", ps.tap_iface.empty() ? ps.exception : ps.tap_iface,
                           ps.data_label, *err);
    }
    o.exception_started = true;
    return std::nullopt;
}

PortsSpec run_ports_spec(const conf::Config& config, uint16_t queues) {
    PortsSpec spec;
    for (size_t i = 0; i < config.ports.size(); ++i) {
        const conf::Port& pc = config.ports[i];
        PortSpec& ps = spec.ports.emplace_back();
        ps.data = pc.device_is_pci() ? pc.device : pc.device.substr(0, pc.device.find(','));
        ps.data_label = fmt::format("ports[{}] {}", i, pc.name);
        ps.exception = fmt::format("net_tap_tern{}", i);
        ps.tap_iface = fmt::format("tern-{}", pc.name).substr(0, 15);
        ps.mtu = pc.mtu;
        ps.mac = pc.mac;
    }
    spec.missing_hint = "is the device bound to a DPDK driver?";
    spec.queues = queues;
    // Each queue's RX ring and what is in flight, for every port and its TAP.
    spec.mbufs = 4096u * queues * 2 * static_cast<uint32_t>(config.ports.size()) + 4095;
    spec.pool_name = "tern_rx";
    return spec;
}

void set_worker_ports(const Ports& ports, const conf::Config& config, dp::WorkerConfig& wc) {
    wc.port_id = ports.data(0);
    wc.exc_port_id = ports.exception(0);
    std::memcpy(wc.port_mac, ports.mac(0), 6);
    wc.mtu = static_cast<uint16_t>(config.ports.at(0).mtu);
    wc.more_ports.clear();
    for (size_t i = 1; i < ports.count(); ++i) {
        dp::WorkerPort& wp = wc.more_ports.emplace_back();
        wp.port_id = ports.data(i);
        wp.exc_port_id = ports.exception(i);
        std::memcpy(wp.mac, ports.mac(i), 6);
        wp.mtu = static_cast<uint16_t>(config.ports.at(i).mtu);
    }
}

void Ports::close() {
    for (const Open& o : open_) {
        if (o.data_started) rte_eth_dev_stop(o.data);
        if (o.exception_started) rte_eth_dev_stop(o.exception);
    }
    for (const Open& o : open_) {
        if (o.data_started) rte_eth_dev_close(o.data);
        if (o.exception_started) rte_eth_dev_close(o.exception);
    }
    open_.clear();
    if (pool_ != nullptr) rte_mempool_free(pool_);
    pool_ = nullptr;
}

}  // namespace tern::ctl
