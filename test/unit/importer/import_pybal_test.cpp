#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fmt/format.h>

#include <map>
#include <string>

#include "conf/config.h"
#include "control/config/monitor_spec.h"
#include "importer/import_pybal.h"

using namespace tern;
using importer::PyValue;

namespace {

// An import over in-memory pool files and a fixed DNS.
struct Fixture {
    std::map<std::string, std::string> files;
    std::map<std::string, std::string> dns4, dns6;
    importer::ImportOptions options() const {
        importer::ImportOptions o;
        o.node_name = "lb1001";
        o.node_ipv4 = "10.64.0.10";
        o.device = "0000:3b:00.0";
        o.generated_at = "2024-01-02T03:04:05Z";
        o.read_file = [this](const std::string& path, std::string& error) -> std::optional<std::string> {
            auto it = files.find(path);
            if (it == files.end()) {
                error = "No such file or directory";
                return std::nullopt;
            }
            return it->second;
        };
        o.resolve = [this](const std::string& host, int family) -> std::optional<std::string> {
            const auto& m = family == AF_INET ? dns4 : dns6;
            auto it = m.find(host);
            if (it == m.end()) return std::nullopt;
            return it->second;
        };
        return o;
    }
    importer::ImportResult run(const std::string& conf, importer::ImportOptions o) const {
        return importer::import_pybal(conf, "pybal.conf", o);
    }
    importer::ImportResult run(const std::string& conf) const { return run(conf, options()); }
};

// `text` with its first `from` replaced by `to`.
void sub(std::string& text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
}

bool reported(const importer::ImportResult& r, const std::string& fragment) {
    for (const auto& rep : r.reports) {
        if (rep.str().find(fragment) != std::string::npos) return true;
    }
    return false;
}

std::string all_reports(const importer::ImportResult& r) {
    std::string out;
    for (const auto& rep : r.reports) out += rep.str() + "\n";
    return out;
}

// The generated YAML, loaded as `tern check` would; fails the test when it does not load.
conf::Config load(const importer::ImportResult& r) {
    INFO(r.yaml);
    INFO(all_reports(r));
    REQUIRE(r.ok);
    conf::LoadResult l = ctl::load_checked_string(r.yaml, "generated.yaml");
    std::string errors;
    for (const auto& e : l.errors) errors += e.str() + "\n";
    INFO(errors);
    REQUIRE(l.config);
    return *l.config;
}

const conf::Service& service(const conf::Config& c, const std::string& name) {
    for (const auto& s : c.services) {
        if (s.name == name) return s;
    }
    FAIL("no service " << name);
    return c.services.front();
}

// The spec of `s`'s monitor of kind `name`, read as `tern run` reads it.
health::MonitorSpec monitor(const conf::Service& s, const std::string& name) {
    for (const auto& m : s.monitors) {
        if (m.name != name) continue;
        auto spec = ctl::monitor_spec(m);
        REQUIRE(spec);
        return *spec;
    }
    FAIL("no monitor " << name);
    return {};
}

using Strings = std::vector<std::string>;

const char* kService =
    "[text_80]\n"
    "protocol = tcp\n"
    "ip = 10.2.2.1\n"
    "port = 80\n"
    "scheduler = wrr\n"
    "config = file:///etc/pybal/pools/text\n"
    "depool-threshold = .6\n"
    "monitors = [ \"ProxyFetch\", 'IdleConnection' ]\n"
    "proxyfetch.url = [ 'http://en.wikipedia.org/wiki/Special:BlankPage', \"https://x.org/\" ]\n"
    "idleconnection.timeout-clean-reconnect = 3\n"
    "idleconnection.max-delay = 300\n";

Fixture text_pool() {
    Fixture f;
    f.files["/etc/pybal/pools/text"] =
        "# the text cluster\n"
        "{ 'host': 'cp1001.eqiad.wmnet', 'weight': 10, 'enabled': True }\n"
        "\n"
        "{ 'host': 'cp1002.eqiad.wmnet', 'weight':5, 'enabled': False }\n";
    f.dns4 = {{"cp1001.eqiad.wmnet", "10.64.0.21"}, {"cp1002.eqiad.wmnet", "10.64.0.22"}};
    f.dns6 = {{"cp1001.eqiad.wmnet", "2620:0:860:101::21"}};
    return f;
}

}  // namespace

