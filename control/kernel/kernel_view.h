// The kernel as the source of truth for L2/L3, as VPP's linux-cp mirrors
// Linux: `tern run` follows the kernel's neighbour and route tables for the
// exception path's TAP interface over rtnetlink. For every next hop the
// tables need (control/state/next_hops.h) it asks the kernel for a managed
// neighbour entry (NTF_EXT_MANAGED, Linux 5.16+): the kernel resolves it
// through the TAP (its ARP/ND go out through the port, the answers come back
// on the exception path), keeps it resolved by probing, and tells us each MAC
// it learns or that changes (a gratuitous ARP, a replaced NIC). Routes of the
// main table answer whether an IPIP server is on-link or behind a gateway.
// One per port (KernelViews, control/kernel/kernel_views.h, answers the
// table builder for all of them). Control thread only; events arrive on the
// control thread's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conf/config.h"
#include "control/state/next_hops.h"

struct mnl_socket;
struct nlmsghdr;

namespace tern::ctl {

// One rtnetlink neighbour message, as far as Tern reads it.
struct NeighbourMsg {
    bool deleted = false;  // RTM_DELNEIGH
    int ifindex = 0;
    conf::IpAddr ip;
    std::optional<conf::MacAddr> mac;  // NDA_LLADDR, when the entry has one
    uint16_t state = 0;                // NUD_*
    bool managed = false;              // NTF_EXT_MANAGED
};

// One rtnetlink route message, as far as Tern reads it.
struct RouteMsg {
    bool deleted = false;  // RTM_DELROUTE
    uint32_t table = 0;
    uint8_t type = 0;  // RTN_*
    conf::Prefix dst;
    std::optional<conf::IpAddr> gateway;  // RTA_GATEWAY (or the first path's, for multipath)
    int oif = 0;                          // RTA_OIF (or the first path's)
    uint32_t priority = 0;                // RTA_PRIORITY (the metric)
};

// nullopt: not a neighbour (route) message, or one without an address.
std::optional<NeighbourMsg> parse_neighbour(const nlmsghdr* nlh);
std::optional<RouteMsg> parse_route(const nlmsghdr* nlh);

class KernelView {
public:
    using Log = std::function<void(conf::LogLevel, const std::string&)>;
    KernelView(boost::asio::io_context& io, Log log);
    ~KernelView();
    KernelView(const KernelView&) = delete;
    KernelView& operator=(const KernelView&) = delete;

    // Follows interface `ifname`: brings it up with `mtu` (0: leave it) and
    // `addresses` (the node's, with the length of their connected subnet),
    // then reads the neighbour and route tables and follows their changes.
    // The error names the interface and what failed.
    std::optional<std::string> open(const std::string& ifname, uint32_t mtu,
                                    const std::vector<conf::Prefix>& addresses);

    // The interface's addresses become `addresses` (a reload): the new ones
    // are added, the ones set before and not listed are removed.
    std::optional<std::string> set_addresses(const std::vector<conf::Prefix>& addresses);

    // KernelHops's questions for this interface alone: the route when the
    // kernel's best route for `ip` leaves through it (its gateway, or `ip`
    // when on-link), the MAC learned on it, the next hops to keep resolved
    // on it, and a version that moves with either.
    std::optional<conf::IpAddr> route(const conf::IpAddr& ip) const;
    std::optional<conf::MacAddr> mac(const conf::IpAddr& ip) const;
    void keep_resolved(const std::set<conf::IpAddr>& hops);
    uint64_t version() const { return version_; }

    // The MACs learned on the interface, for people.
    const std::map<conf::IpAddr, conf::MacAddr>& neighbours() const { return macs_; }
    int ifindex() const { return ifindex_; }

    // Applies one message (what the event socket and the dumps deliver).
    void handle(const nlmsghdr* nlh);

private:
    void arm();
    void on_events();
    void reconcile();
    std::optional<std::string> resync();
    std::optional<std::string> dump(uint16_t type);
    // One request with an acknowledgement: nullopt or the kernel's error.
    std::optional<int> request(nlmsghdr* nlh);
    std::optional<std::string> set_link(uint32_t mtu);
    std::optional<std::string> add_address(const conf::Prefix& p);
    std::optional<std::string> del_address(const conf::Prefix& p);
    void add_managed(const conf::IpAddr& ip);
    void del_managed(const conf::IpAddr& ip);

    Log log_;
    std::string ifname_;
    int ifindex_ = 0;
    mnl_socket* events_ = nullptr;    // subscribed to neighbour and route changes
    mnl_socket* requests_ = nullptr;  // dumps and changes, answered in turn
    uint32_t seq_ = 0;
    boost::asio::posix::stream_descriptor events_fd_;
    boost::asio::steady_timer timer_;
    std::map<conf::IpAddr, conf::MacAddr> macs_;
    std::set<conf::IpAddr> wanted_;        // the tables' next hops
    std::set<conf::IpAddr> managed_;       // managed entries the kernel holds on the interface
    std::set<conf::IpAddr> ours_;          // managed entries Tern asked for
    std::set<conf::IpAddr> refused_;       // asked for, refused (logged once)
    std::vector<RouteMsg> routes_;         // the main table's unicast routes (any interface)
    std::vector<conf::Prefix> addresses_;  // set on the interface by open() / set_addresses()
    uint64_t version_ = 0;
};

}  // namespace tern::ctl
