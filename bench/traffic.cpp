#include "bench/traffic.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <pcap/pcap.h>

#include <cstring>

#include "bench/flows.h"
#include "control/state/table_builder.h"
#include "dataplane/rte.h"

namespace tern::bench {
namespace {

conf::IpAddr v4(uint32_t host_order) {
    conf::IpAddr a;
    a.family = AF_INET;
    const uint32_t be = htonl(host_order);
    std::memcpy(a.bytes.data(), &be, 4);
    return a;
}

constexpr uint32_t kVipBase = 0xC6120001;     // 198.18.0.1 (RFC 2544 benchmark range)
constexpr uint32_t kHostBase = 0x0A400100;    // 10.64.1.0: real servers
constexpr uint32_t kNodeIp = 0x0A40000A;      // 10.64.0.10: the balancer itself
constexpr uint32_t kClientBase = 0x64400000;  // 100.64.0.0/10: clients

// SplitMix64: cheap, good enough to scatter flows.
uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

// DPDK's helpers: the IPv4 header's, then TCP's over its pseudo-header.
void refresh_checksums(uint8_t* d) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(d + 14);
    auto* tcp = reinterpret_cast<rte_tcp_hdr*>(d + 34);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    tcp->cksum = 0;
    tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
}

// Ethernet + IPv4 + TCP (40 bytes of IP) padded to 60 bytes, checksums right.
Frame tcp_frame(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags) {
    Frame f{};
    uint8_t* d = f.data();
    std::memcpy(d, kPortMac.data(), 6);
    const uint8_t router[6] = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x01};
    std::memcpy(d + 6, router, 6);
    put16(d + 12, 0x0800);
    uint8_t* ip = d + 14;
    ip[0] = 0x45;
    put16(ip + 2, 40);
    put16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = 6;
    const uint32_t s = htonl(src), t = htonl(dst);
    std::memcpy(ip + 12, &s, 4);
    std::memcpy(ip + 16, &t, 4);
    uint8_t* tcp = ip + 20;
    put16(tcp, sport);
    put16(tcp + 2, dport);
    const uint32_t seq = static_cast<uint32_t>(mix(src ^ sport));
    std::memcpy(tcp + 4, &seq, 4);
    tcp[12] = 0x50;
    tcp[13] = flags;
    put16(tcp + 14, 64240);
    refresh_checksums(d);
    return f;
}

}  // namespace

conf::Config make_config(const Shape& shape) {
    conf::Config c;
    c.path = "<bench>";
    c.node.name = "bench";
    c.node.ipv4 = v4(kNodeIp);
    c.node.ipip_source_v4 = conf::Prefix::parse("10.64.0.0/24");
    conf::Port p;
    p.name = "uplink";
    p.device = "net_null0";
    p.mac = conf::MacAddr{kPortMac[0], kPortMac[1], kPortMac[2], kPortMac[3], kPortMac[4], kPortMac[5]};
    c.ports.push_back(p);
    for (uint32_t h = 0; h < shape.hosts; ++h) {
        conf::Neighbor n;
        n.ip = v4(kHostBase + h);
        n.mac = {
            0x02, 0xAA, 0x00, static_cast<uint8_t>(h >> 16), static_cast<uint8_t>(h >> 8), static_cast<uint8_t>(h)};
        c.neighbors.push_back(n);
    }
    c.gateway_v4 = v4(0x0A400001);
    uint32_t index = 0;
    for (uint32_t v = 0; v < shape.vips; ++v) {
        for (uint16_t port : shape.ports) {
            conf::Service s;
            s.name = fmt::format("svc{:04}-{}", v, port);
            s.vip = v4(kVipBase + v);
            s.port = port;
            s.protocol = conf::Protocol::tcp;
            s.scheduler = conf::Scheduler::maglev;
            s.forward = shape.forward;
            s.table_size = shape.table_size;
            // Each service its own window of hosts, with a few weights, so no
            // two rings are alike.
            for (uint32_t k = 0; k < shape.servers; ++k) {
                const uint32_t h = (index * 7 + k) % shape.hosts;
                conf::RealServer rs;
                rs.host = fmt::format("cp{:04}", h);
                rs.ip = v4(kHostBase + h);
                rs.weight = 10 + (h % 3) * 5;
                s.realservers.push_back(rs);
            }
            c.services.push_back(std::move(s));
            ++index;
        }
    }
    return c;
}