TEST_CASE("python literals: lists, quotes, booleans, numbers, dicts", "[import]") {
    auto r = importer::parse_python_literal("[ 'a', \"b\", u'c', 'd' 'e', r'\\n', '\\x41\\n', ]");
    REQUIRE(r.value);
    REQUIRE(r.value->kind == PyValue::Kind::list);
    REQUIRE(r.value->items.size() == 6);
    CHECK(r.value->items[0].s == "a");
    CHECK(r.value->items[1].s == "b");
    CHECK(r.value->items[2].s == "c");
    CHECK(r.value->items[3].s == "de");
    CHECK(r.value->items[4].s == "\\n");
    CHECK(r.value->items[5].s == "A\n");
    r = importer::parse_python_literal("'\\x41\\n\\'q\\''");
    REQUIRE(r.value);
    CHECK(r.value->s == "A\n'q'");

    r = importer::parse_python_literal(
        "{ 'host': 'cp1001', 'weight':10, 'enabled': True, 'x': None, 'f': -1.5, 'l': 7L }");
    REQUIRE(r.value);
    REQUIRE(r.value->kind == PyValue::Kind::dict);
    REQUIRE(r.value->entries.size() == 6);
    CHECK(r.value->entries[1].second.kind == PyValue::Kind::integer);
    CHECK(r.value->entries[1].second.i == 10);
    CHECK(r.value->entries[2].second.kind == PyValue::Kind::boolean);
    CHECK(r.value->entries[2].second.b);
    CHECK(r.value->entries[3].second.kind == PyValue::Kind::none);
    CHECK(r.value->entries[4].second.d == -1.5);
    CHECK(r.value->entries[5].second.i == 7);

    r = importer::parse_python_literal("('a',)");  // a one-element tuple
    REQUIRE(r.value);
    CHECK(r.value->kind == PyValue::Kind::list);
    r = importer::parse_python_literal("('a')");  // parentheses only
    REQUIRE(r.value);
    CHECK(r.value->kind == PyValue::Kind::string);
    r = importer::parse_python_literal("[\n  'a',  # a comment\n  'b'\n]");
    REQUIRE(r.value);
    CHECK(r.value->items.size() == 2);
    r = importer::parse_python_literal("False");
    REQUIRE(r.value);
    CHECK(r.value->kind == PyValue::Kind::boolean);
    CHECK_FALSE(r.value->b);
}

TEST_CASE("python literals: errors and RunCommand's server references", "[import]") {
    CHECK_FALSE(importer::parse_python_literal("[ 'a', 'b'").value);
    CHECK_FALSE(importer::parse_python_literal("'open").value);
    CHECK_FALSE(importer::parse_python_literal("[ 'a' 'b' 1 ]").value);
    auto r = importer::parse_python_literal("[ server.host ]");
    CHECK_FALSE(r.value);
    CHECK(r.error.find("server") != std::string::npos);
    CHECK_FALSE(importer::parse_python_literal("os.system('x')", true).value);

    r = importer::parse_python_literal(
        "[ '-H', server.host, '--ip=' + server.ip, str(server.port), server.lvsservice.name ]", true);
    REQUIRE(r.value);
    REQUIRE(r.value->items.size() == 5);
    CHECK(r.value->items[1].s == "{host}");
    CHECK(r.value->items[2].s == "--ip={ip}");
    CHECK(r.value->items[3].s == "{port}");
    CHECK(r.value->items[4].s == "{service}");
    CHECK_FALSE(r.placeholder_clash);
    r = importer::parse_python_literal("[ server.weight ]", true);
    CHECK_FALSE(r.value);
    r = importer::parse_python_literal("[ '{host}' ]", true);
    REQUIRE(r.value);
    CHECK(r.placeholder_clash);
}

TEST_CASE("python literals: deep nesting is an error, not a stack overflow", "[import]") {
    // Issue 16: a monitor list nested a million deep crashed the importer.
    for (const char* open : {"[", "(", "{'k': "}) {
        std::string deep;
        for (int i = 0; i < 1'000'000; ++i) deep += open;
        const auto r = importer::parse_python_literal(deep);
        CHECK_FALSE(r.value);
        CHECK(r.error.find("nested more than 32 deep") != std::string::npos);
    }
    std::string ok = "1";
    for (int i = 0; i < 20; ++i) ok = "[" + ok + "]";
    CHECK(importer::parse_python_literal(ok).value);
}

