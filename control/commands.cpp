#include "control/commands.h"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "control/api.h"

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

CommandResult error(std::string text) { return {std::move(text) + "\n", false, false}; }

bool parse_u32(const std::string& s, uint32_t& out) {
    if (s.empty() || s.size() > 10) return false;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v > 0xffffffffull) return false;
    out = static_cast<uint32_t>(v);
    return true;
}

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
        const std::string updown = st.since == bgp::TimePoint{} ? "never"
                                                                : fmt::format("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60,
                                                                              secs % 60);
        o += fmt::format("{:<40} {:<12} {:>10} {:>5} {:>10} {:>10}  {}\n",
                         fmt::format("{} AS{}", ps.address.str(), ps.remote_asn), bgp::to_string(st.state), updown,
                         st.established_count, st.messages_in, st.messages_out, st.last_error);
    }
    return o;
}

std::string pools_text(const Pools& pools, const std::string& only) {
    std::string o;
    for (const auto& [name, pool] : pools.services()) {
        if (!only.empty() && name != only) continue;
        o += fmt::format("{} (depool threshold {}, {}):\n", name, pool.depool_threshold(),
                         pool.can_depool() ? "can depool" : "cannot depool more");
        for (const auto& [host, s] : pool.servers()) {
            o += fmt::format("  {}:\t{}{}", host, s.text_status(), pools.overridden(name, host) ? "  [override]" : "");
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
        o += fmt::format("{:<10} {:>14} {:>14} {:>14} {:>14} {:>10}\n", "port", "rx-packets", "rx-bytes",
                         "tx-packets", "tx-bytes", "rx-missed");
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

}  // namespace

std::string ipvsadm_text(const conf::Config& config, const Stats& stats, const Pools& pools, const std::string& only) {
    std::string o = "Prot LocalAddress:Port Scheduler Flags\n"
                    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
    for (const auto& s : config.services) {
        if (!only.empty() && s.name != only) continue;
        o += fmt::format("{}  {} {}\n", s.protocol == conf::Protocol::tcp ? "TCP" : "UDP", endpoint(s.vip, s.port),
                         ipvs_scheduler(s.scheduler));
        const ServiceStats* ss = nullptr;
        for (const auto& x : stats.services) {
            if (x.name == s.name) ss = &x;
        }
        const ServicePool* pool = nullptr;
        if (auto it = pools.services().find(s.name); it != pools.services().end()) pool = &it->second;
        for (const auto& rs : s.realservers) {
            // As IPVS shows it: servers in the table; depooled ones are gone,
            // drained (disabled) ones show weight 0.
            const ServerState* st = pool ? pool->server(rs.host) : nullptr;
            if (st && st->enabled && !st->pooled) continue;
            uint64_t active = 0, inactive = 0;
            if (ss) {
                for (const auto& r : ss->servers) {
                    if (r.host == rs.host) {
                        active = r.active_conns;
                        inactive = r.inactive_conns;
                    }
                }
            }
            o += fmt::format("  -> {:<28} {:<7} {:<6} {:<10} {}\n", endpoint(rs.ip, s.port),
                             s.forward == conf::Forward::dr ? "Route" : "Tunnel", rs.enabled ? rs.weight : 0, active,
                             inactive);
        }
    }
    return o;
}

std::string flows_text(const std::vector<dp::FlowSample>& flows, const CounterSlots& slots,
                       size_t live, size_t capacity) {
    std::string o = fmt::format("{} of {} live flows ({} entries in all lcores' tables):\n", flows.size(), live, capacity);
    o += fmt::format("{:<5} {:<5} {:<46} {:<46} {:<12} {}\n", "lcore", "proto", "client", "vip", "state", "server");
    for (const auto& [lcore, e, state] : flows) {
        conf::IpAddr src, dst;
        src.family = dst.family = e.key.family == 6 ? AF_INET6 : AF_INET;
        std::memcpy(src.bytes.data(), e.key.src, 16);
        std::memcpy(dst.bytes.data(), e.key.dst, 16);
        const auto who = slots.server_of(e.server_slot);
        o += fmt::format("{:<5} {:<5} {:<46} {:<46} {:<12} {}\n", lcore,
                         e.key.proto == 6 ? "tcp" : e.key.proto == 17 ? "udp" : std::to_string(e.key.proto),
                         endpoint(src, ntohs(e.key.sport)), endpoint(dst, ntohs(e.key.dport)), dp::conn_state_name(state),
                         who ? fmt::format("{}/{}", who->first, who->second) : "?");
    }
    return o;
}

std::string command_help() {
    return "show services                       the services as ipvsadm -Ln shows them\n"
           "show service NAME                   one service, its servers and their health\n"
           "show pools                          every server's enabled/up/pooled state and monitors\n"
           "show stats [port|lcore|service]     counters\n"
           "show flows                          a sample of the lcores' flow tables\n"
           "show bgp                            BGP sessions\n"
           "show alerts                         what /alerts says\n"
           "show config                         the running config file\n"
           "pool HOST [SERVICE]                 enable a server (an override until the next reload)\n"
           "depool HOST [SERVICE]               disable a server: no new flows, established ones stay\n"
           "set weight SERVICE HOST N           a server's weight (0..65535)\n"
           "add realserver SERVICE HOST IP [W]  add a server (an override until the next reload)\n"
           "del realserver SERVICE HOST         remove a server (an override until the next reload)\n"
           "capture start PORT|all FILE [COUNT [FILTER...]]\n"
           "                                    packets of a port into a pcapng file; COUNT 0: until\n"
           "                                    stopped; FILTER in pcap-filter syntax (tcp port 80)\n"
           "capture stop                        stop and close the file\n"
           "show capture                        the running capture\n"
           "reload                              re-read the config file (as SIGHUP)\n"
           "help                                this list\n"
           "quit                                leave the console\n";
}

CommandResult run_command(CommandContext& ctx, const std::vector<std::string>& w) {
    if (w.empty()) return {};
    const std::string& c = w[0];
    auto arity = [&](size_t lo, size_t hi, const char* usage) -> std::optional<CommandResult> {
        if (w.size() < lo) return error(fmt::format("{}: missing arguments; usage: {}", c, usage));
        if (w.size() > hi) return error(fmt::format("{}: unexpected '{}'; usage: {}", c, w[hi], usage));
        return std::nullopt;
    };
    if (c == "quit" || c == "exit") return {"", true, true};
    if (c == "help") return {command_help(), true, false};
    if (c == "reload") {
        if (auto e = arity(1, 1, "reload")) return *e;
        return {ctx.reload() + "\n", true, false};
    }
    if (c == "show") {
        if (w.size() < 2) return error("show: what? services, service NAME, pools, stats, flows, bgp, alerts, config");
        const std::string& what = w[1];
        if (what == "services") {
            if (auto e = arity(2, 2, "show services")) return *e;
            return {ipvsadm_text(ctx.config(), ctx.stats(), ctx.pools, ""), true, false};
        }
        if (what == "service") {
            if (auto e = arity(3, 3, "show service NAME")) return *e;
            if (!ctx.pools.services().count(w[2])) return error(fmt::format("show service: no service named '{}'", w[2]));
            return {ipvsadm_text(ctx.config(), ctx.stats(), ctx.pools, w[2]) + pools_text(ctx.pools, w[2]), true, false};
        }
        if (what == "pools") {
            if (auto e = arity(2, 2, "show pools")) return *e;
            return {pools_text(ctx.pools, ""), true, false};
        }
        if (what == "stats") {
            if (auto e = arity(2, 3, "show stats [port|lcore|service]")) return *e;
            const std::string kind = w.size() > 2 ? w[2] : "";
            if (!kind.empty() && kind != "port" && kind != "lcore" && kind != "service") {
                return error(fmt::format("show stats: '{}' is not port, lcore or service", kind));
            }
            return {stats_text(ctx.stats(), kind), true, false};
        }
        if (what == "flows") {
            if (auto e = arity(2, 2, "show flows")) return *e;
            return {ctx.flows ? ctx.flows(20) : "no flow tables\n", true, false};
        }
        if (what == "bgp") {
            if (auto e = arity(2, 2, "show bgp")) return *e;
            return {bgp_text(ctx.speaker ? ctx.speaker() : nullptr), true, false};
        }
        if (what == "alerts") {
            if (auto e = arity(2, 2, "show alerts")) return *e;
            const Alerts a = alerts(ctx.pools);
            std::string upper = a.status;
            for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            return {fmt::format("{} - {}\n", upper, a.msg), true, false};
        }
        if (what == "capture") {
            if (auto e = arity(2, 2, "show capture")) return *e;
            return {(ctx.capture ? ctx.capture->status() : std::string("no ports to capture")) + "\n", true, false};
        }
        if (what == "config") {
            if (auto e = arity(2, 2, "show config")) return *e;
            std::ifstream in(ctx.config_path);
            std::stringstream ss;
            ss << in.rdbuf();
            return {fmt::format("# {}\n{}", ctx.config_path, ss.str()), true, false};
        }
        return error(fmt::format("show: unknown '{}'; try services, service NAME, pools, stats, flows, bgp, alerts, config", what));
    }
    if (c == "pool" || c == "depool") {
        if (auto e = arity(2, 3, "pool|depool HOST [SERVICE]")) return *e;
        if (auto err = ctx.pools.set_enabled(w.size() > 2 ? w[2] : "", w[1], c == "pool")) {
            return error(fmt::format("{}: {}", c, *err));
        }
        return {fmt::format("{} {}: done (until the next reload)\n", c == "pool" ? "pooled" : "depooled", w[1]), true, false};
    }
    if (c == "set") {
        if (w.size() < 2 || w[1] != "weight") {
            return error(fmt::format("set: unknown '{}'; usage: set weight SERVICE HOST N", w.size() > 1 ? w[1] : ""));
        }
        if (auto e = arity(5, 5, "set weight SERVICE HOST N")) return *e;
        uint32_t weight = 0;
        if (!parse_u32(w[4], weight) || weight > 65535) {
            return error(fmt::format("set weight: '{}' is not a weight between 0 and 65535", w[4]));
        }
        if (auto err = ctx.pools.set_weight(w[2], w[3], weight)) return error(fmt::format("set weight: {}", *err));
        return {fmt::format("weight of {} in {}: {} (until the next reload)\n", w[3], w[2], weight), true, false};
    }
    if (c == "add" || c == "del") {
        if (w.size() < 2 || w[1] != "realserver") {
            return error(fmt::format("{}: unknown '{}'; usage: {} realserver SERVICE HOST{}", c, w.size() > 1 ? w[1] : "",
                                     c, c == "add" ? " IP [WEIGHT]" : ""));
        }
        if (c == "del") {
            if (auto e = arity(4, 4, "del realserver SERVICE HOST")) return *e;
            if (auto err = ctx.pools.del_server(w[2], w[3])) return error(fmt::format("del realserver: {}", *err));
            return {fmt::format("removed {} from {} (until the next reload)\n", w[3], w[2]), true, false};
        }
        if (auto e = arity(5, 6, "add realserver SERVICE HOST IP [WEIGHT]")) return *e;
        conf::RealServer rs;
        rs.host = w[3];
        auto ip = conf::IpAddr::parse(w[4]);
        if (!ip) return error(fmt::format("add realserver: '{}' is not an IP address", w[4]));
        rs.ip = *ip;
        rs.weight = 1;
        if (w.size() > 5 && (!parse_u32(w[5], rs.weight) || rs.weight > 65535)) {
            return error(fmt::format("add realserver: '{}' is not a weight between 0 and 65535", w[5]));
        }
        if (auto err = ctx.pools.add_server(w[2], rs)) return error(fmt::format("add realserver: {}", *err));
        return {fmt::format("added {} {} to {} (until the next reload)\n", rs.host, rs.ip.str(), w[2]), true, false};
    }
    if (c == "capture") {
        if (ctx.capture == nullptr) return error("capture: no ports to capture in this process");
        if (w.size() >= 2 && w[1] == "stop") {
            if (auto e = arity(2, 2, "capture stop")) return *e;
            const bool was = ctx.capture->running();
            return {ctx.capture->stop() + "\n", was, false};
        }
        if (w.size() < 2 || w[1] != "start") {
            return error(fmt::format("capture: unknown '{}'; usage: capture start PORT FILE [COUNT [FILTER...]] | capture stop",
                                     w.size() > 1 ? w[1] : ""));
        }
        if (w.size() < 4) return error("capture start: missing arguments; usage: capture start PORT FILE [COUNT [FILTER...]]");
        uint32_t count = 0;
        if (w.size() > 4 && !parse_u32(w[4], count)) {
            return error(fmt::format("capture start: '{}' is not a packet count", w[4]));
        }
        std::string filter;
        for (size_t i = 5; i < w.size(); ++i) filter += (filter.empty() ? "" : " ") + w[i];
        if (auto err = ctx.capture->start(w[2], w[3], count, 0, filter); !err.empty()) {
            return error("capture start: " + err);
        }
        return {ctx.capture->status() + "\n", true, false};
    }
    return error(fmt::format("unknown command '{}'; 'help' lists them", c));
}

}  // namespace tern::ctl
