#include "control/ops/telemetry.h"

#include <fmt/format.h>
#include <rte_telemetry.h>

#include <cstring>

#include "control/ops/api.h"

namespace tern::ctl {
namespace {

std::mutex g_mutex;
TelemetrySnapshot g_snapshot;
bool g_registered = false;

const TelemetrySnapshot::Service* find(const char* params) {
    if (params == nullptr) return nullptr;
    for (const auto& s : g_snapshot.services) {
        if (s.name == params) return &s;
    }
    return nullptr;
}

// Telemetry keys and strings are bounded (RTE_TEL_MAX_STRING_LEN).
std::string cut(const std::string& s) { return s.substr(0, RTE_TEL_MAX_STRING_LEN - 1); }

int on_services(const char*, const char*, rte_tel_data* d) {
    std::lock_guard lock(g_mutex);
    rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
    size_t n = 0;
    for (const auto& s : g_snapshot.services) {
        if (++n > RTE_TEL_MAX_ARRAY_ENTRIES) break;
        rte_tel_data_add_array_string(d, cut(s.name).c_str());
    }
    return 0;
}

int on_service(const char*, const char* params, rte_tel_data* d) {
    std::lock_guard lock(g_mutex);
    const auto* s = find(params);
    if (s == nullptr) return -EINVAL;
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "name", cut(s->name).c_str());
    rte_tel_data_add_dict_string(d, "vip", s->vip.c_str());
    rte_tel_data_add_dict_int(d, "port", s->port);
    rte_tel_data_add_dict_string(d, "protocol", s->protocol.c_str());
    rte_tel_data_add_dict_string(d, "scheduler", s->scheduler.c_str());
    rte_tel_data_add_dict_string(d, "forward", s->forward.c_str());
    rte_tel_data_add_dict_string(d, "depool_threshold", fmt::format("{}", s->depool_threshold).c_str());
    rte_tel_data_add_dict_u64(d, "packets", s->packets);
    rte_tel_data_add_dict_u64(d, "bytes", s->bytes);
    uint64_t up = 0, pooled = 0, enabled = 0;
    for (const auto& r : s->servers) {
        up += r.up;
        pooled += r.pooled;
        enabled += r.enabled;
    }
    rte_tel_data_add_dict_u64(d, "servers", s->servers.size());
    rte_tel_data_add_dict_u64(d, "servers_enabled", enabled);
    rte_tel_data_add_dict_u64(d, "servers_up", up);
    rte_tel_data_add_dict_u64(d, "servers_pooled", pooled);
    rte_tel_data* st = rte_tel_data_alloc();
    if (st != nullptr) {
        rte_tel_data_start_dict(st);
        size_t n = 0;
        for (const auto& r : s->servers) {
            if (++n > RTE_TEL_MAX_DICT_ENTRIES) break;
            rte_tel_data_add_dict_string(st, cut(r.host).c_str(), r.status.c_str());
        }
        rte_tel_data_add_dict_container(d, "status", st, 0);
    }
    return 0;
}

int on_servers(const char*, const char* params, rte_tel_data* d) {
    std::lock_guard lock(g_mutex);
    const auto* s = find(params);
    if (s == nullptr) return -EINVAL;
    rte_tel_data_start_dict(d);
    size_t n = 0;
    for (const auto& r : s->servers) {
        if (++n > RTE_TEL_MAX_DICT_ENTRIES) break;
        rte_tel_data* x = rte_tel_data_alloc();
        if (x == nullptr) break;
        rte_tel_data_start_dict(x);
        rte_tel_data_add_dict_string(x, "ip", r.ip.c_str());
        rte_tel_data_add_dict_int(x, "weight", static_cast<int>(r.weight));
        rte_tel_data_add_dict_string(x, "status", r.status.c_str());
        rte_tel_data_add_dict_int(x, "enabled", r.enabled);
        rte_tel_data_add_dict_int(x, "up", r.up);
        rte_tel_data_add_dict_int(x, "pooled", r.pooled);
        rte_tel_data_add_dict_u64(x, "active_conns", r.active);
        rte_tel_data_add_dict_u64(x, "inactive_conns", r.inactive);
        rte_tel_data_add_dict_u64(x, "packets", r.packets);
        rte_tel_data_add_dict_u64(x, "bytes", r.bytes);
        rte_tel_data_add_dict_container(d, cut(r.host).c_str(), x, 0);
    }
    return 0;
}

int on_flows(const char*, const char*, rte_tel_data* d) {
    std::lock_guard lock(g_mutex);
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "entries", g_snapshot.flows);
    rte_tel_data_add_dict_u64(d, "capacity", g_snapshot.flow_capacity);
    return 0;
}