TEST_CASE("ini: sections, separators, comments, continuations, DEFAULT, interpolation", "[import]") {
    auto ini = importer::parse_ini(
        "# top comment\n"
        "; another\n"
        "[DEFAULT]\n"
        "dc = eqiad\n"
        "[global]\n"
        "BGP = yes ; inline comment\n"
        "name: value;kept\n"
        "empty = \"\"\n"
        "[svc]\n"
        "monitors = [ 'ProxyFetch',\n"
        "    'IdleConnection' ]\n"
        "config = file:///etc/pybal/pools/%(dc)s_text\n"
        "pct = 100%%\n",
        "p.conf");
    REQUIRE(ini.error.empty());
    REQUIRE(ini.sections.size() == 2);
    const auto& g = ini.sections[0];
    CHECK(g.name == "global");
    CHECK(g.line == 5);
    REQUIRE(g.find("bgp"));
    CHECK(g.find("bgp")->value == "yes");
    CHECK(g.find("bgp")->line == 6);
    CHECK(g.find("name")->value == "value;kept");
    CHECK(g.find("empty")->value.empty());
    CHECK(g.find("dc")->value == "eqiad");  // from DEFAULT
    const auto& s = ini.sections[1];
    CHECK(s.find("monitors")->value == "[ 'ProxyFetch',\n'IdleConnection' ]");
    CHECK(s.find("config")->value == "file:///etc/pybal/pools/eqiad_text");
    CHECK(s.find("pct")->value == "100%");
}

TEST_CASE("ini: what cannot be read names the file and line", "[import]") {
    auto ini = importer::parse_ini("bgp = yes\n[global]\n", "p.conf");
    CHECK(ini.error.find("p.conf:1:") == 0);
    ini = importer::parse_ini("[global]\nbgp = yes\nthis is not a key\n", "p.conf");
    CHECK(ini.error.find("p.conf:3:") == 0);
    ini = importer::parse_ini("[s]\na = 1\na = 2\nb = %(nope)s\n", "p.conf");
    REQUIRE(ini.error.empty());
    CHECK(ini.sections[0].find("a")->value == "2");
    REQUIRE(ini.reports.size() == 2);
    CHECK(ini.reports[0].str().find("p.conf:3: s: 'a' is set again") == 0);
    CHECK(ini.reports[1].str().find("p.conf:4: s: 'b'") == 0);

    Fixture f;
    auto r = f.run("[global]\n  oops\n");
    CHECK_FALSE(r.ok);
    CHECK(r.error.find("pybal.conf:2:") == 0);
}

TEST_CASE("import: a service with its pool file and monitors", "[import]") {
    Fixture f = text_pool();
    auto r = f.run(kService);
    conf::Config c = load(r);
    CHECK(r.yaml.rfind("# Generated by `tern import-pybal` from pybal.conf at 2024-01-02T03:04:05Z.", 0) == 0);
    CHECK(c.node.name == "lb1001");
    CHECK(c.node.ipv4.str() == "10.64.0.10");
    REQUIRE(c.ports.size() == 1);
    CHECK(c.ports[0].name == "uplink");
    CHECK(c.ports[0].device == "0000:3b:00.0");
    CHECK_FALSE(c.http.enabled);  // no instrumentation in PyBal
    CHECK_FALSE(c.bgp);
    REQUIRE(c.services.size() == 1);
    const auto& s = service(c, "text_80");
    CHECK(s.vip.str() == "10.2.2.1");
    CHECK(s.port == 80);
    CHECK(s.protocol == conf::Protocol::tcp);
    CHECK(s.scheduler == conf::Scheduler::wrr);
    CHECK(s.forward == conf::Forward::dr);
    CHECK(s.depool_threshold == 0.6);
    CHECK_FALSE(s.pool);
    REQUIRE(s.realservers.size() == 2);
    CHECK(s.realservers[0].host == "cp1001.eqiad.wmnet");
    CHECK(s.realservers[0].ip.str() == "10.64.0.21");
    CHECK(s.realservers[0].weight == 10);
    CHECK(s.realservers[0].enabled);
    CHECK(s.realservers[1].weight == 5);
    CHECK_FALSE(s.realservers[1].enabled);
    REQUIRE(s.monitors.size() == 2);
    CHECK(s.monitors[0].name == "ProxyFetch");
    CHECK(monitor(s, "ProxyFetch").get<Strings>("url") ==
          Strings{"http://en.wikipedia.org/wiki/Special:BlankPage", "https://x.org/"});
    CHECK(s.monitors[1].name == "IdleConnection");
    CHECK(monitor(s, "IdleConnection").get<double>("timeout-clean-reconnect") == 3);
    CHECK(monitor(s, "IdleConnection").get<double>("max-delay") == 300);
    INFO(all_reports(r));
    CHECK(reported(r, "pybal.conf: node.ipv4") == false);
    CHECK(r.reports.empty());
}

TEST_CASE("import: --pools reads pool files by base name", "[import]") {
    Fixture f = text_pool();
    f.files["/tmp/pools/text"] = "{ 'host': '10.64.0.99', 'weight': 1, 'enabled': True }\n";
    auto o = f.options();
    o.pools_dir = "/tmp/pools";
    conf::Config c = load(f.run(kService, o));
    REQUIRE(service(c, "text_80").realservers.size() == 1);
    CHECK(service(c, "text_80").realservers[0].ip.str() == "10.64.0.99");
}

