// Where a real server is reached on the wire: the next hop's address, its
// MAC, VLAN and output port. The config's `neighbors` and `subnets` are
// static entries; in `tern run` the kernel's neighbour and route tables for
// the ports' exception-path interfaces fill in the rest
// (control/kernel/kernel_view.h), as IPVS got them from the kernel. `tern replay` and `tern check` use the config
// alone. Control thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>

#include "conf/config.h"

namespace tern::ctl {

// A next hop on a port: (index in Config::ports, address).
using PortHop = std::pair<size_t, conf::IpAddr>;

// A route of the kernel's through one of our interfaces.
struct KernelRoute {
    conf::IpAddr via;  // its gateway, or the address itself when on-link
    size_t port = 0;   // the port whose interface (tern-<name>) it leaves through
};

// What the kernel knows, as the table builder asks it.
class KernelHops {
public:
    virtual ~KernelHops() = default;
    // The next hop the kernel's main routing table gives for `ip` when the
    // route leaves through one of our interfaces. nullopt: no route through
    // any of them.
    virtual std::optional<KernelRoute> route(const conf::IpAddr& ip) const = 0;
    // The MAC the kernel resolved for `ip` on port `port`'s interface (the
    // last one known: an entry that fails or is flushed keeps its MAC until
    // the kernel learns another).
    virtual std::optional<conf::MacAddr> mac(const conf::IpAddr& ip, size_t port) const = 0;
    // The next hops the tables use, replacing the previous set: the kernel
    // resolves each on its port's interface and keeps it resolved.
    virtual void keep_resolved(const std::set<PortHop>& hops) = 0;
    // Moves whenever a MAC or a route through our interfaces changes.
    virtual uint64_t version() const = 0;
};

struct NextHop {
    conf::IpAddr ip;                   // the server, or the gateway it is reached through
    std::optional<conf::MacAddr> mac;  // nullopt: not known (packets drop as no_neighbor)
    uint16_t vlan = 0;
    size_t port = 0;          // the output port: index in Config::ports
    bool static_mac = false;  // from the config's neighbors
};

// The config's static IP -> MAC entries.
std::map<conf::IpAddr, conf::MacAddr> static_neighbors(const conf::Config& config);

// The next hop of `server` of a service forwarding with `forward`:
//   1. a server in `neighbors`, or on a declared subnet, is on-link;
//   2. a DR server is always on-link (direct routing needs the same link);
//   3. an IPIP server follows the kernel's route through our interfaces
//      (`kernel`), else the config's gateway of its family, else is on-link.
// Its port: the one whose declared subnet (or VLAN) holds the next hop,
// else the one whose interface the kernel's route for the server leaves
// through, else the first. Its MAC: the config's `neighbors`, else the
// kernel's on that port.
NextHop next_hop(const conf::Config& config, const std::map<conf::IpAddr, conf::MacAddr>& statics,
                 const conf::IpAddr& server, conf::Forward forward, const KernelHops* kernel);

}  // namespace tern::ctl
