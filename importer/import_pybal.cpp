// `tern import-pybal`: PyBal's pybal.conf and pool files to a Tern YAML.
// PyBal's rules come from its sources: the INI file is read by Python 2's
// ConfigParser, list-valued options are Python literals, monitor options are
// "<monitor lower-cased>.<option>" keys of the service's section, pool files
// are one Python dict per line (or JSON when the name ends in .json).
#include "importer/import_pybal.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "conf/config.h"
#include "control/config/monitor_spec.h"
#include "health/monitor_kind.h"

namespace tern::importer {

// ---------------------------------------------------------------- the import

namespace {

constexpr const char* kPlaceholderIpv4 = "192.0.2.1";
constexpr const char* kPlaceholderIpv6 = "2001:db8::1";
constexpr const char* kPlaceholderDevice = "0000:00:00.0";

// A YAML scalar for `s`: plain when that reads back as the same string, else double-quoted.
std::string yq(const std::string& s) {
    static const std::set<std::string> kWords = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"};
    bool plain = !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '/' || s[0] == '_') &&
                 kWords.count(pybal_lower(s)) == 0;
    for (char c : s)
        // (c != 0: strchr finds the terminating NUL, which made a NUL byte "plain".)
        plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || (c != 0 && std::strchr("_./-", c) != nullptr));
    if (plain) return s;
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

std::string yq_list(const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + yq(v[i]);
    return out + "]";
}

std::string num(double d) {
    if (std::floor(d) == d && std::fabs(d) < 1e15) return fmt::format("{}", static_cast<long long>(d));
    return fmt::format("{}", d);
}

// PyBal's ConfigDict.getboolean.
std::optional<bool> py_bool(const std::string& text) {
    const std::string v = pybal_lower(pybal_strip(text));
    if (v == "t" || v == "true" || v == "y" || v == "yes" || v == "on" || v == "1") return true;
    if (v == "f" || v == "false" || v == "n" || v == "no" || v == "off" || v == "0") return false;
    return std::nullopt;
}

std::optional<double> py_number(const std::string& text, bool integer) {
    const std::string v = pybal_strip(text);
    if (v.empty()) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const double d = std::strtod(v.c_str(), &end);
    if (*end != '\0' || errno != 0 || !std::isfinite(d)) return std::nullopt;
    if (integer && (std::floor(d) != d || v.find_first_of(".eE") != std::string::npos)) return std::nullopt;
    return d;
}

// A string or a non-empty list of strings, as PyBal's _getConfigStringList.
std::optional<std::vector<std::string>> string_list(const PyValue& v) {
    if (v.kind == PyValue::Kind::string) return std::vector<std::string>{v.s};
    if (v.kind != PyValue::Kind::list || v.items.empty()) return std::nullopt;
    std::vector<std::string> out;
    for (const auto& x : v.items) {
        if (x.kind != PyValue::Kind::string) return std::nullopt;
        out.push_back(x.s);
    }
    return out;
}

// The monitor kinds and their PyBal options come from health's registry.
using health::MonitorKind;
using health::OptionSpec;
using health::OptionType;
using health::OptionValue;

const MonitorKind* find_monitor(const std::string& name) {
    for (const MonitorKind* m : health::monitor_kinds()) {
        if (pybal_lower(m->name) == pybal_lower(name)) return m;
    }
    return nullptr;
}

struct Server {
    std::string host;
    long long weight = 10;  // PyBal's default
    bool enabled = true;
    int line = 0;
};

class Importer {
public:
    Importer(const std::string& name, const ImportOptions& o) : name_(name), o_(o) {}

    ImportResult run(const std::string& text);

private:
    void report(int line, const std::string& section, std::string message) {
        reports_.push_back({name_, line, section, std::move(message)});
    }
    void report_at(const std::string& file, int line, const std::string& section, std::string message) {
        reports_.push_back({file, line, section, std::move(message)});
    }
    void global(const IniSection* g);
    void bgp(const IniSection& g);
    void service(const IniSection& s);
    std::string monitors(const IniSection& s);
    std::optional<std::string> monitor_option(const IniSection& s, const MonitorKind& m, const OptionSpec& spec,
                                              const IniEntry& e, double* number);
    std::vector<Server> pool_file(const IniSection& s, const std::string& url, std::string& file);

