#include "control/ops/api.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <map>

namespace tern::ctl {
namespace {

using json = nlohmann::json;

json dump_state(const ServerState& s) {
    return json{{"pooled", s.pooled}, {"weight", s.weight}, {"up", s.up}, {"enabled", s.enabled}};
}

HttpResponse reply(bool want_json, const json& j, std::string text, int status = 200) {
    if (want_json) return {status, "application/json", j.dump()};
    return {status, "text/plain", std::move(text)};
}

HttpResponse not_found(bool want_json) {
    const std::string msg = "The desired url was not found";
    return reply(want_json, json{{"error", msg}}, msg, 404);
}

}  // namespace

Alerts alerts(const Pools& pools, const std::vector<Unresolved>& unresolved,
              const std::vector<std::string>& appliance) {
    Alerts a{"ok", ""};
    std::vector<std::string> critical = appliance;
    for (const auto& [name, pool] : pools.services()) {
        const auto n = static_cast<double>(pool.servers().size());
        if (!pool.pooled_down().empty()) {
            std::string list;
            for (const auto& h : pool.pooled_down()) list += (list.empty() ? "" : ", ") + h;
            critical.push_back(fmt::format("{}: Servers {} are marked down but pooled", name, list));
        } else if (n < n * pool.depool_threshold() + 1) {
            a.status = "warning";
            a.msg += fmt::format("Pool {} is too small to allow depooling. ", name);
        }
    }
    for (const auto& [name, h] : pools.held()) {
        if (a.status == "ok") a.status = "warning";
        a.msg += fmt::format("Pool {} held, last good pool kept: {}{}. ", name, h.reason,
                             h.confirmable ? fmt::format(" (`confirm pool {}` takes it)", name) : "");
    }
    for (const auto& [name, err] : pools.source_errors()) {
        if (a.status == "ok") a.status = "warning";
        a.msg += fmt::format("Pool {} source failing, last good pool kept: {}. ", name, err);
    }
    std::map<std::string, std::string> no_mac;  // by service
    for (const auto& u : unresolved) {
        std::string& list = no_mac[u.service];
        list += fmt::format("{}{} ({}{})", list.empty() ? "" : ", ", u.host, u.server.str(),
                            u.hop == u.server ? "" : " via " + u.hop.str());
    }
    for (const auto& [name, list] : no_mac) {
        critical.push_back(fmt::format("{}: Servers {} are pooled but their MAC is unknown (no_neighbor)", name, list));
    }
    if (!critical.empty()) {
        a.status = "critical";
        a.msg.clear();
        for (const auto& c : critical) a.msg += (a.msg.empty() ? "" : "; ") + c;
    }
    if (a.status == "ok") a.msg = "All pools are healthy";
    return a;
}

HttpResponse api_answer(const Pools& pools, const HttpRequest& request, const std::function<std::string()>& metrics,
                        const std::vector<Unresolved>& unresolved, const std::vector<std::string>& critical) {
    const bool want_json = request.accept.find("application/json") != std::string::npos;
    std::string path = request.target.substr(0, request.target.find('?'));
    if (path == "/metrics") {
        return {200, "text/plain; version=0.0.4; charset=utf-8", metrics ? metrics() : ""};
    }
    if (path == "/alerts") {
        const Alerts a = alerts(pools, unresolved, critical);
        std::string upper = a.status;
        for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return reply(want_json, json{{"status", a.status}, {"msg", a.msg}}, fmt::format("{} - {}", upper, a.msg));
    }
    if (path == "/pools" || path == "/pools/") {
        json j = json::array();
        std::string text;
        for (const auto& [name, pool] : pools.services()) {
            j.push_back(name);
            text += name + "\n";
        }
        return reply(want_json, j, text);
    }
    if (path.rfind("/pools/", 0) != 0) return not_found(want_json);
    std::string rest = path.substr(7);
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    const size_t slash = rest.find('/');
    const std::string service = rest.substr(0, slash);
    auto it = pools.services().find(service);
    if (it == pools.services().end()) return not_found(want_json);
    const ServicePool& pool = it->second;
    if (slash == std::string::npos) {
        json j = json::object();
        std::string text;
        for (const auto& [host, s] : pool.servers()) {
            j[host] = dump_state(s);
            text += fmt::format("{}:\t{}\n", host, s.text_status());
        }
        return reply(want_json, j, text);
    }
    const ServerState* s = pool.server(rest.substr(slash + 1));
    if (s == nullptr) return not_found(want_json);
    return reply(want_json, dump_state(*s), s->text_status() + "\n");
}

}  // namespace tern::ctl
