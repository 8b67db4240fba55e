#include "control/daemon/ports.h"

#include <fmt/format.h>

#include "dataplane/port.h"
#include "dataplane/rte.h"

namespace tern::ctl {

std::optional<std::string> Ports::open(const PortsSpec& spec) {
    close();
    spec_ = spec;
    const std::string hint = spec.missing_hint.empty() ? "" : " (" + spec.missing_hint + ")";
    if (rte_eth_dev_get_port_by_name(spec.data.c_str(), &data_) != 0) {
        return fmt::format("{}: {}: no such DPDK port{}", spec.data_label, spec.data, hint);
    }
    if (spec.tap_iface.empty() && rte_eth_dev_get_port_by_name(spec.exception.c_str(), &exception_) != 0) {
        return fmt::format("exception path {}: no such DPDK port{}", spec.exception, hint);
    }
    pool_ = dp::create_pool(spec.pool_name, spec.mbufs, rte_eth_dev_socket_id(data_));
    if (pool_ == nullptr) {
        return fmt::format("cannot create the mbuf pool ({} mbufs): {}", spec.mbufs, rte_strerror(rte_errno));
    }
    dp::PortSetup ps;
    ps.port_id = data_;
    ps.rx_queues = ps.tx_queues = spec.queues;
    ps.mtu = spec.mtu;
    ps.mac = spec.mac ? spec.mac->data() : nullptr;
    ps.pool = pool_;
    ps.rss = &rss_;
    if (auto err = dp::setup_port(ps)) return fmt::format("{}: {}", spec.data_label, *err);
    data_started_ = true;
    dp::port_mac(data_, mac_.data());
    if (spec.mac) mac_ = *spec.mac;
    if (!spec.tap_iface.empty()) {
        const std::string tap = fmt::format("{},iface={},mac={:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", spec.exception,
                                            spec.tap_iface, mac_[0], mac_[1], mac_[2], mac_[3], mac_[4], mac_[5]);
        if (rte_dev_probe(tap.c_str()) != 0 || rte_eth_dev_get_port_by_name(spec.exception.c_str(), &exception_) != 0) {
            return fmt::format("cannot create the exception path {}: {}", tap, rte_strerror(rte_errno));
        }
    }
    dp::PortSetup es = ps;
    es.port_id = exception_;
    es.mac = nullptr;
    es.rss = nullptr;
    if (auto err = dp::setup_port(es)) {
        return fmt::format("exception path {}: {}", spec.tap_iface.empty() ? spec.exception : spec.tap_iface, *err);
    }
    exception_started_ = true;
    return std::nullopt;
}

void Ports::close() {
    if (data_started_) rte_eth_dev_stop(data_);
    if (exception_started_) rte_eth_dev_stop(exception_);
    if (data_started_) rte_eth_dev_close(data_);
    if (exception_started_) rte_eth_dev_close(exception_);
    data_started_ = exception_started_ = false;
    if (pool_ != nullptr) rte_mempool_free(pool_);
    pool_ = nullptr;
}

}  // namespace tern::ctl
