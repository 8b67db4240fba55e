// Which worker lcore owns a flow: the RX queue the port's RSS gives the
// flow's own packets (client to VIP), and the lcores' inboxes through which
// a packet about a flow that arrived on another lcore (an ICMP error, whose
// outer header RSS hashes) is handed to the owner. Built on the control
// thread before the lcores start; read-only afterwards.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/packet.h"

struct rte_ring;

namespace tern::dp {

// The Toeplitz hash (key kRssKey) a NIC computes for a packet with flow key
// `k`: source and destination address, then source and destination port
// for TCP and UDP that is not a fragment (RTE_ETH_RSS_NONFRAG_*_TCP/UDP),
// the addresses alone otherwise (IPv4/IPv6, FRAG_*, *_OTHER). What the
// port's RSS and replay's spreading of a capture both compute.
uint32_t rss_hash(const FlowKey& k);

// How a port spreads flows over its RX queues (queue q = worker lcore q).
struct RssLayout {
    uint16_t queues = 1;
    // True when the port hashes with Toeplitz and kRssKey over the fields
    // rss_hash() takes and sends hash h to reta[h % reta.size()] (a
    // redirection table Tern programmed and read back): then the owner of a
    // flow is computed. False on devices whose spreading Tern cannot
    // reproduce (net_af_packet's PACKET_FANOUT hash, net_tap's queue
    // selection, a PMD that refuses the key or the table): then a packet
    // about a flow this lcore does not know is offered to every other lcore
    // in turn (Steering::next_hop).
    bool toeplitz = false;
    std::vector<uint16_t> reta;
    // What replay does and a NIC with a 128-entry table programmed i -> i % n.
    static RssLayout replay(uint16_t queues);
    // The layout of several ports whose flows share the lcores (tern run
    // with several ports): Toeplitz only when every port's is and each
    // gives every hash the same queue (the same table, or each the table
    // i -> i % queues of a size that queues divides); else not.
    static RssLayout common(const std::vector<RssLayout>& ports);
    // How it was set up, for the log: "Toeplitz RSS over 2 queues, 512-entry table" etc.
    std::string describe() const;
};

struct Steering {
    RssLayout rss;
    std::vector<rte_ring*> inbox;  // per queue: multi-producer, its lcore the single consumer

    // The queue whose lcore owns the flow whose client-side packets carry
    // `k`; only meaningful when rss.toeplitz.
    uint16_t owner(const FlowKey& k) const { return rss.reta[rss_hash(k) % static_cast<uint32_t>(rss.reta.size())]; }
    bool active() const { return rss.queues > 1 && inbox.size() == rss.queues; }
};

}  // namespace tern::dp
