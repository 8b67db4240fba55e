// The kernel's view of every port: one KernelView per port's exception-path
// interface (tern-<name>), answering the table builder's questions
// (KernelHops, control/state/next_hops.h) for all of them: a server's route
// leaves through one port's interface, and its next hop is resolved there.
// Control thread only.
#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conf/config.h"
#include "control/kernel/kernel_view.h"
#include "control/state/next_hops.h"

namespace tern::ctl {

// The node's addresses (node.ipv4, node.ipv6) that go on port `port`'s
// interface, each with the length of the port's untagged subnet that holds
// it (else a host route): an address goes to the port whose declared subnet
// holds it (the longest match), or to the first port when none does.
std::vector<conf::Prefix> node_addresses(const conf::Config& config, size_t port);

class KernelViews final : public KernelHops {
public:
    KernelViews(boost::asio::io_context& io, KernelView::Log log);

    // Follows `ifnames[i]` as port i of `config`: brought up with that
    // port's MTU and node addresses (node_addresses). The error names the
    // interface and what failed.
    std::optional<std::string> open(const conf::Config& config, const std::vector<std::string>& ifnames);
    // The node addresses follow `config` (a reload); what failed, or nullopt.
    std::optional<std::string> set_addresses(const conf::Config& config);

    std::optional<KernelRoute> route(const conf::IpAddr& ip) const override;
    std::optional<conf::MacAddr> mac(const conf::IpAddr& ip, size_t port) const override;
    void keep_resolved(const std::set<PortHop>& hops) override;
    uint64_t version() const override;

    size_t size() const { return views_.size(); }
    const KernelView& at(size_t port) const { return *views_.at(port); }

private:
    boost::asio::io_context& io_;
    KernelView::Log log_;
    std::vector<std::unique_ptr<KernelView>> views_;  // per port
};

}  // namespace tern::ctl