TEST_CASE("import: schedulers", "[import]") {
    const std::pair<const char*, conf::Scheduler> cases[] = {
        {"sh", conf::Scheduler::sh},    {"wrr", conf::Scheduler::wrr},   {"rr", conf::Scheduler::rr},
        {"wlc", conf::Scheduler::wlc},  {"mh", conf::Scheduler::maglev}, {"lblc", conf::Scheduler::maglev},
        {"dh", conf::Scheduler::maglev}};
    for (const auto& [pybal, tern] : cases) {
        Fixture f = text_pool();
        std::string text = kService;
        sub(text, "scheduler = wrr", std::string("scheduler = ") + pybal);
        auto r = f.run(text);
        CHECK(service(load(r), "text_80").scheduler == tern);
        const bool mapped = std::string(pybal) == "lblc" || std::string(pybal) == "dh";
        CHECK(reported(r, fmt::format("pybal.conf:5: text_80: scheduler '{}' has no Tern equivalent; used maglev",
                                      pybal)) == mapped);
    }
}

TEST_CASE("import: a list of VIPs becomes one service per address", "[import]") {
    Fixture f = text_pool();
    std::string text = kService;
    sub(text, "ip = 10.2.2.1", "ip = [ '10.2.2.1', '2620:0:862:ed1a::1' ]");
    auto r = f.run(text);
    conf::Config c = load(r);
    REQUIRE(c.services.size() == 2);
    CHECK(service(c, "text_80-1").vip.str() == "10.2.2.1");
    CHECK(service(c, "text_80-1").realservers.size() == 2);
    const auto& v6 = service(c, "text_80-2");
    CHECK(v6.vip.str() == "2620:0:862:ed1a::1");
    REQUIRE(v6.realservers.size() == 1);  // cp1002 has no AAAA
    CHECK(v6.realservers[0].ip.str() == "2620:0:860:101::21");
    CHECK(reported(r, "pybal.conf:3: text_80: ip lists 2 addresses: service 'text_80-2' is 2620:0:862:ed1a::1"));
    CHECK(reported(
        r,
        "/etc/pybal/pools/text:4: text_80-2: host 'cp1002.eqiad.wmnet' does not resolve to an IPv6 address; server skipped"));
}

TEST_CASE("import: pool file lines PyBal skips, unresolvable hosts, duplicates", "[import]") {
    Fixture f = text_pool();
    f.files["/etc/pybal/pools/text"] =
        "{ 'host': 'cp1001.eqiad.wmnet', 'weight': 10, 'enabled': True }\n"
        "{ 'host': 'cp1003.eqiad.wmnet', 'weight': 10 }\n"
        "not python\n"
        "{ 'host': 'gone.eqiad.wmnet', 'weight': 10, 'enabled': True }\n"
        "{ 'host': 'cp1002.eqiad.wmnet', 'weight': '7', 'enabled': 1 }\n"
        "{ 'host': 'alias.eqiad.wmnet', 'weight': 1, 'enabled': True }\n"
        "{ 'host': '2620::1', 'weight': 1, 'enabled': True }\n"
        "{ 'host': 'big', 'weight': 70000, 'enabled': True }\n";
    f.dns4["alias.eqiad.wmnet"] = "10.64.0.21";
    f.dns4["big"] = "10.64.0.40";
    auto r = f.run(kService);
    const conf::Config c_s = load(r);
    const auto& s = service(c_s, "text_80");
    REQUIRE(s.realservers.size() == 3);
    CHECK(s.realservers[1].host == "cp1002.eqiad.wmnet");
    CHECK(s.realservers[1].weight == 10);  // PyBal drops a weight that is not an int
    CHECK(s.realservers[1].enabled);
    CHECK(s.realservers[2].weight == 65535);
    CHECK(reported(r, "/etc/pybal/pools/text:2: text_80: no 'enabled'; line skipped"));
    CHECK(reported(r, "/etc/pybal/pools/text:3: text_80: not a Python literal"));
    CHECK(reported(
        r,
        "/etc/pybal/pools/text:4: text_80: host 'gone.eqiad.wmnet' does not resolve to an IPv4 address; server skipped"));
    CHECK(
        reported(r, "/etc/pybal/pools/text:5: text_80: host 'cp1002.eqiad.wmnet': weight is not an integer; used 10"));
    CHECK(reported(r, "/etc/pybal/pools/text:5: text_80: host 'cp1002.eqiad.wmnet': enabled is not True/False"));
    CHECK(reported(
        r,
        "/etc/pybal/pools/text:6: text_80: host 'alias.eqiad.wmnet' has the address 10.64.0.21 of 'cp1001.eqiad.wmnet'; server skipped"));
    CHECK(reported(r, "/etc/pybal/pools/text:7: text_80: host 2620::1 is not IPv4"));
    CHECK(reported(r, "/etc/pybal/pools/text:8: text_80: host 'big': weight 70000 is outside 0..65535; used 65535"));
}

