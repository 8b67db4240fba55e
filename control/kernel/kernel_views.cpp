#include "control/kernel/kernel_views.h"

namespace tern::ctl {

std::vector<conf::Prefix> node_addresses(const conf::Config& config, size_t port) {
    std::vector<conf::Prefix> out;
    std::vector<conf::IpAddr> addrs{config.node.ipv4};
    if (config.node.ipv6) addrs.push_back(*config.node.ipv6);
    for (const auto& ip : addrs) {
        // The port: the longest untagged subnet's, else any declared
        // subnet's (a VLAN's), else the first.
        size_t owner = 0;
        int best = -1;
        for (size_t i = 0; i < config.ports.size(); ++i) {
            for (const auto& s : config.ports[i].subnets) {
                if (s.contains(ip) && s.length > best) {
                    best = s.length;
                    owner = i;
                }
            }
        }
        if (best < 0) {
            if (auto att = config.attachment(ip)) owner = att->port;
        }
        if (owner != port) continue;
        out.push_back({ip, best >= 0 ? best : (ip.is_v4() ? 32 : 128)});
    }
    return out;
}

KernelViews::KernelViews(boost::asio::io_context& io, KernelView::Log log) : io_(io), log_(std::move(log)) {}

std::optional<std::string> KernelViews::open(const conf::Config& config, const std::vector<std::string>& ifnames) {
    views_.clear();
    for (size_t i = 0; i < ifnames.size(); ++i) {
        auto view = std::make_unique<KernelView>(io_, log_);
        if (auto err = view->open(ifnames[i], config.ports.at(i).mtu, node_addresses(config, i))) return err;
        views_.push_back(std::move(view));
    }
    return std::nullopt;
}

std::optional<std::string> KernelViews::set_addresses(const conf::Config& config) {
    std::optional<std::string> failed;
    for (size_t i = 0; i < views_.size(); ++i) {
        if (auto err = views_[i]->set_addresses(node_addresses(config, i)); err && !failed) failed = err;
    }
    return failed;
}

std::optional<KernelRoute> KernelViews::route(const conf::IpAddr& ip) const {
    // Each view knows the whole main table; only the one whose interface
    // the best route leaves through answers.
    for (size_t i = 0; i < views_.size(); ++i) {
        if (auto via = views_[i]->route(ip)) return KernelRoute{*via, i};
    }
    return std::nullopt;
}

std::optional<conf::MacAddr> KernelViews::mac(const conf::IpAddr& ip, size_t port) const {
    if (port >= views_.size()) return std::nullopt;
    return views_[port]->mac(ip);
}

void KernelViews::keep_resolved(const std::set<PortHop>& hops) {
    std::vector<std::set<conf::IpAddr>> per(views_.size());
    for (const auto& [port, ip] : hops) {
        if (port < per.size()) per[port].insert(ip);
    }
    for (size_t i = 0; i < views_.size(); ++i) views_[i]->keep_resolved(per[i]);
}

uint64_t KernelViews::version() const {
    // Each view's version only grows: their sum moves whenever one does.
    uint64_t v = 0;
    for (const auto& view : views_) v += view->version();
    return v;
}

}  // namespace tern::ctl
