#include "control/daemon/stats.h"

#include "dataplane/rte.h"

#include <fmt/format.h>

namespace tern::ctl {

PortStats port_stats(uint16_t port, const std::string& name, const std::string& device) {
    rte_eth_stats s{};
    rte_eth_stats_get(port, &s);
    PortStats p;
    p.id = port;
    p.name = name;
    p.device = device;
    p.rx_packets = s.ipackets;
    p.rx_bytes = s.ibytes;
    p.tx_packets = s.opackets;
    p.tx_bytes = s.obytes;
    p.rx_missed = s.imissed;
    p.rx_errors = s.ierrors;
    p.tx_errors = s.oerrors;
    p.rx_nombuf = s.rx_nombuf;
    return p;
}

uint64_t LcoreStats::dropped() const {
    uint64_t n = 0;
    for (auto d : drops) n += d;
    return n;
}

Stats collect(const conf::Config& config, CounterSlots& slots, const std::vector<LcoreRef>& lcores,
              std::vector<PortStats> ports) {
    Stats st;
    st.ports = std::move(ports);
    for (const auto& l : lcores) {
        LcoreStats ls;
        ls.lcore = l.lcore;
        ls.queue = l.queue;
        ls.rx = l.counters->rx.get();
        ls.tx = l.counters->tx.get();
        ls.punt = l.counters->punt.get();
        ls.from_kernel = l.counters->from_kernel.get();
        ls.too_big_sent = l.counters->too_big_sent.get();
        ls.echo_replies = l.counters->echo_replies.get();
        ls.icmp_errors_forwarded = l.counters->icmp_errors_forwarded.get();
        ls.handed_over = l.counters->handed_over.get();
        ls.flows_evicted = l.counters->flows_evicted.get();
        ls.flows_rescheduled = l.counters->flows_rescheduled.get();
        for (size_t d = 0; d < dp::kDropCount; ++d) ls.drops[d] = l.counters->drops[d].get();
        for (size_t c = 0; c < dp::kPuntClassCount; ++c) {
            ls.punt_passed[c] = l.counters->punt_passed[c].get();
            ls.punt_policed[c] = l.counters->punt_policed[c].get();
            st.totals.punt_passed[c] += ls.punt_passed[c];
            st.totals.punt_policed[c] += ls.punt_policed[c];
        }
        st.totals.rx += ls.rx;
        st.totals.tx += ls.tx;
        st.totals.punt += ls.punt;
        st.totals.from_kernel += ls.from_kernel;
        st.totals.too_big_sent += ls.too_big_sent;
        st.totals.echo_replies += ls.echo_replies;
        st.totals.icmp_errors_forwarded += ls.icmp_errors_forwarded;
        st.totals.handed_over += ls.handed_over;
        st.totals.flows_evicted += ls.flows_evicted;
        st.totals.flows_rescheduled += ls.flows_rescheduled;
        for (size_t d = 0; d < dp::kDropCount; ++d) st.totals.drops[d] += ls.drops[d];
        st.lcores.push_back(ls);
    }
    for (const auto& s : config.services) {
        ServiceStats ss;
        ss.name = s.name;
        ss.vip = s.vip.str();
        ss.port = s.port;
        ss.protocol = conf::to_string(s.protocol);
        ss.scheduler = conf::to_string(s.scheduler);
        ss.forward = conf::to_string(s.forward);
        uint32_t slot = 0;
        if (slots.service(s.name, slot)) {
            for (const auto& l : lcores) {
                ss.packets += l.counters->services[slot].packets.get();
                ss.bytes += l.counters->services[slot].bytes.get();
            }
        }
        for (const auto& rs : s.realservers) {
            ServerStats sv;
            sv.host = rs.host;
            sv.ip = rs.ip.str();
            sv.weight = rs.weight;
            sv.enabled = rs.enabled;
            if (slots.server(s.name, rs.host, slot)) {
                for (const auto& l : lcores) {
                    sv.packets += l.counters->servers[slot].packets.get();
                    sv.bytes += l.counters->servers[slot].bytes.get();
                    // Per-lcore gauges add up modulo 2^64.
                    sv.active_conns += l.counters->conns[slot].active.get();
                    sv.inactive_conns += l.counters->conns[slot].inactive.get();
                    sv.conns += l.counters->conns[slot].created.get();
                }
            }
            ss.conns += sv.conns;
            ss.servers.push_back(sv);
        }
        st.services.push_back(std::move(ss));
    }
    return st;
}

namespace {

std::string json_str(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

std::string drops_json(const std::array<uint64_t, dp::kDropCount>& drops) {
    std::string out = "{";
    for (size_t d = 0; d < dp::kDropCount; ++d) {
        if (d) out += ", ";
        out += fmt::format("\"{}\": {}", dp::drop_name(static_cast<dp::Drop>(d)), drops[d]);
    }
    return out + "}";
}

// {"arp_nd": {"passed": n, "policed": n}, ...}
std::string punt_classes_json(const LcoreStats& l) {
    std::string out = "{";
    for (size_t c = 0; c < dp::kPuntClassCount; ++c) {
        if (c) out += ", ";
        out += fmt::format("\"{}\": {{\"passed\": {}, \"policed\": {}}}",
                           dp::punt_class_name(static_cast<dp::PuntClass>(c)), l.punt_passed[c], l.punt_policed[c]);
    }
    return out + "}";
}

}  // namespace

std::string to_json(const Stats& st) {
    std::string o = "{\n  \"ports\": [";
    for (size_t i = 0; i < st.ports.size(); ++i) {
        const auto& p = st.ports[i];
        o += fmt::format(
            "{}\n    {{\"name\": {}, \"device\": {}, \"rx_packets\": {}, \"rx_bytes\": {}, "
            "\"tx_packets\": {}, \"tx_bytes\": {}, \"rx_missed\": {}, \"rx_errors\": {}, "
            "\"tx_errors\": {}}}",
            i ? "," : "", json_str(p.name), json_str(p.device), p.rx_packets, p.rx_bytes, p.tx_packets, p.tx_bytes,
            p.rx_missed, p.rx_errors, p.tx_errors);
    }
    o += "\n  ],\n  \"lcores\": [";
    for (size_t i = 0; i < st.lcores.size(); ++i) {
        const auto& l = st.lcores[i];
        o += fmt::format(
            "{}\n    {{\"lcore\": {}, \"queue\": {}, \"rx\": {}, \"tx\": {}, \"punt\": {}, "
            "\"from_kernel\": {}, \"too_big_sent\": {}, \"echo_replies\": {}, "
            "\"icmp_errors_forwarded\": {}, \"handed_over\": {}, \"flows_evicted\": {}, "
            "\"flows_rescheduled\": {}, \"dropped\": {}, \"drops\": {}, \"punt_classes\": {}}}",
            i ? "," : "", l.lcore, l.queue, l.rx, l.tx, l.punt, l.from_kernel, l.too_big_sent, l.echo_replies,
            l.icmp_errors_forwarded, l.handed_over, l.flows_evicted, l.flows_rescheduled, l.dropped(),
            drops_json(l.drops), punt_classes_json(l));
    }
    const auto& t = st.totals;
    o += fmt::format(
        "\n  ],\n  \"totals\": {{\"rx\": {}, \"tx\": {}, \"punt\": {}, \"from_kernel\": {}, "
        "\"too_big_sent\": {}, \"echo_replies\": {}, \"icmp_errors_forwarded\": {}, "
        "\"flows_evicted\": {}, \"flows_rescheduled\": {}, "
        "\"dropped\": {}}},\n  \"drops\": {},\n  \"punt_classes\": {},\n  \"services\": [",
        t.rx, t.tx, t.punt, t.from_kernel, t.too_big_sent, t.echo_replies, t.icmp_errors_forwarded, t.flows_evicted,
        t.flows_rescheduled, t.dropped(), drops_json(t.drops), punt_classes_json(t));
    for (size_t i = 0; i < st.services.size(); ++i) {
        const auto& s = st.services[i];
        o += fmt::format(
            "{}\n    {{\"name\": {}, \"vip\": {}, \"port\": {}, \"protocol\": {}, \"scheduler\": {}, "
            "\"forward\": {}, \"packets\": {}, \"bytes\": {}, \"servers\": [",
            i ? "," : "", json_str(s.name), json_str(s.vip), s.port, json_str(s.protocol), json_str(s.scheduler),
            json_str(s.forward), s.packets, s.bytes);
        for (size_t j = 0; j < s.servers.size(); ++j) {
            const auto& v = s.servers[j];
            o += fmt::format(
                "{}\n      {{\"host\": {}, \"ip\": {}, \"weight\": {}, \"enabled\": {}, "
                "\"packets\": {}, \"bytes\": {}, \"active_conns\": {}, \"inactive_conns\": {}}}",
                j ? "," : "", json_str(v.host), json_str(v.ip), v.weight, v.enabled, v.packets, v.bytes, v.active_conns,
                v.inactive_conns);
        }
        o += s.servers.empty() ? "]}" : "\n    ]}";
    }
    o += "\n  ]\n}\n";
    return o;
}

std::string to_text(const Stats& st) {
    std::string o;
    const auto& t = st.totals;
    o += fmt::format("packets: rx {}  sent {}  to kernel {}  from kernel {}  dropped {}\n", t.rx, t.tx, t.punt,
                     t.from_kernel, t.dropped());
    if (t.too_big_sent || t.echo_replies || t.icmp_errors_forwarded) {
        o += fmt::format("  icmp: too-big sent {}  echo replies {}  errors forwarded to servers {}\n", t.too_big_sent,
                         t.echo_replies, t.icmp_errors_forwarded);
    }
    for (size_t d = 0; d < dp::kDropCount; ++d) {
        if (t.drops[d]) {
            o += fmt::format("  dropped {:<16} {}\n", dp::drop_name(static_cast<dp::Drop>(d)), t.drops[d]);
        }
    }
    uint64_t policed = 0;
    for (auto n : t.punt_policed) policed += n;
    if (policed) {
        o += "  to kernel by class (passed/policed):";
        for (size_t c = 0; c < dp::kPuntClassCount; ++c) {
            o += fmt::format(" {} {}/{}", dp::punt_class_name(static_cast<dp::PuntClass>(c)), t.punt_passed[c],
                             t.punt_policed[c]);
        }
        o += "\n";
    }
    if (st.lcores.size() > 1) {
        for (const auto& l : st.lcores) {
            o += fmt::format("lcore {} (queue {}): rx {} forwarded {} to kernel {} dropped {}{}\n", l.lcore, l.queue,
                             l.rx, l.tx, l.punt, l.dropped(),
                             l.handed_over ? fmt::format(" handed over {}", l.handed_over) : "");
        }
    }
    o += "forwarded where:\n";
    for (const auto& s : st.services) {
        const std::string addr = s.vip.find(':') != std::string::npos ? fmt::format("[{}]:{}", s.vip, s.port)
                                                                      : fmt::format("{}:{}", s.vip, s.port);
        o += fmt::format("  {} {} {} ({}, {}): {} packets, {} bytes\n", s.name, s.protocol, addr, s.scheduler,
                         s.forward, s.packets, s.bytes);
        for (const auto& v : s.servers) {
            std::string flags = v.enabled ? "" : " disabled";
            o += fmt::format(
                "    -> {:<16} {:<24} weight {:<5}{} {} packets, {} bytes, "
                "ActiveConn {} InActConn {}\n",
                v.host, v.ip, v.weight, flags, v.packets, v.bytes, v.active_conns, v.inactive_conns);
        }
    }
    return o;
}

}  // namespace tern::ctl