TEST_CASE("import: JSON pool files and missing ones", "[import]") {
    Fixture f = text_pool();
    std::string text = kService;
    sub(text, "pools/text", "pools/text.json");
    f.files["/etc/pybal/pools/text.json"] =
        "{\n"
        "  \"cp1001.eqiad.wmnet\": {\"enabled\": false, \"weight\": 3},\n"
        "  \"cp1002.eqiad.wmnet\": {\"enabled\": true}\n"
        "}\n";
    auto r = f.run(text);
    const conf::Config c_s = load(r);
    const auto& s = service(c_s, "text_80");
    REQUIRE(s.realservers.size() == 2);
    CHECK_FALSE(s.realservers[0].enabled);
    CHECK(s.realservers[0].weight == 3);
    CHECK(s.realservers[1].weight == 10);

    f.files["/etc/pybal/pools/text.json"] = "{\n  \"a\": {,\n}\n";
    r = f.run(text);
    CHECK(service(load(r), "text_80").realservers.empty());
    CHECK(reported(r, "/etc/pybal/pools/text.json:2: text_80: not JSON"));

    f.files.clear();
    r = f.run(kService);
    CHECK(service(load(r), "text_80").realservers.empty());
    CHECK(reported(
        r,
        "pybal.conf:6: text_80: cannot read the pool file /etc/pybal/pools/text: No such file or directory; the service has no servers"));
}

TEST_CASE("import: http and etcd pools come at run time", "[import]") {
    Fixture f;
    std::string text = kService;
    sub(text, "file:///etc/pybal/pools/text", "etcd://conf1001.eqiad.wmnet:2379/conftool/v1/pools/eqiad/text/nginx");
    auto r = f.run(text);
    const conf::Config c_s = load(r);
    const auto& s = service(c_s, "text_80");
    REQUIRE(s.pool);
    CHECK(s.pool->url ==
          "etcds://conf1001.eqiad.wmnet:2379/conftool/v1/pools/eqiad/text/nginx");  // PyBal's etcd is HTTPS
    CHECK(s.realservers.empty());
    CHECK(reported(
        r,
        "pybal.conf:6: text_80: pool comes from etcds://conf1001.eqiad.wmnet:2379/conftool/v1/pools/eqiad/text/nginx at run time"));

    text = kService;
    sub(text, "file:///etc/pybal/pools/text", "http://config-master/pybal/eqiad/text");
    r = f.run(text);
    conf::Config c2 = load(r);
    REQUIRE(service(c2, "text_80").pool);
    CHECK(reported(r, "pool comes from http://config-master/pybal/eqiad/text at run time"));

    text = kService;
    sub(text, "file:///etc/pybal/pools/text", "ftp://x/y");
    r = f.run(text);
    CHECK(reported(r, "pybal.conf:6: text_80: config 'ftp://x/y' is not a file://, http:// or etcd:// URL"));
}

TEST_CASE("import: monitor options, PyBal's names kept, unknown ones reported", "[import]") {
    Fixture f = text_pool();
    const std::string text = std::string(kService) +
                             "proxyfetch.http_status = 301\n"
                             "proxyfetch.check_all = yes\n"
                             "proxyfetch.max_failures = 1\n"
                             "proxyfetch.interval = 2\n"
                             "proxyfetch.frobnicate = 1\n"
                             "idleconnection.interval = 5\n"
                             "dnsquery.hostnames = [ 'en.wikipedia.org' ]\n"
                             "vipping.x = 1\n"
                             "weird = 1\n";
    auto r = f.run(text);
    const conf::Config c_s = load(r);
    const auto& s = service(c_s, "text_80");
    const auto pf = monitor(s, "ProxyFetch");
    CHECK(pf.get<std::vector<uint64_t>>("http_status") == std::vector<uint64_t>{301});
    CHECK(pf.get<bool>("check_all"));
    CHECK(pf.get<uint64_t>("max_failures") == 1);
    CHECK(pf.interval == 2);
    CHECK(pf.timeout == 2);  // PyBal's default 5 s would exceed the interval
    CHECK(reported(
        r,
        "pybal.conf:15: text_80: ProxyFetch timeout 5 s exceeds its interval 2 s, which Tern refuses; used timeout 2"));
    CHECK(reported(
        r, "pybal.conf:16: text_80: 'proxyfetch.frobnicate': Tern's ProxyFetch has no option 'frobnicate'; dropped"));
    CHECK(reported(
        r,
        "pybal.conf:17: text_80: 'idleconnection.interval': Tern's IdleConnection has no option 'interval'; dropped"));
    CHECK(reported(
        r, "pybal.conf:18: text_80: 'dnsquery.hostnames' is for DNSQuery, which is not in 'monitors'; ignored"));
    CHECK(reported(r, "pybal.conf:19: text_80: 'vipping.x' has no Tern equivalent"));
    CHECK(reported(r, "pybal.conf:20: text_80: 'weird' has no Tern equivalent; ignored"));
}

