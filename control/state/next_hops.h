// Where a real server is reached on the wire: the next hop's address, its
// MAC and VLAN. The config's `neighbors` and `subnets` are static entries;
// in `tern run` the kernel's neighbour and route tables for the exception
// path's interface fill in the rest (control/kernel/kernel_view.h), as IPVS
// got them from the kernel. `tern replay` and `tern check` use the config
// alone. Control thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>

#include "conf/config.h"

namespace tern::ctl {

// What the kernel knows, as the table builder asks it.
class KernelHops {
public:
    virtual ~KernelHops() = default;
    // The next hop the kernel's main routing table gives for `ip` when the
    // route leaves through our interface: its gateway, or `ip` itself when
    // it is on-link there. nullopt: no route through our interface.
    virtual std::optional<conf::IpAddr> route(const conf::IpAddr& ip) const = 0;
    // The MAC the kernel resolved for `ip` on our interface (the last one
    // known: an entry that fails or is flushed keeps its MAC until the
    // kernel learns another).
    virtual std::optional<conf::MacAddr> mac(const conf::IpAddr& ip) const = 0;
    // The next hops the tables use, replacing the previous set: the kernel
    // resolves them and keeps them resolved.
    virtual void keep_resolved(const std::set<conf::IpAddr>& hops) = 0;
    // Moves whenever a MAC or a route through our interface changes.
    virtual uint64_t version() const = 0;
};

struct NextHop {
    conf::IpAddr ip;                   // the server, or the gateway it is reached through
    std::optional<conf::MacAddr> mac;  // nullopt: not known (packets drop as no_neighbor)
    uint16_t vlan = 0;
    bool static_mac = false;  // from the config's neighbors
};

// The config's static IP -> MAC entries.
std::map<conf::IpAddr, conf::MacAddr> static_neighbors(const conf::Config& config);

// The next hop of `server` of a service forwarding with `forward`:
//   1. a server in `neighbors`, or on a declared subnet, is on-link;
//   2. a DR server is always on-link (direct routing needs the same link);
//   3. an IPIP server follows the kernel's route through our interface
//      (`kernel`), else the config's gateway of its family, else is on-link.
// Its MAC: the config's `neighbors`, else the kernel's.
NextHop next_hop(const conf::Config& config, const std::map<conf::IpAddr, conf::MacAddr>& statics,
                 const conf::IpAddr& server, conf::Forward forward, const KernelHops* kernel);

}  // namespace tern::ctl