int on_alerts(const char*, const char*, rte_tel_data* d) {
    std::lock_guard lock(g_mutex);
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "status", g_snapshot.alert_status.c_str());
    rte_tel_data_add_dict_string(d, "msg", cut(g_snapshot.alert_msg).c_str());
    return 0;
}

}  // namespace

TelemetrySnapshot telemetry_snapshot(const conf::Config& effective, const Pools& pools, const Stats& stats,
                                     uint64_t flow_capacity, const std::vector<Unresolved>& unresolved) {
    TelemetrySnapshot t;
    for (const auto& cs : effective.services) {
        TelemetrySnapshot::Service s;
        s.name = cs.name;
        s.vip = cs.vip.str();
        s.port = cs.port;
        s.protocol = conf::to_string(cs.protocol);
        s.scheduler = conf::to_string(cs.scheduler);
        s.forward = conf::to_string(cs.forward);
        s.depool_threshold = cs.depool_threshold;
        const ServiceStats* ss = nullptr;
        for (const auto& x : stats.services) {
            if (x.name == cs.name) ss = &x;
        }
        if (ss) {
            s.packets = ss->packets;
            s.bytes = ss->bytes;
        }
        auto pit = pools.services().find(cs.name);
        for (const auto& rs : cs.realservers) {
            TelemetrySnapshot::Server r;
            r.host = rs.host;
            r.ip = rs.ip.str();
            r.weight = rs.weight;
            r.enabled = rs.enabled;
            if (pit != pools.services().end()) {
                if (const auto* st = pit->second.server(rs.host)) {
                    r.up = st->up;
                    r.pooled = st->pooled;
                    r.status = st->text_status();
                }
            }
            if (ss) {
                for (const auto& x : ss->servers) {
                    if (x.host != rs.host) continue;
                    r.active = x.active_conns;
                    r.inactive = x.inactive_conns;
                    r.packets = x.packets;
                    r.bytes = x.bytes;
                    t.flows += x.active_conns + x.inactive_conns;
                }
            }
            s.servers.push_back(std::move(r));
        }
        t.services.push_back(std::move(s));
    }
    t.flow_capacity = flow_capacity;
    const Alerts a = alerts(pools, unresolved);
    t.alert_status = a.status;
    t.alert_msg = a.msg;
    return t;
}

std::string Telemetry::register_endpoints() {
    if (g_registered) return "";
    struct Cmd {
        const char* name;
        telemetry_cb fn;
        const char* help;
    };
    const Cmd cmds[] = {
        {"/tern/services", on_services, "Tern's service names. Takes no parameters"},
        {"/tern/service", on_service,
         "One service: address, scheduler, server counts and status. Parameter: service name"},
        {"/tern/servers", on_servers, "One service's servers with their state and counters. Parameter: service name"},
        {"/tern/flows", on_flows, "Flow-table entries and capacity over all lcores. Takes no parameters"},
        {"/tern/alerts", on_alerts, "PyBal's alert status and message. Takes no parameters"},
    };
    for (const auto& c : cmds) {
        if (rte_telemetry_register_cmd(c.name, c.fn, c.help) != 0) {
            return fmt::format("telemetry: cannot register {}", c.name);
        }
    }
    g_registered = true;
    return "";
}

void Telemetry::publish(TelemetrySnapshot snapshot) {
    std::lock_guard lock(g_mutex);
    g_snapshot = std::move(snapshot);
}

}  // namespace tern::ctl