TEST_CASE("import: a monitor option its kind's check refuses is dropped, not written", "[import]") {
    // Found by test/fuzz (import): a ProxyFetch URL that is not http(s):// was
    // written as it was, and the generated config failed `tern check`.
    Fixture f = text_pool();
    std::string text = kService;
    sub(text, "'http://en.wikipedia.org/wiki/Special:BlankPage', ", "'htn.wikipedia.org/wiki', ");
    text += "proxyfetch.ca-file =\n";
    auto r = f.run(text);
    const conf::Config c = load(r);
    const auto& s = service(c, "text_80");
    CHECK(s.monitors.size() == 1);  // IdleConnection; ProxyFetch lost its required url
    CHECK(reported(r,
                   "pybal.conf:9: text_80: proxyfetch.url: 'htn.wikipedia.org/wiki' is not an http:// or https:// "
                   "URL with a host; dropped"));
    CHECK(reported(r, "text_80: monitor ProxyFetch left out: it needs a usable 'proxyfetch.url'"));
    CHECK(reported(r, "pybal.conf:12: text_80: proxyfetch.ca-file: empty; dropped"));
}

TEST_CASE("import: a second service on the same VIP, port and protocol is skipped", "[import]") {
    // Found by test/fuzz (import): both were written, and the config failed `tern check`.
    Fixture f = text_pool();
    std::string second = kService;
    sub(second, "[text_80]", "[text_81]");
    std::string other = kService;
    sub(other, "[text_80]", "[text_8080]");
    sub(other, "port = 80", "port = 8080");
    auto r = f.run(std::string(kService) + "\n" + second + "\n" + other);
    const conf::Config c = load(r);
    REQUIRE(c.services.size() == 2);
    CHECK(c.services[0].name == "text_80");
    CHECK(c.services[1].name == "text_8080");
    CHECK(reported(r,
                   "pybal.conf:15: text_81: 10.2.2.1 port 80/tcp is already service 'text_80''s; service 'text_81' "
                   "skipped"));
}

TEST_CASE("import: RunCommand, DNSQuery and UDP monitors", "[import]") {
    Fixture f = text_pool();
    auto r = f.run(
        "[dns_53]\nprotocol = udp\nip = 10.2.2.3\nport = 53\nscheduler = sh\n"
        "config = file:///etc/pybal/pools/text\n"
        "monitors = [ 'RunCommand', 'DNSQuery', 'UDP', 'VIPPing', 'UDP' ]\n"
        "runcommand.command = /usr/local/bin/check\n"
        "runcommand.arguments = [ '--host=' + server.host, server.ip, '{host}' ]\n"
        "runcommand.timeout = 10\n"
        "runcommand.log-output = off\n"
        "dnsquery.hostnames = [ 'en.wikipedia.org', \"www.wikipedia.org\" ]\n"
        "dnsquery.fail-on-nxdomain = True\n"
        "udp.icmp-timeout = 30\n");
    const conf::Config c_s = load(r);
    const auto& s = service(c_s, "dns_53");
    CHECK(s.protocol == conf::Protocol::udp);
    CHECK(s.scheduler == conf::Scheduler::sh);
    REQUIRE(s.monitors.size() == 3);
    const auto rc = monitor(s, "RunCommand");
    CHECK(rc.get<std::string>("command") == "/usr/local/bin/check");
    CHECK(rc.get<Strings>("arguments") == Strings{"--host={host}", "{ip}", "{host}"});
    CHECK(rc.timeout == 10);
    CHECK(rc.interval == 60);
    CHECK_FALSE(rc.get<bool>("log-output"));
    const auto dq = monitor(s, "DNSQuery");
    CHECK(dq.get<Strings>("hostnames") == Strings{"en.wikipedia.org", "www.wikipedia.org"});
    CHECK(dq.get<bool>("fail-on-nxdomain"));
    CHECK(monitor(s, "UDP").get<double>("icmp-timeout") == 30);
    CHECK(reported(r, "pybal.conf:7: dns_53: monitor 'VIPPing' has no Tern equivalent; left out"));
    CHECK(reported(r, "pybal.conf:7: dns_53: monitor 'UDP' is listed twice"));
    CHECK(reported(r, "pybal.conf:9: dns_53: runcommand.arguments: a literal string holds '{host}'"));

    r = f.run(
        "[s]\nprotocol = tcp\nip = 10.2.2.3\nport = 80\nscheduler = rr\nconfig = file:///etc/pybal/pools/text\n"
        "monitors = [ 'RunCommand', 'ProxyFetch' ]\n"
        "runcommand.command = /bin/true\n"
        "runcommand.arguments = [ server.weight ]\n");
    const conf::Config c_s2 = load(r);
    const auto& s2 = service(c_s2, "s");
    CHECK(s2.monitors.empty());
    CHECK(reported(r, "pybal.conf:9: s: runcommand.arguments: cannot read"));
    CHECK(reported(r, "pybal.conf:7: s: monitor RunCommand left out: without a usable 'runcommand.arguments'"));
    CHECK(reported(r, "pybal.conf:7: s: monitor ProxyFetch left out: it needs a usable 'proxyfetch.url'"));
}

