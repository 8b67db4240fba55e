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
    // times the session came up, messages each way, why it last ended.
    std::string o = fmt::format("{:<40} {:<12} {:>10} {:>5} {:>10} {:>10}  {}\n", "Peer", "State", "Up/Down", "Ups",
                                "MsgRcvd", "MsgSent", "Last error");
    const auto now = std::chrono::steady_clock::now();
    for (const auto& s : speaker->sessions()) {
        const auto& st = s->status();
        const auto& ps = s->settings();
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - st.since).count();
        const std::string updown = st.since == bgp::TimePoint{}
                                       ? "never"
                                       : fmt::format("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
        o += fmt::format("{:<40} {:<12} {:>10} {:>5} {:>10} {:>10}  {}\n",
                         fmt::format("{} AS{}", ps.address.str(), ps.remote_asn), bgp::to_string(st.state), updown,
                         st.established_count, st.messages_in, st.messages_out, st.last_error);
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
        o += fmt::format("{:<6} {:<6} {:>14} {:>14} {:>12} {:>12} {:>12}\n", "lcore", "queue", "rx", "forwarded",
                         "to-kernel", "dropped", "evicted");
        for (const auto& l : st.lcores) {
            o += fmt::format("{:<6} {:<6} {:>14} {:>14} {:>12} {:>12} {:>12}\n", l.lcore, l.queue, l.rx, l.tx, l.punt,
                             l.dropped(), l.flows_evicted);
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

std::string ipvsadm_text(const conf::Config& config, const Stats& stats, const Pools& pools, const std::string& only) {
    // `ipvsadm -Ln` starts with the version and the connection table's size;
    // `ipvsadm -Ln -t VIP:PORT` (one service) without it.
    std::string o = only.empty() ? fmt::format("IP Virtual Server version 1.2.1 (size={})\n", stats.flow_capacity) : "";
    o += "Prot LocalAddress:Port Scheduler Flags\n"
         "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
    std::vector<const conf::Service*> services;
    for (const auto& s : config.services) {
        if (only.empty() || s.name == only) services.push_back(&s);
    }
    std::stable_sort(services.begin(), services.end(), [](const conf::Service* a, const conf::Service* b) {
        const bool a_udp = a->protocol == conf::Protocol::udp, b_udp = b->protocol == conf::Protocol::udp;
        if (a->vip.family != b->vip.family) return a->vip.family < b->vip.family;
        if (a_udp != b_udp) return b_udp;
        return ipvs_before(a->vip, a->port, b->vip, b->port);
    });
    for (const conf::Service* sp : services) {
        const conf::Service& s = *sp;
        // As ipvsadm prints it: an IPv4 service's "TCP  address:port" cut at 33 characters, a server's at 28.
        std::string name =
            fmt::format("{}  {}", s.protocol == conf::Protocol::tcp ? "TCP" : "UDP", endpoint(s.vip, s.port));
        if (s.vip.is_v4()) name = name.substr(0, 33);
        o += fmt::format("{} {}\n", name, ipvs_scheduler(s.scheduler));
        const ServiceStats* ss = nullptr;
        for (const auto& x : stats.services) {
            if (x.name == s.name) ss = &x;
        }
        const ServicePool* pool = nullptr;
        if (auto it = pools.services().find(s.name); it != pools.services().end()) pool = &it->second;
        std::vector<const conf::RealServer*> servers;
        for (const auto& rs : s.realservers) {
            // As IPVS shows it: servers in the table; depooled ones are gone,
            // drained (disabled) ones show weight 0.
            const ServerState* st = pool ? pool->server(rs.host) : nullptr;
            if (st && st->enabled && !st->pooled) continue;
            servers.push_back(&rs);
        }
        std::stable_sort(servers.begin(), servers.end(), [&](const conf::RealServer* a, const conf::RealServer* b) {
            return ipvs_before(a->ip, s.port, b->ip, s.port);
        });
        for (const conf::RealServer* rs : servers) {
            uint64_t active = 0, inactive = 0;
            if (ss) {
                for (const auto& r : ss->servers) {
                    if (r.host == rs->host) {
                        active = r.active_conns;
                        inactive = r.inactive_conns;
                    }
                }
            }
            std::string dest = endpoint(rs->ip, s.port);
            if (rs->ip.is_v4()) dest = dest.substr(0, 28);
            o += fmt::format("  -> {:<28} {:<7} {:<6} {:<10} {:<10}\n", dest,
                             s.forward == conf::Forward::dr ? "Route" : "Tunnel", rs->enabled ? rs->weight : 0, active,
                             inactive);
        }
    }
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