    const std::string& name_;
    const ImportOptions& o_;
    std::vector<ImportReport> reports_;
    std::string bgp_yaml_, http_yaml_, services_yaml_;
    bool bgp_on_ = false;
    bool has_v6_vip_ = false;
    std::string nexthop_v4_, nexthop_v6_;
    std::map<std::string, std::string> claimed_;  // "VIP port P/proto" -> the service that has it
    std::set<std::string> names_;                 // the services' names so far
};

void Importer::global(const IniSection* g) {
    if (g == nullptr) {
        http_yaml_ = "http:\n  enabled: false\n";
        return;
    }
    static const std::set<std::string> kBgpKeys = {
        "bgp",           "bgp-local-asn",    "bgp-peer-address", "bgp-as-path",
        "bgp-med",       "bgp-nexthop-ipv4", "bgp-nexthop-ipv6", "bgp-local-ips",
        "bgp-local-port"};
    for (const auto& e : g->entries) {
        if (kBgpKeys.count(e.key) || e.key == "instrumentation" || e.key == "instrumentation_port" ||
            e.key == "instrumentation_ips") {
            continue;
        }
        report(e.line, g->name, fmt::format("'{}' has no Tern equivalent; ignored", e.key));
    }
    if (const IniEntry* e = g->find("bgp")) {
        auto on = py_bool(e->value);
        if (!on) report(e->line, g->name, fmt::format("bgp = '{}' is not a boolean; BGP left off", e->value));
        bgp_on_ = on.value_or(false);
    }
    for (const char* k : {"bgp-nexthop-ipv4", "bgp-nexthop-ipv6"}) {
        const IniEntry* e = g->find(k);
        if (e == nullptr) continue;
        auto ip = conf::IpAddr::parse(e->value);
        const bool v4 = k[std::strlen(k) - 1] == '4';
        if (!ip || ip->is_v4() != v4) {
            report(e->line, g->name, fmt::format("{} '{}' is not an IPv{} address; left out", k, e->value, v4 ? 4 : 6));
            continue;
        }
        (v4 ? nexthop_v4_ : nexthop_v6_) = ip->str();
    }
    if (bgp_on_) bgp(*g);

    // The instrumentation HTTP server: PyBal runs it only with instrumentation = yes.
    bool instrumentation = false;
    if (const IniEntry* e = g->find("instrumentation")) {
        auto on = py_bool(e->value);
        if (!on)
            report(e->line, g->name,
                   fmt::format("instrumentation = '{}' is not a boolean; HTTP API left off", e->value));
        instrumentation = on.value_or(false);
    }
    if (!instrumentation) {
        http_yaml_ = "http:\n  enabled: false\n";
        return;
    }
    http_yaml_ = "http:\n  enabled: true\n";
    if (const IniEntry* e = g->find("instrumentation_ips")) {
        auto p = parse_python_literal(e->value);
        auto ips = p.value ? string_list(*p.value) : std::nullopt;
        std::optional<conf::IpAddr> first;
        std::vector<std::string> rest;
        for (const auto& ip : ips.value_or(std::vector<std::string>{})) {
            auto a = conf::IpAddr::parse(ip);
            if (!a) {
                report(e->line, g->name, fmt::format("instrumentation_ips: '{}' is not an IP address; left out", ip));
            } else if (!first) {
                first = a;
            } else {
                rest.push_back(a->str());
            }
        }
        if (!ips)
            report(e->line, g->name,
                   fmt::format("instrumentation_ips '{}' is not a Python list of addresses; used 127.0.0.1", e->value));
        if (first) http_yaml_ += fmt::format("  address: {}\n", yq(first->str()));
        if (!rest.empty()) {
            report(e->line, g->name,
                   fmt::format("instrumentation_ips: Tern's HTTP API listens on one address: used {}, not {}",
                               first->str(), fmt::join(rest, ", ")));
        }
    }
    if (const IniEntry* e = g->find("instrumentation_port")) {
        auto p = py_number(e->value, true);
        if (!p || *p < 0 || *p > 65535) {
            report(e->line, g->name, fmt::format("instrumentation_port '{}' is not a port; used 9090", e->value));
        } else {
            http_yaml_ += fmt::format("  port: {}\n", num(*p));
        }
    } else {
        http_yaml_ += "  port: 9090\n";
    }
}

void Importer::bgp(const IniSection& g) {
    const IniEntry* asn_e = g.find("bgp-local-asn");
    auto asn = asn_e ? py_number(asn_e->value, true) : std::nullopt;
    if (!asn || *asn < 1 || *asn > 4294967295.0) {
        report(asn_e ? asn_e->line : g.find("bgp")->line, g.name,
               asn_e ? fmt::format("bgp-local-asn '{}' is not an AS number; the bgp section is left out", asn_e->value)
                     : "bgp = yes without bgp-local-asn; the bgp section is left out");
        bgp_on_ = false;
        return;
    }
    const auto local = static_cast<long long>(*asn);
    std::string out = fmt::format("bgp:\n  local_asn: {}\n", local);
    if (const IniEntry* e = g.find("bgp-med")) {
        auto med = py_number(e->value, true);
        if (!med || *med < 0 || *med > 4294967295.0) {
            report(e->line, g.name, fmt::format("bgp-med '{}' is not a MED; used 0", e->value));
        } else {
            out += fmt::format("  med: {}\n", num(*med));
        }
    }
    if (const IniEntry* e = g.find("bgp-as-path")) {
        std::istringstream words(e->value);
        std::string w;
        long long copies = 0;
        bool only_local = true;
        while (words >> w) {
            auto n = py_number(w, true);
            only_local = only_local && n && static_cast<long long>(*n) == local;
            ++copies;
        }
        if (!only_local || copies == 0) {
            report(e->line, g.name,
                   fmt::format("bgp-as-path '{}' is not copies of bgp-local-asn {}: Tern only prepends "
                               "its own AS (as_path_prepend); used as_path_prepend: 0",
                               e->value, local));
        } else if (copies - 1 > 16) {
            report(e->line, g.name,
                   fmt::format("bgp-as-path has {} copies of AS {}; Tern prepends at most 16 more; used 16", copies,
                               local));
            out += "  as_path_prepend: 16\n";
        } else if (copies > 1) {
            out += fmt::format("  as_path_prepend: {}\n", copies - 1);
        }
    }
    if (!nexthop_v4_.empty()) out += fmt::format("  next_hop_v4: {}\n", yq(nexthop_v4_));
    if (!nexthop_v6_.empty()) out += fmt::format("  next_hop_v6: {}\n", yq(nexthop_v6_));
    if (const IniEntry* e = g.find("bgp-local-ips")) {
        auto p = parse_python_literal(e->value);
        auto ips = p.value ? string_list(*p.value) : std::nullopt;
        if (!ips) {
            report(e->line, g.name,
                   fmt::format("bgp-local-ips '{}' is not a Python list; Tern listens on every address", e->value));
        } else if (!(*ips)[0].empty()) {
            auto a = conf::IpAddr::parse((*ips)[0]);
            if (a) out += fmt::format("  listen_address: {}\n", yq(a->str()));
            else
                report(
                    e->line, g.name,
                    fmt::format("bgp-local-ips: '{}' is not an IP address; Tern listens on every address", (*ips)[0]));
            if (ips->size() > 1) {
                report(e->line, g.name,
                       fmt::format("bgp-local-ips: Tern listens on one address: used {}, not the other {}", (*ips)[0],
                                   ips->size() - 1));
            }
        }
    }
    if (const IniEntry* e = g.find("bgp-local-port")) {
        auto p = py_number(e->value, true);
        if (!p || *p < 1 || *p > 65535)
            report(e->line, g.name, fmt::format("bgp-local-port '{}' is not a port; used 179", e->value));
        else out += fmt::format("  listen_port: {}\n", num(*p));
    }
    // PyBal: a bare address, or a Python list of them.
    const IniEntry* pe = g.find("bgp-peer-address");
    std::vector<std::string> peers;
    if (pe != nullptr && !pe->value.empty()) {
        if (pe->value[0] != '[') {
            peers.push_back(pe->value);
        } else {
            auto p = parse_python_literal(pe->value);
            auto v = p.value ? string_list(*p.value) : std::nullopt;
            if (!v)
                report(pe->line, g.name,
                       fmt::format("bgp-peer-address '{}' is not a Python list of addresses{}", pe->value,
                                   p.error.empty() ? "" : ": " + p.error));
            else peers = *v;
        }
    }
    std::string list;
    std::set<std::string> seen;
    for (const auto& a : peers) {
        auto ip = conf::IpAddr::parse(pybal_strip(a));
        if (!ip) {
            report(pe->line, g.name, fmt::format("bgp-peer-address: '{}' is not an IP address; peer left out", a));
        } else if (seen.insert(ip->str()).second) {
            list += fmt::format("    - {{address: {}, asn: {}}}\n", yq(ip->str()), local);
        }
    }
    if (list.empty()) {
        report(pe ? pe->line : g.line, g.name, "bgp = yes but no usable bgp-peer-address: bgp.peers is empty");
        out += "  peers: []\n";
    } else {
        report(pe->line, g.name,
               fmt::format("bgp-peer-address: PyBal takes each router's AS from its OPEN, Tern needs it: "
                           "wrote asn: {} (bgp-local-asn, an internal peer); set bgp.peers[].asn",
                           local));
        out += "  peers:\n" + list;
    }
    bgp_yaml_ = out;
}

// A monitor option's YAML value, or nullopt (reported). `number` gets numeric values.
std::optional<std::string> Importer::monitor_option(const IniSection& s, const MonitorKind& m, const OptionSpec& spec,
                                                    const IniEntry& e, double* number) {
    auto bad = [&](const std::string& why) -> std::optional<std::string> {
        report(e.line, s.name, fmt::format("{}: {}; dropped", e.key, why));
        return std::nullopt;
    };
    switch (spec.type) {
        case OptionType::real:
        case OptionType::uint: {
            auto n = py_number(e.value, spec.type == OptionType::uint);
            if (!n)
                return bad(
                    fmt::format("'{}' is not {}", e.value, spec.type == OptionType::uint ? "an integer" : "a number"));
            if (*n < spec.min || *n > spec.max)
                return bad(fmt::format("{} is outside Tern's range {}..{}", e.value, num(spec.min), num(spec.max)));
            *number = *n;
            return num(*n);
        }
        case OptionType::boolean: {
            auto b = py_bool(e.value);
            if (!b) return bad(fmt::format("'{}' is not a boolean", e.value));
            return *b ? "true" : "false";
        }
        case OptionType::str: {
            if (e.value.empty()) return bad("empty");
            if (spec.check != nullptr) {
                if (const auto why = spec.check(OptionValue{e.value}); !why.empty())
                    return bad(fmt::format("{}", fmt::join(why, "; ")));
            }
            return yq(e.value);
        }
        case OptionType::uint_list: {
            auto p = parse_python_literal(e.value);
            std::vector<std::string> out;
            bool ok = p.value.has_value();
            if (ok && p.value->kind == PyValue::Kind::integer) {
                p.value->items.push_back(*p.value);
            } else if (ok && p.value->kind != PyValue::Kind::list) {
                ok = false;
            }
            for (const auto& x : ok ? p.value->items : std::vector<PyValue>{}) {
                ok = ok && x.kind == PyValue::Kind::integer && x.i >= spec.min && x.i <= spec.max;
                out.push_back(std::to_string(x.i));
            }
            if (!ok || out.empty())
                return bad(fmt::format("'{}' is not a status code or a list of them ({}..{})", e.value, num(spec.min),
                                       num(spec.max)));
            return out.size() == 1 ? out[0] : "[" + fmt::format("{}", fmt::join(out, ", ")) + "]";
        }
        case OptionType::str_list: {
            const bool refs = std::string(m.name) == "RunCommand";
            auto p = parse_python_literal(e.value, refs);
            if (!p.value)
                return bad(
                    fmt::format("cannot read '{}' as PyBal would (a Python string or list): {}", e.value, p.error));
            auto v = string_list(*p.value);
            if (!v) return bad(fmt::format("'{}' is not a string or a non-empty list of strings", e.value));
            // The kind's own check (ProxyFetch's URLs), as `tern check` applies it.
            if (spec.check != nullptr) {
                if (const auto why = spec.check(OptionValue{*v}); !why.empty())
                    return bad(fmt::format("{}", fmt::join(why, "; ")));
            }
            if (p.placeholder_clash) {
                report(e.line, s.name,
                       fmt::format("{}: a literal string holds '{{host}}', '{{ip}}', '{{port}}' or '{{service}}', "
                                   "which Tern replaces and PyBal did not",
                                   e.key));
            }
            return yq_list(*v);
        }
    }
    return std::nullopt;
}

std::string Importer::monitors(const IniSection& s) {
    const IniEntry* me = s.find("monitors");
    std::vector<const MonitorKind*> list;
    if (me == nullptr) {
        report(s.line, s.name, "no 'monitors' (PyBal requires it): the service has no monitors");
    } else {
        auto p = parse_python_literal(me->value);
        const bool is_list = p.value && p.value->kind == PyValue::Kind::list;
        if (!is_list) {
            report(me->line, s.name,
                   fmt::format("monitors '{}' is not a Python list{}; the service has no monitors", me->value,
                               p.error.empty() ? "" : ": " + p.error));
        }
        for (const auto& v : is_list ? p.value->items : std::vector<PyValue>{}) {
            const MonitorKind* m = v.kind == PyValue::Kind::string ? find_monitor(v.s) : nullptr;
            if (m == nullptr) {
                report(me->line, s.name,
                       fmt::format("monitor {} has no Tern equivalent; left out",
                                   v.kind == PyValue::Kind::string ? "'" + v.s + "'" : "(not a string)"));
            } else if (std::find(list.begin(), list.end(), m) != list.end()) {
                report(me->line, s.name, fmt::format("monitor '{}' is listed twice; used once", m->name));
            } else {
                list.push_back(m);
            }
        }
    }
    // Options of monitors not in the list, or unknown to Tern.
    for (const auto& e : s.entries) {
        const size_t dot = e.key.find('.');
        if (dot == std::string::npos) continue;
        const MonitorKind* m = find_monitor(e.key.substr(0, dot));
        if (m == nullptr) {
            report(e.line, s.name, fmt::format("'{}' has no Tern equivalent (no such monitor); ignored", e.key));
        } else if (std::find(list.begin(), list.end(), m) == list.end()) {
            report(e.line, s.name, fmt::format("'{}' is for {}, which is not in 'monitors'; ignored", e.key, m->name));
        } else {
            const std::string opt = e.key.substr(dot + 1);
            const bool known =
                std::any_of(m->options.begin(), m->options.end(), [&](const OptionSpec& o) { return o.name == opt; });
            if (!known)
                report(e.line, s.name, fmt::format("'{}': Tern's {} has no option '{}'; dropped", e.key, m->name, opt));
        }
    }
    std::string out;
    for (const MonitorKind* m : list) {
        const std::string prefix = pybal_lower(m->name) + ".";
        std::string body;
        const OptionSpec* required = health::required_option(*m);
        bool has_required = required == nullptr;
        std::string unusable;  // an option the monitor would mean something else without
        std::optional<double> interval, timeout;
        const IniEntry *timeout_e = nullptr, *interval_e = nullptr;
        for (const OptionSpec& spec : m->options) {
            const IniEntry* e = s.find(prefix + spec.name);
            if (e == nullptr) continue;
            double number = 0;
            auto v = monitor_option(s, *m, spec, *e, &number);
            const std::string name = spec.name;
            if (!v) {
                if (name == "arguments" && unusable.empty()) unusable = e->key;
                continue;
            }
            if (required != nullptr && name == required->name) has_required = true;
            if (name == "interval") {
                interval = number;
                interval_e = e;
            }
            if (name == "timeout") {
                timeout = number;
                timeout_e = e;
                continue;  // written below, once checked against the interval
            }
            body += fmt::format("        {}: {}\n", name, *v);
        }
        if (!has_required) {
            report(me->line, s.name,
                   fmt::format("monitor {} left out: it needs a usable '{}{}'", m->name, prefix, required->name));
            continue;
        }
        if (!unusable.empty()) {
            report(me->line, s.name,
                   fmt::format("monitor {} left out: without a usable '{}' it would check something else", m->name,
                               unusable));
            continue;
        }
        if (std::string(m->name) == "ProxyFetch") {  // Tern's timeout covers a whole check, within the interval
            const double iv = interval.value_or(10), to = timeout.value_or(5);
            if (to > iv) {
                report(timeout_e    ? timeout_e->line
                       : interval_e ? interval_e->line
                                    : me->line,
                       s.name,
                       fmt::format(
                           "ProxyFetch timeout {} s exceeds its interval {} s, which Tern refuses; used timeout {}",
                           num(to), num(iv), num(iv)));
                timeout = iv;
            }
        }
        if (timeout) body += fmt::format("        timeout: {}\n", num(*timeout));
        out += body.empty() ? fmt::format("      {}: {{}}\n", m->name) : fmt::format("      {}:\n{}", m->name, body);
    }
    return out.empty() ? "" : "    monitors:\n" + out;
}

// The servers of a file:// pool, in PyBal's formats. `file` gets the path read.
std::vector<Server> Importer::pool_file(const IniSection& s, const std::string& url, std::string& file) {
    std::vector<Server> out;
    file = url.substr(std::strlen("file://"));
    if (!o_.pools_dir.empty()) {
        const size_t slash = file.rfind('/');
        file = o_.pools_dir + "/" + (slash == std::string::npos ? file : file.substr(slash + 1));
    }
    std::string error;
    std::optional<std::string> text = o_.read_file ? o_.read_file(file, error) : std::nullopt;
    const int cline = s.find("config")->line;
    if (!text) {
        report(cline, s.name,
               fmt::format("cannot read the pool file {}: {}; the service has no servers", file,
                           error.empty() ? "no reader" : error));
        return out;
    }
    auto add = [&](Server sv) {
        auto it = std::find_if(out.begin(), out.end(), [&](const Server& x) { return x.host == sv.host; });
        if (it == out.end()) {
            out.push_back(sv);
            return;
        }
        report_at(file, sv.line, s.name,
                  fmt::format("host '{}' is listed again (first at line {}); the last entry is used, as PyBal does",
                              sv.host, it->line));
        *it = sv;
    };
    if (url.size() >= 5 && url.compare(url.size() - 5, 5, ".json") == 0) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(*text);
        } catch (const nlohmann::json::parse_error& e) {
            const size_t upto = std::min<size_t>(e.byte, text->size());
            const int line =
                1 + static_cast<int>(std::count(text->begin(), text->begin() + static_cast<long>(upto), '\n'));
            report_at(file, line, s.name, fmt::format("not JSON ({}); the service has no servers", e.what()));
            return out;
        }
        if (!j.is_object()) {
            report_at(file, 1, s.name,
                      "a JSON pool file must be an object of host: {enabled, weight}; the service has no servers");
            return out;
        }
        for (const auto& [host, conf] : j.items()) {
            Server sv;
            sv.host = host;
            const size_t at = text->find("\"" + host + "\"");
            sv.line =
                1 + static_cast<int>(std::count(
                        text->begin(), text->begin() + static_cast<long>(at == std::string::npos ? 0 : at), '\n'));
            if (!conf.is_object()) {
                report_at(file, sv.line, s.name, fmt::format("host '{}': not an object; server skipped", host));
                continue;
            }
            if (conf.contains("weight")) {
                if (conf["weight"].is_number_integer()) sv.weight = conf["weight"].get<long long>();
                else
                    report_at(file, sv.line, s.name,
                              fmt::format("host '{}': weight is not an integer; used 10, as PyBal does", host));
            }
            if (conf.contains("enabled")) {
                if (conf["enabled"].is_boolean()) sv.enabled = conf["enabled"].get<bool>();
                else
                    report_at(file, sv.line, s.name,
                              fmt::format("host '{}': enabled is not true/false; used true, as PyBal does", host));
            }
            add(sv);
        }
        return out;
    }
    std::istringstream in(*text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        line = pybal_strip(line);
        if (line.empty() || line[0] == '#') continue;
        auto p = parse_python_literal(line);
        auto skip = [&](const std::string& why) {
            report_at(file, n, s.name, fmt::format("{}; line skipped, as PyBal does", why));
        };
        if (!p.value) {
            skip("not a Python literal: " + p.error);
            continue;
        }
        if (p.value->kind != PyValue::Kind::dict) {
            skip("not a Python dict");
            continue;
        }
        const PyValue *host = nullptr, *weight = nullptr, *enabled = nullptr;
        for (const auto& [k, v] : p.value->entries) {
            if (k.kind != PyValue::Kind::string) continue;
            if (k.s == "host") host = &v;
            if (k.s == "weight") weight = &v;
            if (k.s == "enabled") enabled = &v;
        }
        if (host == nullptr || weight == nullptr || enabled == nullptr) {
            skip(fmt::format("no '{}'", host == nullptr ? "host" : weight == nullptr ? "weight" : "enabled"));
            continue;
        }
        if (host->kind != PyValue::Kind::string || host->s.empty()) {
            skip("'host' is not a name");
            continue;
        }
        Server sv;
        sv.host = host->s;
        sv.line = n;
        if (weight->kind == PyValue::Kind::integer) sv.weight = weight->i;
        else
            report_at(file, n, s.name,
                      fmt::format("host '{}': weight is not an integer; used 10, as PyBal does", sv.host));
        if (enabled->kind == PyValue::Kind::boolean) sv.enabled = enabled->b;
        else
            report_at(file, n, s.name,
                      fmt::format("host '{}': enabled is not True/False; used True, as PyBal does", sv.host));
        add(sv);
    }
    return out;
}