TEST_CASE("import: [global] BGP", "[import]") {
    Fixture f = text_pool();
    const std::string global =
        "[global]\n"
        "bgp = yes\n"
        "bgp-local-asn = 64600\n"
        "bgp-peer-address = [ '10.64.0.1', \"2620:0:860:ffff::1\" ]\n"
        "bgp-as-path = 64600 64600 64600\n"
        "bgp-med = 10\n"
        "bgp-nexthop-ipv4 = 10.64.0.10\n"
        "bgp-nexthop-ipv6 = 2620:0:860:101::10\n";
    std::string svc = kService;
    svc += "bgp = no\nbgp-med = 10\n";
    auto o = f.options();
    o.node_ipv4.clear();
    auto r = f.run(global + svc, o);
    conf::Config c = load(r);
    REQUIRE(c.bgp);
    CHECK(c.bgp->local_asn == 64600);
    CHECK(c.bgp->med == 10);
    CHECK(c.bgp->as_path_prepend == 2);
    CHECK(c.bgp->next_hop_v4->str() == "10.64.0.10");
    CHECK(c.bgp->next_hop_v6->str() == "2620:0:860:101::10");
    REQUIRE(c.bgp->peers.size() == 2);
    CHECK(c.bgp->peers[0].address.str() == "10.64.0.1");
    CHECK(c.bgp->peers[1].address.str() == "2620:0:860:ffff::1");
    CHECK(c.bgp->peers[0].asn == 64600);
    CHECK(c.node.ipv4.str() == "10.64.0.10");  // from bgp-nexthop-ipv4
    CHECK(service(c, "text_80").bgp_med == 10u);
    CHECK(reported(r, "pybal.conf:4: global: bgp-peer-address: PyBal takes each router's AS from its OPEN"));
    CHECK(reported(r, "pybal.conf:20: text_80: bgp = no: Tern announces every VIP; 10.2.2.1 will be announced"));

    // A bare peer address, and an AS path that is not our own AS repeated.
    std::string g2 = global;
    sub(g2, "[ '10.64.0.1', \"2620:0:860:ffff::1\" ]", "10.64.0.1");
    sub(g2, "64600 64600 64600", "64600 14907");
    r = f.run(g2 + kService);
    c = load(r);
    REQUIRE(c.bgp->peers.size() == 1);
    CHECK(c.bgp->as_path_prepend == 0);
    CHECK(reported(r, "pybal.conf:5: global: bgp-as-path '64600 14907' is not copies of bgp-local-asn 64600"));

    // bgp = no globally: no bgp section, and no report for a service's bgp = no.
    r = f.run("[global]\nbgp = no\n" + svc);
    CHECK_FALSE(load(r).bgp);
    CHECK_FALSE(reported(r, "Tern announces every VIP"));

    // bgp = yes without an AS.
    r = f.run("[global]\nbgp = yes\n" + std::string(kService));
    CHECK_FALSE(load(r).bgp);
    CHECK(reported(r, "pybal.conf:2: global: bgp = yes without bgp-local-asn; the bgp section is left out"));
}

TEST_CASE("import: IPv6 VIPs need an IPv6 next hop", "[import]") {
    Fixture f = text_pool();
    std::string svc = kService;
    sub(svc, "ip = 10.2.2.1", "ip = 2620:0:862:ed1a::1");
    auto r = f.run("[global]\nbgp = yes\nbgp-local-asn = 64600\nbgp-peer-address = 10.64.0.1\n" + svc);
    conf::Config c = load(r);
    CHECK(c.bgp->next_hop_v6->str() == "2001:db8::1");
    CHECK(reported(r, "IPv6 VIPs without bgp-nexthop-ipv6"));
    CHECK(service(c, "text_80").realservers.size() == 1);
}

