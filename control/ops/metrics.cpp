#include "control/ops/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <string_view>

#include "control/ops/process_stats.h"
#include "version.h"

namespace tern::ctl {
namespace {

// Collects samples per metric so each family is written once, with its HELP
// and TYPE lines first, as the format requires.
class Writer {
public:
    void add(const std::string& name, const char* type, const char* help, const std::string& labels, double value) {
        sample(name, type, help, name, labels, value);
    }
    // A histogram's _bucket (cumulative, le="+Inf" last), _sum and _count;
    // `counts` has one entry per bound and one above them all.
    template <size_t N>
    void histogram(const std::string& name, const char* help, const std::string& labels,
                   const std::array<double, N>& bounds, const std::array<uint64_t, N + 1>& counts, double sum,
                   uint64_t count) {
        const std::string sep = labels.empty() ? "" : ",";
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= N; ++i) {
            cumulative += counts[i];
            const std::string le = i < N ? fmt::format("{}", bounds[i]) : "+Inf";
            sample(name, "histogram", help, name + "_bucket", labels + sep + fmt::format("le=\"{}\"", le),
                   static_cast<double>(cumulative));
        }
        sample(name, "histogram", help, name + "_sum", labels, sum);
        sample(name, "histogram", help, name + "_count", labels, static_cast<double>(count));
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
    void sample(const std::string& family, const char* type, const char* help, const std::string& name,
                const std::string& labels, double value) {
        auto& f = families_[family];
        if (f.type.empty()) {
            f.type = type;
            f.help = help;
            order_.push_back(family);
        }
        f.samples += fmt::format("{}{}{} {}\n", name, labels.empty() ? "" : "{", labels.empty() ? "" : labels + "}",
                                 fmt::format("{}", value));
    }
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

// PyBal's per-kind duration gauges (the last value per label set).
const char* pybal_kind_metric(std::string_view kind) {
    if (kind == "ProxyFetch") return "pybal_monitor_proxyfetch_request_duration_seconds";
    if (kind == "RunCommand") return "pybal_monitor_runcommand_run_duration_seconds";
    return nullptr;
}

// PyBal's service gauges under PyBal's names (pybal_service_*) and under
// Tern's (tern_service_*), with the same label and meaning.
void service_metrics(Writer& w, const char* prefix, const std::string& l, const ServicePool& pool) {
    size_t enabled = 0, up = 0, pooled = 0;
    for (const auto& [h, s] : pool.servers()) {
        enabled += s.enabled;
        up += s.up;
        pooled += s.pooled;
    }
    auto name = [prefix](const char* n) { return fmt::format("{}_service_{}", prefix, n); };
    w.add(name("servers"), "gauge", "Amount of servers", l, static_cast<double>(pool.servers().size()));
    w.add(name("servers_enabled"), "gauge", "Amount of enabled servers", l, static_cast<double>(enabled));
    w.add(name("servers_up"), "gauge", "Amount of up servers", l, static_cast<double>(up));
    w.add(name("servers_pooled"), "gauge", "Amount of pooled servers", l, static_cast<double>(pooled));
    w.add(name("can_depool"), "gauge", "Can depool more servers", l, pool.can_depool() ? 1 : 0);
    w.add(name("pooled_down_servers"), "gauge", "Amount of down servers pooled because too many down", l,
          static_cast<double>(pool.pooled_down().size()));
    w.add(name("could_not_depool_total"), "counter", "Times a server could not be depooled because too many were down",
          l, static_cast<double>(pool.could_not_depool()));
    w.add(name("depool_threshold"), "gauge",
          "Threshold of up servers vs total servers below which no more can be depooled", l, pool.depool_threshold());
}

// One monitor of one server: PyBal's pybal_monitor_* and Tern's tern_monitor_*.
void monitor_metrics(Writer& w, const std::string& ml, const health::Monitor& m) {
    const auto& st = m.stats();
    for (const char* prefix : {"pybal", "tern"}) {
        auto name = [prefix](const char* n) { return fmt::format("{}_monitor_{}", prefix, n); };
        w.add(name("up_transitions_total"), "counter", "Monitor up transition count", ml,
              static_cast<double>(st.up_transitions));
        w.add(name("down_transitions_total"), "counter", "Monitor down transition count", ml,
              static_cast<double>(st.down_transitions));
    }
    w.add("pybal_monitor_up_results_total", "counter", "Monitor up result count", ml,
          static_cast<double>(st.checks - st.failures));
    w.add("pybal_monitor_down_results_total", "counter", "Monitor down result count", ml,
          static_cast<double>(st.failures));
    // As PyBal: set at the first verdict, absent before it.
    if (m.up()) w.add("pybal_monitor_status", "gauge", "Monitor up status", ml, *m.up() ? 1 : 0);
    if (const char* kind = pybal_kind_metric(m.name())) {
        for (const auto& [extra, seconds] : st.last_durations) {
            std::string l = ml;
            for (const auto& [k, v] : extra) l += fmt::format(",{}=\"{}\"", k, prom_escape(v));
            w.add(kind, "gauge", "Duration of the monitor's last request or command with this outcome", l, seconds);
        }
    }
    w.add("tern_monitor_checks_total", "counter", "Checks the monitor completed", ml, static_cast<double>(st.checks));
    w.add("tern_monitor_failures_total", "counter", "Checks that failed", ml, static_cast<double>(st.failures));
    w.add("tern_monitor_up", "gauge", "The monitor's verdict (1 up, 0 down or none yet)", ml,
          m.up().value_or(false) ? 1 : 0);
    w.add("tern_monitor_last_check_duration_seconds", "gauge", "Duration of the last check", ml, st.last_duration_s);
    const auto& h = st.durations;
    w.histogram("tern_monitor_check_duration_seconds", "Durations of the monitor's checks", ml,
                health::DurationHistogram::kBounds, h.counts, h.sum, h.count);
}

// Services, servers and their monitors.
void pool_metrics(Writer& w, const Pools& pools, const std::vector<Unresolved>& unresolved) {
    for (const auto& [name, pool] : pools.services()) {
        const std::string l = label({{"service", name}});
        service_metrics(w, "pybal", l, pool);
        service_metrics(w, "tern", l, pool);
        w.add("tern_service_pool_source_ok", "gauge", "The service's pool source answered last time (1) or failed (0)",
              l, pools.source_errors().count(name) ? 0 : 1);
        // Per server and monitor.
        for (const auto& [host, s] : pool.servers()) {
            const std::string sl = label({{"service", name}, {"host", host}});
            w.add("tern_server_up", "gauge", "The server's monitors all say up", sl, s.up ? 1 : 0);
            w.add("tern_server_enabled", "gauge", "The server is enabled in its pool", sl, s.enabled ? 1 : 0);
            w.add("tern_server_pooled", "gauge", "The server is in the forwarding table", sl, s.pooled ? 1 : 0);
            w.add("tern_server_weight", "gauge", "The server's weight", sl, s.weight);
            // (Named, not captured: clang 14 cannot capture structured bindings.)
            const bool no_mac =
                std::any_of(unresolved.begin(), unresolved.end(),
                            [&svc = name, &h = host](const Unresolved& u) { return u.service == svc && u.host == h; });
            w.add("tern_server_next_hop_unresolved", "gauge",
                  "The server is pooled but its next hop's MAC is unknown: its packets are dropped (no_neighbor)", sl,
                  no_mac ? 1 : 0);
            for (const auto* m : pools.monitors(name, host)) {
                monitor_metrics(w, label({{"service", name}, {"host", host}, {"monitor", m->name()}}), *m);
            }
        }
    }
}

// PyBal's FSM state names (pybal_bgp_session_state_count's state label).
const char* pybal_state(bgp::State s) {
    switch (s) {
        case bgp::State::idle: return "IDLE";
        case bgp::State::connect: return "CONNECT";
        case bgp::State::active: return "ACTIVE";
        case bgp::State::open_sent: return "OPENSENT";
        case bgp::State::open_confirm: return "OPENCONFIRM";
        case bgp::State::established: return "ESTABLISHED";
    }
    return "IDLE";
}

// BGP, under PyBal's names and Tern's.
void bgp_metrics(Writer& w, const bgp::Speaker* speaker) {
    w.add("pybal_bgp_enabled", "gauge", "BGP Enabled", "", speaker ? 1 : 0);
    w.add("tern_bgp_enabled", "gauge", "BGP Enabled", "", speaker ? 1 : 0);
    if (!speaker) return;
    constexpr bgp::State kStates[] = {bgp::State::idle,      bgp::State::connect,      bgp::State::active,
                                      bgp::State::open_sent, bgp::State::open_confirm, bgp::State::established};
    for (const auto& s : speaker->sessions()) {
        const auto& ps = s->settings();
        const auto& st = s->status();
        const std::string asn = std::to_string(ps.local_asn);
        const std::string l = label({{"peer", ps.address.str()}, {"local_asn", asn}});
        const double up = st.state == bgp::State::established ? 1 : 0;
        w.add("pybal_bgp_session_established", "gauge", "BGP session established", l, up);
        w.add("tern_bgp_session_established", "gauge", "BGP session established", l, up);
        // PyBal counts sessions per state once a connection gave them
        // endpoints; "active" is the side that connected to the peer's port.
        if (!st.local_ip.empty()) {
            for (const bgp::State state : kStates) {
                w.add("pybal_bgp_session_state_count", "gauge", "Number of sessions in the specified state",
                      label({{"local_asn", asn},
                             {"state", pybal_state(state)},
                             {"local_ip", st.local_ip},
                             {"remote_ip", st.remote_ip},
                             {"side", st.inbound ? "passive" : "active"}}),
                      st.state == state ? 1 : 0);
            }
        }
        w.add("tern_bgp_messages_received_total", "counter", "BGP messages received", l,
              static_cast<double>(st.messages_in));
        w.add("tern_bgp_messages_sent_total", "counter", "BGP messages sent", l, static_cast<double>(st.messages_out));
        w.add("tern_bgp_updates_received_total", "counter", "BGP UPDATE messages received", l,
              static_cast<double>(st.updates_in));
        w.add("tern_bgp_updates_sent_total", "counter", "BGP UPDATE messages sent", l,
              static_cast<double>(st.updates_out));
        w.add("tern_bgp_established_total", "counter", "Times the session came up", l,
              static_cast<double>(st.established_count));
        w.add("tern_bgp_flaps_total", "counter", "Times an established session went down (other than by a stop)", l,
              static_cast<double>(st.flaps));
        w.add("tern_bgp_connect_failures", "gauge",
              "Connection failures in a row, each doubling the wait before the next attempt", l,
              static_cast<double>(st.failures));
    }
}

// Build info and the process, as Prometheus' client libraries name them.
void process_metrics(Writer& w, const PublishTimes* publish_times) {
    w.add("tern_build_info", "gauge", "The running build: its version (git describe) as a label, value 1",
          label({{"version", kVersion}}), 1);
    if (publish_times) {
        const auto& t = *publish_times;
        w.histogram("tern_table_publish_duration_seconds",
                    "Time to build a forwarding table (Maglev rings included) and publish it", "",
                    PublishTimes::kBounds, t.counts, t.sum, t.count);
    }
    const auto p = read_process_stats();
    if (!p) return;
    w.add("process_cpu_seconds_total", "counter", "CPU time the process used, user and system, in seconds", "",
          p->cpu_seconds);
    w.add("process_resident_memory_bytes", "gauge", "The process's resident set size in bytes", "", p->resident_bytes);
    w.add("process_virtual_memory_bytes", "gauge", "The process's virtual memory size in bytes", "", p->virtual_bytes);
    w.add("process_start_time_seconds", "gauge", "When the process started, in seconds since the Unix epoch", "",
          p->start_time_s);
    w.add("process_open_fds", "gauge", "File descriptors the process has open", "", p->open_fds);
    w.add("process_max_fds", "gauge", "The process's limit on open file descriptors (soft)", "", p->max_fds);
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
        for (size_t c = 0; c < dp::kPuntClassCount; ++c) {
            const std::string cl = label({{"lcore", std::to_string(lc.lcore)},
                                          {"class", std::string(dp::punt_class_name(static_cast<dp::PuntClass>(c)))}});
            w.add("tern_lcore_exception_passed_packets_total", "counter",
                  "Packets for the kernel that passed their class's budget on an lcore", cl,
                  static_cast<double>(lc.punt_passed[c]));
            w.add("tern_lcore_exception_policed_packets_total", "counter",
                  "Packets for the kernel dropped over their class's budget on an lcore", cl,
                  static_cast<double>(lc.punt_policed[c]));
        }
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
                         const std::vector<Unresolved>& unresolved, const PublishTimes* publish_times) {
    Writer w;
    pool_metrics(w, pools, unresolved);
    bgp_metrics(w, speaker);
    dataplane_metrics(w, stats, flow_capacity);
    process_metrics(w, publish_times);
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