void Importer::service(const IniSection& s) {
    static const std::set<std::string> kKeys = {
        "protocol", "ip", "port", "scheduler", "config", "bgp", "bgp-med", "depool-threshold", "monitors", "ops"};
    for (const auto& e : s.entries) {
        if (!kKeys.count(e.key) && e.key.find('.') == std::string::npos) {
            report(e.line, s.name, fmt::format("'{}' has no Tern equivalent; ignored", e.key));
        }
    }
    // VIPs: PyBal takes one address; a list becomes one service per address.
    const IniEntry* ipe = s.find("ip");
    std::vector<std::string> vips;
    if (ipe == nullptr) {
        report(s.line, s.name, "no 'ip'; service skipped");
        return;
    }
    std::vector<std::string> given{ipe->value};
    if (!ipe->value.empty() && ipe->value[0] == '[') {
        auto p = parse_python_literal(ipe->value);
        auto v = p.value ? string_list(*p.value) : std::nullopt;
        if (!v) {
            report(ipe->line, s.name,
                   fmt::format("ip '{}' is not an address or a Python list of them; service skipped", ipe->value));
            return;
        }
        given = *v;
    }
    for (const auto& g : given) {
        auto a = conf::IpAddr::parse(pybal_strip(g));
        if (a) vips.push_back(a->str());
        else report(ipe->line, s.name, fmt::format("ip: '{}' is not an IP address; left out", g));
    }
    if (vips.empty()) {
        report(ipe->line, s.name, "no usable VIP; service skipped");
        return;
    }
    const IniEntry* pe = s.find("port");
    auto port = pe ? py_number(pe->value, true) : std::nullopt;
    if (!port || *port < 1 || *port > 65535) {
        report(pe ? pe->line : s.line, s.name,
               pe ? fmt::format("port '{}' is not a port; service skipped", pe->value) : "no 'port'; service skipped");
        return;
    }
    std::string protocol = "tcp";
    if (const IniEntry* e = s.find("protocol")) {
        if (e->value != "tcp" && e->value != "udp") {
            report(e->line, s.name, fmt::format("protocol '{}' is neither tcp nor udp; service skipped", e->value));
            return;
        }
        protocol = e->value;
    } else {
        report(s.line, s.name, "no 'protocol'; used tcp");
    }
    if (const IniEntry* e = s.find("ops")) {
        auto ops = py_bool(e->value);
        if (!ops || *ops)
            report(e->line, s.name,
                   fmt::format(
                       "ops = {}: Tern has no one-packet scheduling; a UDP flow keeps its server until it idles out",
                       e->value));
    }
    std::string scheduler = "maglev";
    if (const IniEntry* e = s.find("scheduler")) {
        static const std::map<std::string, std::string> kMap = {
            {"sh", "sh"}, {"wrr", "wrr"}, {"rr", "rr"}, {"wlc", "wlc"}, {"mh", "maglev"}};
        auto it = kMap.find(e->value);
        if (it != kMap.end()) scheduler = it->second;
        else report(e->line, s.name, fmt::format("scheduler '{}' has no Tern equivalent; used maglev", e->value));
    } else {
        report(s.line, s.name, "no 'scheduler'; used maglev");
    }
    std::string extra;
    if (const IniEntry* e = s.find("depool-threshold")) {
        auto d = py_number(e->value, false);
        if (!d) {
            report(e->line, s.name, fmt::format("depool-threshold '{}' is not a number; used 0.5", e->value));
        } else {
            if (*d < 0 || *d > 1)
                report(e->line, s.name,
                       fmt::format("depool-threshold {} is outside 0..1; used {}", e->value, *d < 0 ? 0 : 1));
            extra += fmt::format("    depool_threshold: {}\n", num(std::clamp(*d, 0.0, 1.0)));
        }
    }
    if (const IniEntry* e = s.find("bgp-med")) {
        auto med = py_number(e->value, true);
        if (!med || *med < 0 || *med > 4294967295.0)
            report(e->line, s.name, fmt::format("bgp-med '{}' is not a MED; left out", e->value));
        else extra += fmt::format("    bgp_med: {}\n", num(*med));
    }
    if (const IniEntry* e = s.find("bgp")) {
        auto on = py_bool(e->value);
        if (bgp_on_ && (!on || !*on)) {
            report(e->line, s.name,
                   fmt::format("bgp = {}: Tern announces every VIP; {} will be announced", e->value,
                               fmt::join(vips, ", ")));
        }
    }
    const std::string mon = monitors(s);

    // The pool.
    std::vector<Server> servers;
    std::string pool_line, pool_file_name;
    const IniEntry* ce = s.find("config");
    if (ce == nullptr) {
        report(s.line, s.name, "no 'config' (the pool URL); the service has no servers");
    } else if (ce->value.rfind("file://", 0) == 0) {
        servers = pool_file(s, ce->value, pool_file_name);
    } else if (ce->value.rfind("http://", 0) == 0 || ce->value.rfind("https://", 0) == 0 ||
               ce->value.rfind("etcd://", 0) == 0) {
        // PyBal's etcd:// speaks HTTPS (port 2379 by default): Tern's etcds://.
        const bool etcd = ce->value.rfind("etcd://", 0) == 0;
        const std::string url = etcd ? "etcds://" + ce->value.substr(7) : ce->value;
        pool_line = fmt::format("    pool: {}\n", yq(url));
        report(ce->line, s.name,
               fmt::format("pool comes from {} at run time{}; realservers left empty (hosts must resolve in DNS)", url,
                           etcd ? " (PyBal's etcd:// is HTTPS: Tern's etcds://)" : ""));
    } else {
        report(
            ce->line, s.name,
            fmt::format("config '{}' is not a file://, http:// or etcd:// URL; the service has no servers", ce->value));
    }

    for (size_t vi = 0; vi < vips.size(); ++vi) {
        const std::string name = vips.size() == 1 ? s.name : fmt::format("{}-{}", s.name, vi + 1);
        // What IPVS would refuse to add twice, Tern's config refuses too.
        const std::string claim = fmt::format("{} port {}/{}", vips[vi], num(*port), protocol);
        if (auto [it, fresh] = claimed_.emplace(claim, name); !fresh) {
            report(ipe->line, s.name,
                   fmt::format("{} is already service '{}''s; service '{}' skipped", claim, it->second, name));
            continue;
        }
        if (!names_.insert(name).second) {
            report(ipe->line, s.name, fmt::format("a service is already named '{}'; this one skipped", name));
            continue;
        }
        const auto vip = *conf::IpAddr::parse(vips[vi]);
        const int family = vip.is_v4() ? AF_INET : AF_INET6;
        has_v6_vip_ = has_v6_vip_ || vip.is_v6();
        if (vips.size() > 1)
            report(ipe->line, s.name,
                   fmt::format("ip lists {} addresses: service '{}' is {}", vips.size(), name, vips[vi]));
        std::string out = fmt::format(
            "  - name: {}\n    vip: {}\n    port: {}\n    protocol: {}\n    scheduler: {}\n    forward: dr\n", yq(name),
            yq(vips[vi]), num(*port), protocol, scheduler);
        out += extra + pool_line + mon;
        std::string rs;
        std::map<std::string, std::string> used;  // ip -> host
        for (const auto& sv : servers) {
            const char* fam = vip.is_v4() ? "IPv4" : "IPv6";
            std::optional<std::string> ip;
            if (auto literal = conf::IpAddr::parse(sv.host)) {
                if (literal->family == vip.family) ip = literal->str();
                else
                    report_at(pool_file_name, sv.line, name,
                              fmt::format("host {} is not {} like VIP {}; server skipped", sv.host, fam, vips[vi]));
                if (!ip) continue;
            } else {
                ip = o_.resolve ? o_.resolve(sv.host, family) : std::nullopt;
                auto parsed = ip ? conf::IpAddr::parse(*ip) : std::nullopt;
                if (!parsed || parsed->family != vip.family) {
                    report_at(pool_file_name, sv.line, name,
                              fmt::format("host '{}' does not resolve to an {} address; server skipped", sv.host, fam));
                    continue;
                }
                ip = parsed->str();
            }
            auto [it, fresh] = used.emplace(*ip, sv.host);
            if (!fresh) {
                report_at(
                    pool_file_name, sv.line, name,
                    fmt::format("host '{}' has the address {} of '{}'; server skipped", sv.host, *ip, it->second));
                continue;
            }
            long long w = sv.weight;
            if (w < 0 || w > 65535) {
                w = std::clamp<long long>(w, 0, 65535);
                report_at(pool_file_name, sv.line, name,
                          fmt::format("host '{}': weight {} is outside 0..65535; used {}", sv.host, sv.weight, w));
            }
            rs += fmt::format("      - {{host: {}, ip: {}, weight: {}, enabled: {}}}\n", yq(sv.host), yq(*ip), w,
                              sv.enabled ? "true" : "false");
        }
        out += rs.empty() ? "    realservers: []\n" : "    realservers:\n" + rs;
        services_yaml_ += out;
    }
}