TEST_CASE("import: instrumentation becomes the HTTP API", "[import]") {
    Fixture f = text_pool();
    auto r = f.run(
        "[global]\ninstrumentation = yes\ninstrumentation_ips = [ '10.64.0.10', '::1' ]\ninstrumentation_port = 9091\n"
        "dryrun = no\n" +
        std::string(kService));
    conf::Config c = load(r);
    CHECK(c.http.enabled);
    CHECK(c.http.address.str() == "10.64.0.10");
    CHECK(c.http.port == 9091);
    CHECK(reported(
        r,
        "pybal.conf:3: global: instrumentation_ips: Tern's HTTP API listens on one address: used 10.64.0.10, not ::1"));
    CHECK(reported(r, "pybal.conf:5: global: 'dryrun' has no Tern equivalent; ignored"));

    r = f.run("[global]\ninstrumentation = true\n" + std::string(kService));
    c = load(r);
    CHECK(c.http.enabled);
    CHECK(c.http.address.str() == "127.0.0.1");
    CHECK(c.http.port == 9090);
}

TEST_CASE("import: node and port placeholders are reported", "[import]") {
    Fixture f = text_pool();
    auto o = f.options();
    o.node_ipv4.clear();
    o.device.clear();
    auto r = f.run(kService, o);
    conf::Config c = load(r);
    CHECK(c.node.ipv4.str() == "192.0.2.1");
    CHECK(c.ports[0].device == "0000:00:00.0");
    CHECK(reported(r, "pybal.conf: node.ipv4: no --node-ipv4 and no bgp-nexthop-ipv4: wrote 192.0.2.1; set node.ipv4"));
    CHECK(reported(
        r, "pybal.conf: ports[0].device: no --device: wrote the placeholder 0000:00:00.0; set ports[0].device"));
}

TEST_CASE("import: services PyBal cannot start are skipped and said so", "[import]") {
    Fixture f = text_pool();
    auto r = f.run(
        "[noport]\nprotocol = tcp\nip = 10.2.2.1\nscheduler = rr\nconfig = file:///etc/pybal/pools/text\nmonitors = []\n"
        "[badproto]\nprotocol = sctp\nip = 10.2.2.1\nport = 80\nscheduler = rr\nconfig = file:///etc/pybal/pools/text\nmonitors = []\n"
        "[badip]\nprotocol = tcp\nip = text.example\nport = 80\nscheduler = rr\nconfig = file:///etc/pybal/pools/text\nmonitors = []\n"
        "[ops]\nprotocol = udp\nip = 10.2.2.9\nport = 53\nscheduler = sh\nops = yes\nconfig = file:///etc/pybal/pools/text\n"
        "depool-threshold = 1.5\nmonitors = 'ProxyFetch'\n");
    conf::Config c = load(r);
    REQUIRE(c.services.size() == 1);
    CHECK(c.services[0].name == "ops");
    CHECK(c.services[0].depool_threshold == 1.0);
    CHECK(reported(r, "pybal.conf:1: noport: no 'port'; service skipped"));
    CHECK(reported(r, "pybal.conf:8: badproto: protocol 'sctp' is neither tcp nor udp; service skipped"));
    CHECK(reported(r, "pybal.conf:16: badip: ip: 'text.example' is not an IP address"));
    CHECK(reported(r, "pybal.conf:26: ops: ops = yes: Tern has no one-packet scheduling"));
    CHECK(reported(r, "pybal.conf:28: ops: depool-threshold 1.5 is outside 0..1; used 1"));
    CHECK(reported(r, "pybal.conf:29: ops: monitors ''ProxyFetch'' is not a Python list"));
}

TEST_CASE("import: YAML quoting survives odd strings", "[import]") {
    Fixture f = text_pool();
    auto r = f.run(std::string(kService) +
                   "[yes]\nprotocol = tcp\nip = 10.2.2.2\nport = 443\nscheduler = sh\n"
                   "config = file:///etc/pybal/pools/text\nmonitors = ['RunCommand']\n"
                   "runcommand.command = /bin/echo \"a\\b\": #c\n");
    conf::Config c = load(r);
    CHECK(monitor(service(c, "yes"), "RunCommand").get<std::string>("command") == "/bin/echo \"a\\b\": #c");
    // Found by test/fuzz (import): a NUL byte in an otherwise plain word was
    // written unquoted, and the YAML did not load.
    const std::string nul("/bin/echo\0x", 11);
    r = f.run(std::string(kService) +
              "[dns]\nprotocol = udp\nip = 10.2.2.3\nport = 53\nscheduler = sh\n"
              "config = file:///etc/pybal/pools/text\nmonitors = ['RunCommand']\n"
              "runcommand.command = " +
              nul + "\n");
    c = load(r);
    CHECK(monitor(service(c, "dns"), "RunCommand").get<std::string>("command") == nul);
}