const std::vector<CaseInfo>& cases() {
    static const std::vector<CaseInfo> all = {
        {Case::dr, "dr", "DR to a VIP (Maglev; flow-table hits once it exists)", 20.0, 150},
        {Case::ipip, "ipip", "IPIP to a VIP", 15.0, 200},
        {Case::new_flow, "new_flow", "every packet a SYN of a new flow", 8.0, 400},
        {Case::punt, "punt", "not a VIP: to the kernel", 0, 0},
        {Case::mix, "mix", "90% flow hits, 8% SYNs of new flows, 2% not a VIP (punted)", 0, 0},
        {Case::syn_flood, "syn_flood", "SYNs of new flows into a full flow table (filled before timing)", 0, 0},
    };
    return all;
}

const CaseInfo* find_case(const std::string& name) {
    for (const auto& c : cases()) {
        if (name == c.name) return &c;
    }
    return nullptr;
}

conf::Config case_config(Case c, Shape shape) {
    if (c == Case::ipip) shape.forward = conf::Forward::ipip;
    return make_config(shape);
}

std::string not_implemented(Case c, const conf::Config& config) {
    if (c == Case::new_flow || c == Case::mix || c == Case::syn_flood) {
        if (flow_entry_bytes() == 0) return "no per-lcore flow table in this build (dataplane/flow_table.h)";
    }
    std::string why;
    for (const auto& e : ctl::unsupported(config)) why += (why.empty() ? "" : "; ") + e.message;
    return why;
}

std::vector<Frame> make_frames(Case c, const conf::Config& config, uint32_t flows, uint32_t seed) {
    std::vector<Frame> out;
    out.reserve(flows);
    for (uint32_t i = 0; i < flows; ++i) {
        const uint64_t r = mix((static_cast<uint64_t>(seed) << 32) | i);
        const uint32_t src = kClientBase + static_cast<uint32_t>(r & 0x3FFFFF);
        const uint16_t sport = static_cast<uint16_t>(1024 + (r >> 32) % 64000);
        // mix: of every 50 frames, one punted and four SYNs (made new flows
        // at each lap, bench/pipeline.cpp), the rest ACKs of the flow set.
        if (c == Case::punt || (c == Case::mix && i % 50 == 0)) {
            const uint16_t dport = (i % 2) ? 179 : 22;
            out.push_back(tcp_frame(src, kNodeIp, sport, dport, 0x10));
            continue;
        }
        const conf::Service& s = config.services[i % config.services.size()];
        uint32_t vip;
        std::memcpy(&vip, s.vip.bytes.data(), 4);
        const bool syn = c == Case::new_flow || c == Case::syn_flood || (c == Case::mix && i % 50 <= 4);
        const uint8_t flags = syn ? 0x02 : 0x10;  // SYN : ACK
        out.push_back(tcp_frame(src, ntohl(vip), sport, s.port, flags));
    }
    return out;
}

bool new_each_lap(Case c, const uint8_t* frame) {
    if (c == Case::new_flow || c == Case::syn_flood) return true;
    return c == Case::mix && frame[47] == 0x02;  // the SYNs; the ACKs and punted frames stay
}

void make_unique_flow(uint8_t* frame, uint64_t serial) {
    // 2^22 client addresses x 64000 ports: 2.7e11 flows before one repeats.
    const uint32_t src = htonl(kClientBase + static_cast<uint32_t>(serial & 0x3FFFFF));
    std::memcpy(frame + 14 + 12, &src, 4);
    put16(frame + 34, static_cast<uint16_t>(1024 + (serial >> 22) % 64000));
    refresh_checksums(frame);
}

std::string write_pcap(const std::string& path, const std::vector<Frame>& frames) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    if (dead == nullptr) return "pcap_open_dead failed";
    pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
    if (d == nullptr) {
        std::string err = pcap_geterr(dead);
        pcap_close(dead);
        return path + ": " + err;
    }
    uint64_t usec = 0;
    for (const auto& f : frames) {
        pcap_pkthdr h{};
        h.ts.tv_sec = static_cast<time_t>(usec / 1000000);
        h.ts.tv_usec = static_cast<suseconds_t>(usec % 1000000);
        h.caplen = h.len = kFrameLen;
        pcap_dump(reinterpret_cast<u_char*>(d), &h, f.data());
        ++usec;
    }
    pcap_dump_close(d);
    pcap_close(dead);
    return "";
}

}  // namespace tern::bench
