// The benchmark's world: a config built in code (VIPs, services, servers,
// neighbours) and the 64-byte frames of each benchmark case. Pure, no EAL.
// Control thread only (everything here allocates).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "conf/config.h"

namespace tern::bench {

// 64 bytes on the wire: 60 in the mbuf plus the 4-byte FCS the NIC adds.
inline constexpr uint32_t kFrameLen = 60;
using Frame = std::array<uint8_t, kFrameLen>;

// The port's MAC in every benchmark config and frame.
inline constexpr std::array<uint8_t, 6> kPortMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

// What the config looks like: `vips` addresses x `ports` = services, each
// with `servers` real servers drawn from a pool of `hosts` machines.
struct Shape {
    uint32_t vips = 8;
    std::vector<uint16_t> ports = {80, 443};
    uint32_t servers = 100;
    uint32_t hosts = 1000;
    conf::Forward forward = conf::Forward::dr;
    uint32_t table_size = 0;  // 0: auto, as a config that does not set it
    uint32_t services() const { return vips * static_cast<uint32_t>(ports.size()); }
};

conf::Config make_config(const Shape& shape);

// The benchmark cases. Adding one: a value here, a row in kCases
// (bench/cases.cpp), and frames in make_frames.
enum class Case : uint8_t {
    dr,         // TCP to a VIP:port, DR forwarding (flow-table hits once the flow table exists)
    ipip,       // the same traffic to services with forward: ipip
    new_flow,   // every packet a SYN of a flow never seen before (flow-table inserts/evictions)
    punt,       // unicast TCP to the node's own address (SSH, BGP): not a VIP, to the kernel
    mix,        // production-like: 90% hits (ACKs of the flow set), 8% SYNs of new flows, 2% punted
    syn_flood,  // new_flow's SYNs into a flow table filled (evicting) before the timed runs
};

struct CaseInfo {
    Case id;
    const char* name;
    const char* what;
    double target_mpps;   // one worker lcore; 0 when the issue sets none
    double target_instr;  // instructions per packet; 0 when none
};

const std::vector<CaseInfo>& cases();
const CaseInfo* find_case(const std::string& name);

// The config the case runs against.
conf::Config case_config(Case c, Shape shape);

// Why the case cannot run in this build, or "" when it can.
std::string not_implemented(Case c, const conf::Config& config);

// `flows` distinct frames for the case; `seed` varies the flows (one set per lcore).
std::vector<Frame> make_frames(Case c, const conf::Config& config, uint32_t flows, uint32_t seed);

// Whether restore() must make this frame of case `c` a new flow (a SYN of
// new_flow, syn_flood, and mix's 8%).
bool new_each_lap(Case c, const uint8_t* frame);

// Makes frame `f` a new flow, unique for each `serial` (< 2^40): rewrites its
// source address and port. Used by the new-flow case between bursts.
void make_unique_flow(uint8_t* frame, uint64_t serial);

// Writes frames as an Ethernet pcap file; returns an error message or "".
std::string write_pcap(const std::string& path, const std::vector<Frame>& frames);

}  // namespace tern::bench
