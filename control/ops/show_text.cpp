#include "control/ops/show_text.h"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <tuple>

namespace tern::ctl {
namespace {

const char* ipvs_scheduler(conf::Scheduler s) {
    switch (s) {
        case conf::Scheduler::maglev: return "mh";  // IPVS's name for Maglev hashing
        case conf::Scheduler::sh: return "sh";
        case conf::Scheduler::rr: return "rr";
        case conf::Scheduler::wrr: return "wrr";
        case conf::Scheduler::wlc: return "wlc";
    }
    return "?";
}

std::string endpoint(const conf::IpAddr& ip, uint16_t port) {
    return ip.is_v6() ? fmt::format("[{}]:{}", ip.str(), port) : fmt::format("{}:{}", ip.str(), port);
}

}  // namespace

std::string bgp_text(const bgp::Speaker* speaker) {
    if (speaker == nullptr) return "bgp: not configured\n";
    // As routers show it: the time in the current state (Up/Down), how many
    // times the session came up and went down (Flaps), messages each way, why
    // it last ended (with the backed-off wait before the next attempt).
    std::string o = fmt::format("{:<40} {:<12} {:>10} {:>5} {:>5} {:>10} {:>10}  {}\n", "Peer", "State", "Up/Down",
                                "Ups", "Flaps", "MsgRcvd", "MsgSent", "Last error");
    const auto now = std::chrono::steady_clock::now();
    for (const auto& s : speaker->sessions()) {
        const auto& st = s->status();
        const auto& ps = s->settings();
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - st.since).count();
        const std::string updown = st.since == bgp::TimePoint{}
                                       ? "never"
                                       : fmt::format("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
        o += fmt::format("{:<40} {:<12} {:>10} {:>5} {:>5} {:>10} {:>10}  {}\n",
                         fmt::format("{} AS{}", ps.address.str(), ps.remote_asn), bgp::to_string(st.state), updown,
                         st.established_count, st.flaps, st.messages_in, st.messages_out, st.last_error);
    }
    return o;
}

std::string pools_text(const Pools& pools, const std::string& only, const std::vector<Unresolved>& unresolved) {
    std::string o;
    for (const auto& [name, pool] : pools.services()) {
        if (!only.empty() && name != only) continue;
        o += fmt::format("{} (depool threshold {}, {}):\n", name, pool.depool_threshold(),
                         pool.can_depool() ? "can depool" : "cannot depool more");
        for (const auto& [host, s] : pool.servers()) {
            o += fmt::format("  {}:\t{}{}", host, s.text_status(), pools.overridden(name, host) ? "  [override]" : "");
            for (const auto& u : unresolved) {
                if (u.service == name && u.host == host) o += fmt::format("  [no MAC for {}]", u.hop.str());
            }
            for (size_t i = 0; i < s.monitor_up.size() && i < pool.monitors().size(); ++i) {
                const auto& u = s.monitor_up[i];
                o += fmt::format("  {}={}", pool.monitors()[i], !u ? "pending" : (*u ? "up" : "down"));
                if (u && !*u && !s.monitor_reason[i].empty()) o += fmt::format(" ({})", s.monitor_reason[i]);
            }
            o += "\n";
        }
    }
    return o;
}

std::string stats_text(const Stats& st, const std::string& what) {
    std::string o;
    if (what.empty()) return to_text(st);
    if (what == "port") {
        o += fmt::format("{:<10} {:>14} {:>14} {:>14} {:>14} {:>10}\n", "port", "rx-packets", "rx-bytes", "tx-packets",
                         "tx-bytes", "rx-missed");
        for (const auto& p : st.ports) {
            o += fmt::format("{:<10} {:>14} {:>14} {:>14} {:>14} {:>10}\n", p.name, p.rx_packets, p.rx_bytes,
                             p.tx_packets, p.tx_bytes, p.rx_missed);
        }
    } else if (what == "lcore") {
        o += fmt::format("{:<6} {:<6} {:>14} {:>14} {:>12} {:>12} {:>12} {:>12}\n", "lcore", "queue", "rx", "forwarded",
                         "to-kernel", "policed", "dropped", "evicted");
        for (const auto& l : st.lcores) {
            uint64_t policed = 0;
            for (auto n : l.punt_policed) policed += n;
            o += fmt::format("{:<6} {:<6} {:>14} {:>14} {:>12} {:>12} {:>12} {:>12}\n", l.lcore, l.queue, l.rx, l.tx,
                             l.punt, policed, l.dropped(), l.flows_evicted);
        }
        o += fmt::format("\n{:<6} {:<10} {:>14} {:>14}\n", "lcore", "to-kernel", "passed", "policed");
        for (const auto& l : st.lcores) {
            for (size_t c = 0; c < dp::kPuntClassCount; ++c) {
                o += fmt::format("{:<6} {:<10} {:>14} {:>14}\n", l.lcore,
                                 dp::punt_class_name(static_cast<dp::PuntClass>(c)), l.punt_passed[c],
                                 l.punt_policed[c]);
            }
        }
    } else {
        o += fmt::format("{:<20} {:<28} {:>14} {:>16}\n", "service", "vip:port/proto", "packets", "bytes");
        for (const auto& s : st.services) {
            o += fmt::format("{:<20} {:<28} {:>14} {:>16}\n", s.name,
                             fmt::format("{}:{}/{}", s.vip, s.port, s.protocol), s.packets, s.bytes);
            for (const auto& r : s.servers) {
                o += fmt::format("  -> {:<20} {:<22} {:>14} {:>16}\n", r.host, r.ip, r.packets, r.bytes);
            }
        }
    }
    return o;
}

namespace {

// ipvsadm's order: IPv4 before IPv6, TCP before UDP, then address and port.
bool ipvs_before(const conf::IpAddr& a, uint16_t ap, const conf::IpAddr& b, uint16_t bp) {
    return std::tie(a.family, a.bytes, ap) < std::tie(b.family, b.bytes, bp);
}

}  // namespace

namespace {

// What ipvsadm lists: the services in its order with their servers in
// its order; depooled servers are absent (IPVS has no such entry).
struct Listed {
    const conf::Service* service;
    const ServiceStats* stats;
    std::vector<std::pair<const conf::RealServer*, const ServerStats*>> servers;
};

std::vector<Listed> ipvs_listing(const conf::Config& config, const Stats& stats, const Pools& pools,
                                 const std::string& only) {
    std::vector<Listed> out;
    for (const auto& s : config.services) {
        if (!only.empty() && s.name != only) continue;
        Listed l{&s, nullptr, {}};
        for (const auto& x : stats.services) {
            if (x.name == s.name) l.stats = &x;
        }
        const ServicePool* pool = nullptr;
        if (auto it = pools.services().find(s.name); it != pools.services().end()) pool = &it->second;
        for (const auto& rs : s.realservers) {
            // Drained (disabled) servers stay, at weight 0.
            const ServerState* st = pool ? pool->server(rs.host) : nullptr;
            if (st && st->enabled && !st->pooled) continue;
            const ServerStats* ss = nullptr;
            if (l.stats) {
                for (const auto& r : l.stats->servers) {
                    if (r.host == rs.host) ss = &r;
                }
            }
            l.servers.emplace_back(&rs, ss);
        }
        std::stable_sort(l.servers.begin(), l.servers.end(), [&](const auto& a, const auto& b) {
            return ipvs_before(a.first->ip, s.port, b.first->ip, s.port);
        });
        out.push_back(std::move(l));
    }
    std::stable_sort(out.begin(), out.end(), [](const Listed& x, const Listed& y) {
        const conf::Service& a = *x.service;
        const conf::Service& b = *y.service;
        const bool a_udp = a.protocol == conf::Protocol::udp, b_udp = b.protocol == conf::Protocol::udp;
        if (a.vip.family != b.vip.family) return a.vip.family < b.vip.family;
        if (a_udp != b_udp) return b_udp;
        return ipvs_before(a.vip, a.port, b.vip, b.port);
    });
    return out;
}

// "TCP  192.0.2.1:80" as ipvsadm prints it: an IPv4 one cut at 33 characters.
std::string service_name(const conf::Service& s) {
    std::string name =
        fmt::format("{}  {}", s.protocol == conf::Protocol::tcp ? "TCP" : "UDP", endpoint(s.vip, s.port));
    return s.vip.is_v4() ? name.substr(0, 33) : name;
}

// A server's address:port, an IPv4 one cut at 28 characters.
std::string dest_name(const conf::RealServer& rs, uint16_t port) {
    std::string dest = endpoint(rs.ip, port);
    return rs.ip.is_v4() ? dest.substr(0, 28) : dest;
}

// ipvsadm's print_largenum: 9 columns, K/M/G/T past 10^8.
std::string largenum(uint64_t i) {
    if (i < 100000000ull) return fmt::format("{:>9}", i);
    if (i < 1000000000ull) return fmt::format("{:>8}K", i / 1000);
    if (i < 100000000000ull) return fmt::format("{:>8}M", i / 1000000);
    if (i < 100000000000000ull) return fmt::format("{:>8}G", i / 1000000000ull);
    return fmt::format("{:>8}T", i / 1000000000000ull);
}

std::string version_line(const Stats& stats, const std::string& only) {
    return only.empty() ? fmt::format("IP Virtual Server version 1.2.1 (size={})\n", stats.flow_capacity) : "";
}

}  // namespace

std::string ipvsadm_text(const conf::Config& config, const Stats& stats, const Pools& pools, const std::string& only) {
    // `ipvsadm -Ln` starts with the version and the connection table's size;
    // `ipvsadm -Ln -t VIP:PORT` (one service) without it.
    std::string o = version_line(stats, only);
    o += "Prot LocalAddress:Port Scheduler Flags\n"
         "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
    for (const Listed& l : ipvs_listing(config, stats, pools, only)) {
        const conf::Service& s = *l.service;
        o += fmt::format("{} {}\n", service_name(s), ipvs_scheduler(s.scheduler));
        for (const auto& [rs, ss] : l.servers) {
            o += fmt::format("  -> {:<28} {:<7} {:<6} {:<10} {:<10}\n", dest_name(*rs, s.port),
                             s.forward == conf::Forward::dr ? "Route" : "Tunnel", rs->enabled ? rs->weight : 0,
                             ss ? ss->active_conns : 0, ss ? ss->inactive_conns : 0);
        }
    }
    return o;
}

std::string ipvsadm_stats_text(const conf::Config& config, const Stats& stats, const Pools& pools,
                               const std::string& only) {
    std::string o = version_line(stats, only);
    o += fmt::format("{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port",
                     "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes");
    // Direct routing and tunnelling never see the servers' replies: OutPkts
    // and OutBytes stay 0, as in IPVS.
    for (const Listed& l : ipvs_listing(config, stats, pools, only)) {
        const ServiceStats* t = l.stats;
        o += fmt::format("{:<33}{}{}{}{}{}\n", service_name(*l.service), largenum(t ? t->conns : 0),
                         largenum(t ? t->packets : 0), largenum(0), largenum(t ? t->bytes : 0), largenum(0));
        for (const auto& [rs, ss] : l.servers) {
            o += fmt::format("  -> {:<28}{}{}{}{}{}\n", dest_name(*rs, l.service->port), largenum(ss ? ss->conns : 0),
                             largenum(ss ? ss->packets : 0), largenum(0), largenum(ss ? ss->bytes : 0), largenum(0));
        }
    }
    return o;
}

std::string ipvsadm_rate_text(const conf::Config& config, const Stats& stats, const Stats& before, double seconds,
                              const Pools& pools, const std::string& only) {
    auto per_s = [seconds](uint64_t now, uint64_t then) -> uint64_t {
        if (seconds <= 0 || now < then) return 0;
        return static_cast<uint64_t>(static_cast<double>(now - then) / seconds + 0.5);
    };
    auto old_service = [&](const std::string& name) -> const ServiceStats* {
        for (const auto& x : before.services) {
            if (x.name == name) return &x;
        }
        return nullptr;
    };
    std::string o = version_line(stats, only);
    o += fmt::format("{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port", "CPS",
                     "InPPS", "OutPPS", "InBPS", "OutBPS");
    for (const Listed& l : ipvs_listing(config, stats, pools, only)) {
        const ServiceStats* t = l.stats;
        const ServiceStats* b = old_service(l.service->name);
        o += fmt::format("{:<33}{}{}{}{}{}\n", service_name(*l.service),
                         largenum(t ? per_s(t->conns, b ? b->conns : 0) : 0),
                         largenum(t ? per_s(t->packets, b ? b->packets : 0) : 0), largenum(0),
                         largenum(t ? per_s(t->bytes, b ? b->bytes : 0) : 0), largenum(0));
        for (const auto& [rs, ss] : l.servers) {
            const ServerStats* was = nullptr;
            if (b) {
                for (const auto& r : b->servers) {
                    if (r.host == rs->host) was = &r;
                }
            }
            o += fmt::format("  -> {:<28} {:>8} {:>8} {:>8}{}{}\n", dest_name(*rs, l.service->port),
                             ss ? per_s(ss->conns, was ? was->conns : 0) : 0,
                             ss ? per_s(ss->packets, was ? was->packets : 0) : 0, 0,
                             largenum(ss ? per_s(ss->bytes, was ? was->bytes : 0) : 0), largenum(0));
        }
    }
    return o;
}

std::string testpmd_port_stats_text(const PortStats& now, const PortStats* before, double seconds) {
    const std::string border(24, '#');
    uint64_t rx_pps = 0, rx_bps = 0, tx_pps = 0, tx_bps = 0;
    if (before != nullptr && seconds > 0) {
        auto rate = [seconds](uint64_t a, uint64_t b) {
            return a > b ? static_cast<uint64_t>(static_cast<double>(a - b) / seconds) : uint64_t{0};
        };
        rx_pps = rate(now.rx_packets, before->rx_packets);
        tx_pps = rate(now.tx_packets, before->tx_packets);
        rx_bps = rate(now.rx_bytes, before->rx_bytes) * 8;
        tx_bps = rate(now.tx_bytes, before->tx_bytes) * 8;
    }
    std::string o = fmt::format("\n  {} NIC statistics for port {:<2} {}\n", border, now.id, border);
    o += fmt::format("  RX-packets: {:<10} RX-missed: {:<10} RX-bytes:  {}\n", now.rx_packets, now.rx_missed,
                     now.rx_bytes);
    o += fmt::format("  RX-errors: {}\n", now.rx_errors);
    o += fmt::format("  RX-nombuf:  {:<10}\n", now.rx_nombuf);
    o += fmt::format("  TX-packets: {:<10} TX-errors: {:<10} TX-bytes:  {}\n", now.tx_packets, now.tx_errors,
                     now.tx_bytes);
    o += "\n  Throughput (since last show)\n";
    o += fmt::format("  Rx-pps: {:>12}          Rx-bps: {:>12}\n", rx_pps, rx_bps);
    o += fmt::format("  Tx-pps: {:>12}          Tx-bps: {:>12}\n", tx_pps, tx_bps);
    o += fmt::format("  {}{}{}\n", border, std::string(28, '#'), border);
    return o;
}

std::string connections_text(const std::vector<dp::FlowSample>& flows, const CounterSlots& slots,
                             const conf::Config& config, uint32_t now) {
    std::map<std::pair<std::string, std::string>, conf::IpAddr> ips;
    for (const auto& s : config.services) {
        for (const auto& rs : s.realservers) ips[{s.name, rs.host}] = rs.ip;
    }
    std::string o = "IPVS connection entries\n";
    o += fmt::format("pro expire {:<11} {:<18} {:<18} {}\n", "state", "source", "virtual", "destination");
    for (const auto& f : flows) {
        const dp::FlowEntry& e = f.entry;
        if (e.key.proto != 6 && e.key.proto != 17) continue;
        conf::IpAddr src, dst;
        src.family = dst.family = e.key.family == 6 ? AF_INET6 : AF_INET;
        std::memcpy(src.bytes.data(), e.key.src, 16);
        std::memcpy(dst.bytes.data(), e.key.dst, 16);
        std::string dest = "?";
        if (const auto who = slots.server_of(e.server_slot)) {
            if (auto it = ips.find(*who); it != ips.end()) dest = endpoint(it->second, ntohs(e.key.dport));
        }
        const uint32_t left = f.expires > now ? f.expires - now : 0;
        o += fmt::format("{:<3} {:<6} {:<11} {:<18} {:<18} {}\n", e.key.proto == 6 ? "TCP" : "UDP",
                         fmt::format("{:02}:{:02}", left / 60, left % 60), dp::conn_state_name(f.state),
                         endpoint(src, ntohs(e.key.sport)), endpoint(dst, ntohs(e.key.dport)), dest);
    }
    return o;
}

std::string flows_text(const std::vector<dp::FlowSample>& flows, const CounterSlots& slots, size_t live,
                       size_t capacity) {
    std::string o =
        fmt::format("{} of {} live flows ({} entries in all lcores' tables):\n", flows.size(), live, capacity);
    o += fmt::format("{:<5} {:<5} {:<46} {:<46} {:<12} {}\n", "lcore", "proto", "client", "vip", "state", "server");
    for (const auto& [lcore, e, state, expires] : flows) {
        conf::IpAddr src, dst;
        src.family = dst.family = e.key.family == 6 ? AF_INET6 : AF_INET;
        std::memcpy(src.bytes.data(), e.key.src, 16);
        std::memcpy(dst.bytes.data(), e.key.dst, 16);
        const auto who = slots.server_of(e.server_slot);
        o += fmt::format("{:<5} {:<5} {:<46} {:<46} {:<12} {}\n", lcore,
                         e.key.proto == 6    ? "tcp"
                         : e.key.proto == 17 ? "udp"
                                             : std::to_string(e.key.proto),
                         endpoint(src, ntohs(e.key.sport)), endpoint(dst, ntohs(e.key.dport)),
                         dp::conn_state_name(state), who ? fmt::format("{}/{}", who->first, who->second) : "?");
    }
    return o;
}

}  // namespace tern::ctl