ImportResult Importer::run(const std::string& text) {
    ImportResult r;
    IniParse ini = parse_ini(text, name_);
    if (!ini.error.empty()) {
        r.error = ini.error;
        return r;
    }
    reports_ = ini.reports;
    const IniSection* g = nullptr;
    for (const auto& s : ini.sections) {
        if (s.name == "global") g = &s;
    }
    global(g);
    for (const auto& s : ini.sections) {
        if (&s != g) service(s);
    }
    if (bgp_on_ && has_v6_vip_ && nexthop_v6_.empty()) {
        report(
            g->line, g->name,
            fmt::format(
                "IPv6 VIPs without bgp-nexthop-ipv6 (PyBal refuses that): wrote next_hop_v6: {}; set bgp.next_hop_v6",
                kPlaceholderIpv6));
        bgp_yaml_.insert(bgp_yaml_.find("\n") + 1, fmt::format("  next_hop_v6: {}\n", yq(kPlaceholderIpv6)));
    }

    std::string ipv4 = o_.node_ipv4;
    if (!ipv4.empty() && !conf::IpAddr::parse(ipv4).value_or(conf::IpAddr{}).is_v4()) {
        report(0, "",
               fmt::format("node.ipv4: '{}' is not an IPv4 address; wrote {}; set node.ipv4", ipv4, kPlaceholderIpv4));
        ipv4 = kPlaceholderIpv4;
    }
    if (ipv4.empty()) ipv4 = nexthop_v4_;
    if (ipv4.empty()) {
        report(0, "",
               fmt::format("node.ipv4: no --node-ipv4 and no bgp-nexthop-ipv4: wrote {}; set node.ipv4",
                           kPlaceholderIpv4));
        ipv4 = kPlaceholderIpv4;
    }
    std::string device = o_.device;
    if (device.empty()) {
        report(0, "",
               fmt::format("ports[0].device: no --device: wrote the placeholder {}; set ports[0].device",
                           kPlaceholderDevice));
        device = kPlaceholderDevice;
    }
    std::string y = fmt::format(
        "# Generated by `tern import-pybal` from {} at {}.\n"
        "# Check every line it reported before use.\n",
        name_, o_.generated_at.empty() ? "an unknown time" : o_.generated_at);
    y += fmt::format("node:\n  name: {}\n  ipv4: {}\n", yq(o_.node_name.empty() ? "tern" : o_.node_name), yq(ipv4));
    y += fmt::format("ports:\n  - name: uplink\n    device: {}\n", yq(device));
    y += bgp_yaml_ + http_yaml_;
    y += services_yaml_.empty() ? "services: []\n" : "services:\n" + services_yaml_;

    // What `tern check` would say, so a problem shows here rather than at deploy time.
    conf::LoadResult check = ctl::load_checked_string(y, name_ + " (generated YAML)");
    for (const auto& e : check.errors) report(0, "", "the generated YAML fails validation: " + e.str());
    r.ok = true;
    r.yaml = std::move(y);
    r.reports = std::move(reports_);
    return r;
}

}  // namespace

