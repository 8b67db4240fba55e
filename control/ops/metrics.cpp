#include "control/ops/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace tern::ctl {
namespace {

// Collects samples per metric so each family is written once, with its HELP
// and TYPE lines first, as the format requires.
class Writer {
public:
    void add(const std::string& name, const char* type, const char* help, const std::string& labels, double value) {
        auto& f = families_[name];
        if (f.type.empty()) {
            f.type = type;
            f.help = help;
            order_.push_back(name);
        }
        f.samples += fmt::format("{}{}{} {}\n", name, labels.empty() ? "" : "{", labels.empty() ? "" : labels + "}",
                                 fmt::format("{}", value));
    }
    std::string str() const {
        std::string out;
        for (const auto& name : order_) {
            const auto& f = families_.at(name);
            out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}", name, f.help, name, f.type, f.samples);
        }
        return out;
    }

private:
    struct Family {
        std::string type, help, samples;
    };
    std::map<std::string, Family> families_;
    std::vector<std::string> order_;
};

std::string label(std::initializer_list<std::pair<const char*, std::string>> kv) {
    std::string out;
    for (const auto& [k, v] : kv) out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", k, prom_escape(v));
    return out;
}

}  // namespace

std::string prom_escape(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

namespace {

// PyBal's service gauges, per server and per monitor.
void pool_metrics(Writer& w, const Pools& pools, const std::vector<Unresolved>& unresolved) {
    for (const auto& [name, pool] : pools.services()) {
        const std::string l = label({{"service", name}});
        size_t enabled = 0, up = 0, pooled = 0;
        for (const auto& [h, s] : pool.servers()) {
            enabled += s.enabled;
            up += s.up;
            pooled += s.pooled;
        }
        w.add("tern_service_servers", "gauge", "Amount of servers", l, static_cast<double>(pool.servers().size()));
        w.add("tern_service_servers_enabled", "gauge", "Amount of enabled servers", l, static_cast<double>(enabled));
        w.add("tern_service_servers_up", "gauge", "Amount of up servers", l, static_cast<double>(up));
        w.add("tern_service_servers_pooled", "gauge", "Amount of pooled servers", l, static_cast<double>(pooled));
        w.add("tern_service_can_depool", "gauge", "Can depool more servers", l, pool.can_depool() ? 1 : 0);
        w.add("tern_service_pooled_down_servers", "gauge", "Amount of down servers pooled because too many down", l,
              static_cast<double>(pool.pooled_down().size()));
        w.add("tern_service_could_not_depool_total", "counter",
              "Times a server could not be depooled because too many were down", l,
              static_cast<double>(pool.could_not_depool()));
        w.add("tern_service_depool_threshold", "gauge",
              "Threshold of up servers vs total servers below which no more can be depooled", l,
              pool.depool_threshold());
        w.add("tern_service_pool_source_ok", "gauge", "The service's pool source answered last time (1) or failed (0)",
              l, pools.source_errors().count(name) ? 0 : 1);
        // Per server and monitor.
        for (const auto& [host, s] : pool.servers()) {
            const std::string sl = label({{"service", name}, {"host", host}});
            w.add("tern_server_up", "gauge", "The server's monitors all say up", sl, s.up ? 1 : 0);
            w.add("tern_server_enabled", "gauge", "The server is enabled in its pool", sl, s.enabled ? 1 : 0);
            w.add("tern_server_pooled", "gauge", "The server is in the forwarding table", sl, s.pooled ? 1 : 0);
            w.add("tern_server_weight", "gauge", "The server's weight", sl, s.weight);
            const bool no_mac = std::any_of(unresolved.begin(), unresolved.end(),
                                            [&](const Unresolved& u) { return u.service == name && u.host == host; });
            w.add("tern_server_next_hop_unresolved", "gauge",
                  "The server is pooled but its next hop's MAC is unknown: its packets are dropped (no_neighbor)", sl,
                  no_mac ? 1 : 0);
            for (const auto* m : pools.monitors(name, host)) {
                const std::string ml = label({{"service", name}, {"host", host}, {"monitor", m->name()}});
                const auto& st = m->stats();
                w.add("tern_monitor_up_transitions_total", "counter", "Monitor up transition count", ml,
                      static_cast<double>(st.up_transitions));
                w.add("tern_monitor_down_transitions_total", "counter", "Monitor down transition count", ml,
                      static_cast<double>(st.down_transitions));
                w.add("tern_monitor_checks_total", "counter", "Checks the monitor completed", ml,
                      static_cast<double>(st.checks));
                w.add("tern_monitor_failures_total", "counter", "Checks that failed", ml,
                      static_cast<double>(st.failures));
                w.add("tern_monitor_up", "gauge", "The monitor's verdict (1 up, 0 down or none yet)", ml,
                      m->up().value_or(false) ? 1 : 0);
                w.add("tern_monitor_check_duration_seconds", "gauge", "Duration of the last check", ml,
                      st.last_duration_s);
            }
        }
    }
}

// BGP, as PyBal names it.
void bgp_metrics(Writer& w, const bgp::Speaker* speaker) {
    w.add("tern_bgp_enabled", "gauge", "BGP Enabled", "", speaker ? 1 : 0);
    if (speaker) {
        for (const auto& s : speaker->sessions()) {
            const auto& ps = s->settings();
            const auto& st = s->status();
            const std::string l = label({{"peer", ps.address.str()}, {"local_asn", std::to_string(ps.local_asn)}});
            w.add("tern_bgp_session_established", "gauge", "BGP session established", l,
                  st.state == bgp::State::established ? 1 : 0);
            w.add("tern_bgp_messages_received_total", "counter", "BGP messages received", l,
                  static_cast<double>(st.messages_in));
            w.add("tern_bgp_messages_sent_total", "counter", "BGP messages sent", l,
                  static_cast<double>(st.messages_out));
            w.add("tern_bgp_established_total", "counter", "Times the session came up", l,
                  static_cast<double>(st.established_count));
        }
    }
}

// The dataplane: ports, lcores, services, servers, flows.
void dataplane_metrics(Writer& w, const Stats& stats, uint64_t flow_capacity) {
    for (const auto& p : stats.ports) {
        const std::string l = label({{"port", p.name}});
        w.add("tern_port_rx_packets_total", "counter", "Packets received by the port", l,
              static_cast<double>(p.rx_packets));
        w.add("tern_port_rx_bytes_total", "counter", "Bytes received by the port", l, static_cast<double>(p.rx_bytes));
        w.add("tern_port_tx_packets_total", "counter", "Packets sent by the port", l,
              static_cast<double>(p.tx_packets));
        w.add("tern_port_tx_bytes_total", "counter", "Bytes sent by the port", l, static_cast<double>(p.tx_bytes));
        w.add("tern_port_rx_missed_total", "counter", "Packets the NIC dropped for lack of RX descriptors", l,
              static_cast<double>(p.rx_missed));
    }
    for (const auto& lc : stats.lcores) {
        const std::string l = label({{"lcore", std::to_string(lc.lcore)}, {"queue", std::to_string(lc.queue)}});
        w.add("tern_lcore_rx_packets_total", "counter", "Packets an lcore received", l, static_cast<double>(lc.rx));
        w.add("tern_lcore_forwarded_packets_total", "counter", "Packets an lcore sent to a real server", l,
              static_cast<double>(lc.tx));
        w.add("tern_lcore_punted_packets_total", "counter", "Packets an lcore handed to the kernel", l,
              static_cast<double>(lc.punt));
        w.add("tern_lcore_handed_over_packets_total", "counter",
              "ICMP errors an lcore received and handed to the lcore owning their flow", l,
              static_cast<double>(lc.handed_over));
        w.add("tern_lcore_flows_evicted_total", "counter", "Live flows pushed out of a full flow-table bucket", l,
              static_cast<double>(lc.flows_evicted));
        for (size_t d = 0; d < dp::kDropCount; ++d) {
            const std::string dl = label({{"lcore", std::to_string(lc.lcore)},
                                          {"reason", std::string(dp::drop_name(static_cast<dp::Drop>(d)))}});
            w.add("tern_lcore_dropped_packets_total", "counter", "Packets an lcore dropped, by reason", dl,
                  static_cast<double>(lc.drops[d]));
        }
    }
    uint64_t flows = 0;
    for (const auto& s : stats.services) {
        const std::string l = label({{"service", s.name}});
        w.add("tern_service_packets_total", "counter", "Packets forwarded for the service", l,
              static_cast<double>(s.packets));
        w.add("tern_service_bytes_total", "counter", "Bytes forwarded for the service", l,
              static_cast<double>(s.bytes));
        for (const auto& r : s.servers) {
            const std::string sl = label({{"service", s.name}, {"host", r.host}});
            w.add("tern_server_packets_total", "counter", "Packets forwarded to the server", sl,
                  static_cast<double>(r.packets));
            w.add("tern_server_bytes_total", "counter", "Bytes forwarded to the server", sl,
                  static_cast<double>(r.bytes));
            w.add("tern_server_connections_total", "counter", "Flows scheduled to the server (IPVS Conns)", sl,
                  static_cast<double>(r.conns));
            w.add("tern_server_active_connections", "gauge", "ESTABLISHED flows to the server (IPVS ActiveConn)", sl,
                  static_cast<double>(r.active_conns));
            w.add("tern_server_inactive_connections", "gauge", "Other flows to the server (IPVS InActConn)", sl,
                  static_cast<double>(r.inactive_conns));
            flows += r.active_conns + r.inactive_conns;
        }
    }
    w.add("tern_flow_table_entries", "gauge", "Flows in the flow tables of all lcores", "", static_cast<double>(flows));
    if (flow_capacity) {
        w.add("tern_flow_table_capacity", "gauge", "Entries the flow tables of all lcores hold", "",
              static_cast<double>(flow_capacity));
    }
}

}  // namespace

std::string metrics_text(const Pools& pools, const Stats& stats, const bgp::Speaker* speaker, uint64_t flow_capacity,
                         const std::vector<Unresolved>& unresolved) {
    Writer w;
    pool_metrics(w, pools, unresolved);
    bgp_metrics(w, speaker);
    dataplane_metrics(w, stats, flow_capacity);
    return w.str();
}

std::string lcore_metrics_text(const std::vector<Heartbeat>& beats, const std::vector<unsigned>& stalled) {
    Writer w;
    for (const auto& b : beats) {
        const std::string l = label({{"lcore", std::to_string(b.lcore)}});
        w.add("tern_lcore_loops_total", "counter", "Loops of the worker lcore's poll loop (its heartbeat)", l,
              static_cast<double>(b.loops));
        const bool st = std::find(stalled.begin(), stalled.end(), b.lcore) != stalled.end();
        w.add("tern_lcore_stalled", "gauge",
              "1 while the worker lcore makes no progress (no loop in the watchdog's last 500 ms check)", l,
              st ? 1.0 : 0.0);
    }
    return w.str();
}

}  // namespace tern::ctl