ImportResult import_pybal(const std::string& conf_text, const std::string& conf_name, const ImportOptions& options) {
    return Importer(conf_name, options).run(conf_text);
}

ImportResult import_pybal_file(const std::string& path, ImportOptions options) {
    auto read = [](const std::string& p, std::string& error) -> std::optional<std::string> {
        std::ifstream f(p, std::ios::binary);
        if (!f) {
            error = std::strerror(errno);
            return std::nullopt;
        }
        std::ostringstream ss;
        ss << f.rdbuf();
        return ss.str();
    };
    std::string error;
    auto text = read(path, error);
    if (!text) {
        ImportResult r;
        r.error = fmt::format("{}: cannot read: {}", path, error);
        return r;
    }
    if (!options.read_file) options.read_file = read;
    if (!options.resolve) {
        options.resolve = [](const std::string& host, int family) -> std::optional<std::string> {
            addrinfo hints{};
            hints.ai_family = family;
            hints.ai_socktype = SOCK_STREAM;
            addrinfo* res = nullptr;
            if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return std::nullopt;
            char buf[INET6_ADDRSTRLEN] = {};
            const void* a = family == AF_INET
                                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr)
                                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr);
            const bool ok = inet_ntop(family, a, buf, sizeof buf) != nullptr;
            freeaddrinfo(res);
            return ok ? std::optional<std::string>(buf) : std::nullopt;
        };
    }
    if (options.node_name.empty()) {
        char host[256] = {};
        if (gethostname(host, sizeof host - 1) == 0) options.node_name = host;
    }
    if (options.generated_at.empty()) {
        const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
        std::tm tm{};
        gmtime_r(&now, &tm);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
        options.generated_at = buf;
    }
    return import_pybal(*text, path, options);
}

}  // namespace tern::importer
