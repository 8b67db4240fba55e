#include "conf/config.h"

#include "control/config/monitor_spec.h"

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <string>

using namespace tern::conf;

namespace {

// The config as `tern check` loads it: the schema, and every monitor read
// against its kind (control/config/monitor_spec.h).
LoadResult load(const std::string& text, const std::string& name) { return tern::ctl::load_checked_string(text, name); }

const char* kGood = R"(node:
  name: lb1001
  ipv4: 10.64.0.10
  ipv6: "2620:0:860:101::10"
  ipip_source_v4: 10.64.1.0/24
ports:
  - {name: uplink, device: "0000:3b:00.0", mac: "02:00:00:00:00:01", mtu: 9000}
neighbors:
  - {ip: 10.64.0.21, mac: "02:00:00:00:00:21"}
gateway_v4: 10.64.0.1
bgp:
  local_asn: 64600
  peers: [{address: 10.64.0.1, asn: 14907}]
services:
  - name: text-https
    vip: 198.35.26.96
    port: 443
    protocol: tcp
    scheduler: sh
    forward: dr
    depool_threshold: 0.7
    table_size: 1021
    monitors:
      ProxyFetch: {url: ["https://en.wikipedia.org/wiki/Special:BlankPage"]}
    realservers:
      - {host: cp1001, ip: 10.64.0.21, weight: 10, enabled: true}
      - {host: cp1002, ip: 10.64.0.22, weight: 0, enabled: false}
      - {host: cp1003, ip: 10.64.0.23}
)";

// The config with `from` replaced by `to` (which must occur).
std::string with(const std::string& from, const std::string& to) {
    std::string s = kGood;
    auto pos = s.find(from);
    REQUIRE(pos != std::string::npos);
    s.replace(pos, from.size(), to);
    return s;
}

// Exactly one error, at `path`, whose message contains `fragment`.
Error one_error(const std::string& text, const std::string& path, const std::string& fragment) {
    LoadResult r = load(text, "t.yaml");
    INFO(text);
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE_FALSE(r.config.has_value());
    REQUIRE(r.errors.size() == 1);
    const Error& e = r.errors[0];
    CHECK(e.path == path);
    CHECK(e.message.find(fragment) != std::string::npos);
    CHECK(e.file == "t.yaml");
    return e;
}

}  // namespace

TEST_CASE("monitors of every type, with PyBal's option names and defaults", "[conf]") {
    LoadResult r = load(
        with(
            "ProxyFetch: {url: [\"https://en.wikipedia.org/wiki/Special:BlankPage\"]}",
            "ProxyFetch: {url: \"http://en.wikipedia.org/\", http_status: [200, 301], check_all: true, max_failures: 1, verify-tls: true}\n"
            "      IdleConnection: {timeout-clean-reconnect: 2, max-delay: 60}\n"
            "      RunCommand: {command: /bin/true, arguments: [\"{host}\", \"--ip={ip}\"], timeout: 1.5}\n"
            "      DNSQuery: {hostnames: [en.wikipedia.org, example.org], fail-on-nxdomain: true}\n"
            "      UDP: {icmp-timeout: 5, rise: 2, fall: 3}\n"
            "    pool: {url: \"etcd3://127.0.0.1:2379/conftool/v1/pools/eqiad/text/nginx\"}"),
        "t.yaml");
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE(r.config);
    const auto& written = r.config->services[0].monitors;
    REQUIRE(written.size() == 5);
    std::vector<tern::health::MonitorSpec> m;
    for (const auto& w : written) {
        auto spec = tern::ctl::monitor_spec(w);
        REQUIRE(spec);
        m.push_back(*spec);
    }
    using Strings = std::vector<std::string>;
    CHECK(m[0].get<Strings>("url") == Strings{"http://en.wikipedia.org/"});
    CHECK(m[0].get<std::vector<uint64_t>>("http_status") == std::vector<uint64_t>{200, 301});
    CHECK(m[0].get<bool>("check_all"));
    CHECK(m[0].get<uint64_t>("max_failures") == 1);
    CHECK(m[0].get<bool>("verify-tls"));
    CHECK(m[1].kind == "IdleConnection");
    CHECK(m[1].get<double>("timeout-clean-reconnect") == 2);
    CHECK(m[1].get<double>("max-delay") == 60);
    CHECK(m[1].get<bool>("keepalive"));
    CHECK(m[2].kind == "RunCommand");
    CHECK(m[2].interval == 60);  // RunCommand's own default
    CHECK(m[2].timeout == 1.5);
    CHECK(m[2].get<Strings>("arguments") == Strings{"{host}", "--ip={ip}"});
    CHECK(m[3].get<Strings>("hostnames").size() == 2);
    CHECK(m[3].get<bool>("fail-on-nxdomain"));
    CHECK(m[3].interval == 10);
    CHECK(m[4].get<double>("icmp-timeout") == 5);
    CHECK(m[4].rise == 2);
    CHECK(m[4].fall == 3);
    REQUIRE(r.config->services[0].pool);
    CHECK(r.config->services[0].pool->url == "etcd3://127.0.0.1:2379/conftool/v1/pools/eqiad/text/nginx");
}

TEST_CASE("config: a full config loads with every value", "[conf]") {
    LoadResult r = load(kGood, "t.yaml");
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE(r.errors.empty());
    REQUIRE(r.config);
    const Config& c = *r.config;
    CHECK(c.node.name == "lb1001");
    CHECK(c.node.ipv4.str() == "10.64.0.10");
    CHECK(c.node.ipv6->str() == "2620:0:860:101::10");
    CHECK(c.node.ipip_source_v4->str() == "10.64.1.0/24");
    REQUIRE(c.ports.size() == 1);
    CHECK(c.ports[0].device_is_pci());
    CHECK(mac_str(*c.ports[0].mac) == "02:00:00:00:00:01");
    CHECK(c.ports[0].mtu == 9000);
    CHECK(c.neighbors.size() == 1);
    CHECK(c.gateway_v4->str() == "10.64.0.1");
    CHECK(c.bgp->local_asn == 64600);
    CHECK(c.bgp->peers.at(0).asn == 14907);
    REQUIRE(c.services.size() == 1);
    const Service& s = c.services[0];
    CHECK(s.port == 443);
    CHECK(s.scheduler == Scheduler::sh);
    CHECK(s.depool_threshold == Approx(0.7));
    CHECK(s.table_size == 1021);
    REQUIRE(s.monitors.size() == 1);
    CHECK(s.monitors[0].name == "ProxyFetch");
    const auto pf = tern::ctl::monitor_spec(s.monitors[0]);
    REQUIRE(pf);
    CHECK(pf->kind == "ProxyFetch");
    REQUIRE(pf->get<std::vector<std::string>>("url").size() == 1);
    CHECK(pf->get<std::vector<std::string>>("url")[0] == "https://en.wikipedia.org/wiki/Special:BlankPage");
    // PyBal's defaults.
    CHECK(pf->interval == 10);
    CHECK(pf->timeout == 5);
    CHECK(pf->get<std::vector<uint64_t>>("http_status") == std::vector<uint64_t>{200});
    CHECK_FALSE(pf->get<bool>("verify-tls"));
    CHECK(pf->rise == 1);
    CHECK(pf->fall == 1);
    CHECK_FALSE(s.pool.has_value());
    REQUIRE(s.realservers.size() == 3);
    CHECK(s.realservers[1].weight == 0);
    CHECK_FALSE(s.realservers[1].enabled);
    CHECK(s.realservers[2].weight == 1);  // defaults
    CHECK(s.realservers[2].enabled);
}

TEST_CASE("config: defaults", "[conf]") {
    LoadResult r = load(
        "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
        "services: [{name: s, vip: 192.0.2.1, port: 53, realservers: []}]\n",
        "t.yaml");
    REQUIRE(r.config);
    const Service& s = r.config->services[0];
    CHECK(s.protocol == Protocol::tcp);
    CHECK(s.scheduler == Scheduler::maglev);
    CHECK(s.forward == Forward::dr);
    CHECK(s.depool_threshold == Approx(0.5));
    CHECK(s.table_size == 0);  // auto
    CHECK(r.config->ports[0].mtu == 1500);
    CHECK_FALSE(r.config->ports[0].device_is_pci());
}

TEST_CASE("config: table_size auto, written or not, and a size the servers outgrow", "[conf]") {
    const std::string head = "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n";
    std::string many;
    for (int i = 0; i < 1100; ++i) many += fmt::format("{{host: h{}, ip: 10.1.{}.{}}},", i, i / 250, i % 250 + 1);
    LoadResult r =
        load(head + "services: [{name: s, vip: 192.0.2.1, port: 80, table_size: auto, realservers: [" + many + "]}]\n",
             "t.yaml");
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE(r.config);
    CHECK(r.config->services[0].table_size == 0);
    CHECK(r.config->services[0].realservers.size() == 1100);
    LoadResult fixed =
        load(head + "services: [{name: s, vip: 192.0.2.1, port: 80, table_size: 1021, realservers: [" + many + "]}]\n",
             "t.yaml");
    REQUIRE(fixed.errors.size() == 1);
    CHECK(fixed.errors[0].path == "services[0].table_size");
    CHECK_THAT(fixed.errors[0].message, Catch::Contains("1021 must exceed the number of real servers (1100)"));
}

TEST_CASE("config: each error names file, line, column and key path", "[conf]") {
    SECTION("unknown key, with a suggestion") {
        Error e =
            one_error(with("weight: 10,", "wieght: 10,"), "services[0].realservers[0].wieght", "did you mean 'weight'");
        CHECK(e.line == 26);
        CHECK(e.column > 1);
        CHECK(e.str().rfind("t.yaml:26:", 0) == 0);
    }
    SECTION("unknown top-level key") {
        one_error(with("gateway_v4:", "gateway_v5:"), "gateway_v5", "unknown key 'gateway_v5'");
    }
    SECTION("missing key") {
        one_error(with("    vip: 198.35.26.96\n", ""), "services[0].vip", "missing required key 'vip'");
    }
    SECTION("missing node") {
        one_error(
            with(
                "node:\n  name: lb1001\n  ipv4: 10.64.0.10\n  ipv6: \"2620:0:860:101::10\"\n  ipip_source_v4: 10.64.1.0/24\n",
                ""),
            "node", "missing required key 'node'");
    }
    SECTION("bad IPv4 address") {
        one_error(with("ipv4: 10.64.0.10", "ipv4: 10.64.0.256"), "node.ipv4", "'10.64.0.256' is not an IP address");
    }
    SECTION("IPv6 where IPv4 is needed") {
        one_error(with("gateway_v4: 10.64.0.1", "gateway_v4: \"2001:db8::1\""), "gateway_v4",
                  "must be an IPv4 address");
    }
    SECTION("bad prefix") {
        one_error(with("10.64.1.0/24", "10.64.1.1/24"), "node.ipip_source_v4", "host bits must be zero");
    }
    SECTION("bad MAC") {
        one_error(with("\"02:00:00:00:00:21\"", "\"02:00:00:00:21\""), "neighbors[0].mac", "not a MAC address");
    }
    SECTION("IPv6 server under an IPv4 VIP in DR") {
        one_error(with("ip: 10.64.0.23", "ip: \"2620:0:860:101::23\""), "services[0].realservers[2].ip",
                  "direct routing");
    }
    SECTION("IPv6 server under an IPv4 VIP in IPIP") {
        std::string t = with("ip: 10.64.0.23", "ip: \"2620:0:860:101::23\"");
        t.replace(t.find("forward: dr"), 11, "forward: ipip");
        one_error(t, "services[0].realservers[2].ip", "IPv4 in IPv4");
    }
    SECTION("two services on one VIP:port:protocol") {
        std::string t =
            std::string(kGood) + "  - {name: other, vip: 198.35.26.96, port: 443, protocol: tcp, realservers: []}\n";
        Error e = one_error(t, "services[1]", "'text-https' and 'other' both claim 198.35.26.96:443/tcp");
        CHECK(e.line == 29);
    }
    SECTION("same VIP:port, other protocol, is fine") {
        std::string t =
            std::string(kGood) + "  - {name: other, vip: 198.35.26.96, port: 443, protocol: udp, realservers: []}\n";
        CHECK(load(t, "t.yaml").errors.empty());
    }
    SECTION("duplicate hosts") {
        one_error(with("host: cp1003", "host: cp1001"), "services[0].realservers[2].host",
                  "already listed as services[0].realservers[0]");
    }
    SECTION("duplicate service names") {
        one_error(std::string(kGood) + "  - {name: text-https, vip: 198.35.26.97, port: 443, realservers: []}\n",
                  "services[1].name", "already used");
    }
    SECTION("weight above 65535") {
        one_error(with("weight: 10,", "weight: 65536,"), "services[0].realservers[0].weight", "between 0 and 65535");
    }
    SECTION("negative weight") {
        one_error(with("weight: 10,", "weight: -1,"), "services[0].realservers[0].weight", "between 0 and 65535");
    }
    SECTION("fractional weight") {
        one_error(with("weight: 10,", "weight: 2.5,"), "services[0].realservers[0].weight", "'2.5' is not an integer");
    }
    SECTION("port out of range") {
        one_error(with("port: 443", "port: 70000"), "services[0].port", "between 1 and 65535");
    }
    SECTION("not a prime table size") {
        one_error(with("table_size: 1021", "table_size: 1024"), "services[0].table_size", "not a prime");
    }
    SECTION("a table size that is neither auto nor a number") {
        one_error(with("table_size: 1021", "table_size: big"), "services[0].table_size",
                  "'big' is neither auto nor a prime between 1021 and 1000003");
    }
    SECTION("threshold out of range") {
        one_error(with("depool_threshold: 0.7", "depool_threshold: 1.5"), "services[0].depool_threshold",
                  "between 0 and 1");
    }
    SECTION("yes is not a boolean") {
        one_error(with("enabled: true", "enabled: yes"), "services[0].realservers[0].enabled", "write true or false");
    }
    SECTION("unknown scheduler") {
        one_error(with("scheduler: sh", "scheduler: lc"), "services[0].scheduler",
                  "not one of: maglev, sh, wrr, rr, wlc");
    }
    SECTION("unknown ProxyFetch option") {
        one_error(with("ProxyFetch: {url:", "ProxyFetch: {interva: 3, url:"), "services[0].monitors.ProxyFetch.interva",
                  "did you mean 'interval'");
    }
    SECTION("ProxyFetch without url") {
        one_error(with("ProxyFetch: {url: [\"https://en.wikipedia.org/wiki/Special:BlankPage\"]}",
                       "ProxyFetch: {interval: 30}"),
                  "services[0].monitors.ProxyFetch.url", "missing required key 'url'");
    }
    SECTION("ProxyFetch with no options") {
        one_error(with("ProxyFetch: {url: [\"https://en.wikipedia.org/wiki/Special:BlankPage\"]}", "ProxyFetch:"),
                  "services[0].monitors.ProxyFetch", "missing required key 'url'");
    }
    SECTION("ProxyFetch url scheme") {
        one_error(with("https://en.wikipedia", "ftp://en.wikipedia"), "services[0].monitors.ProxyFetch.url",
                  "not an http:// or https:// URL");
    }
    SECTION("ProxyFetch http_status range") {
        one_error(with("ProxyFetch: {url:", "ProxyFetch: {http_status: [200, 999], url:"),
                  "services[0].monitors.ProxyFetch.http_status[1]", "between 100 and 599");
    }
    SECTION("ProxyFetch timeout above interval") {
        one_error(with("ProxyFetch: {url:", "ProxyFetch: {interval: 2, timeout: 3, url:"),
                  "services[0].monitors.ProxyFetch", "longer than interval");
    }
    SECTION("IdleConnection option of another monitor") {
        one_error(with("ProxyFetch: {url: [\"https://en.wikipedia.org/wiki/Special:BlankPage\"]}",
                       "IdleConnection: {max_delay: 3}"),
                  "services[0].monitors.IdleConnection.max_delay", "did you mean 'max-delay'");
    }
    SECTION("RunCommand needs a command") {
        one_error(with("ProxyFetch: {url: [\"https://en.wikipedia.org/wiki/Special:BlankPage\"]}",
                       "RunCommand: {arguments: [x]}"),
                  "services[0].monitors.RunCommand.command", "missing required key 'command'");
    }
    SECTION("DNSQuery hostnames must be strings") {
        one_error(with("ProxyFetch: {url: [\"https://en.wikipedia.org/wiki/Special:BlankPage\"]}",
                       "DNSQuery: {hostnames: []}"),
                  "services[0].monitors.DNSQuery.hostnames", "non-empty list");
    }
    SECTION("rise must be positive") {
        one_error(with("ProxyFetch: {url:", "ProxyFetch: {rise: 0, url:"), "services[0].monitors.ProxyFetch.rise",
                  "between 1 and 100");
    }
    SECTION("pool source scheme") {
        one_error(with("    realservers:\n", "    pool: ftp://x/y\n    realservers:\n"), "services[0].pool",
                  "file://, http://");
    }
    SECTION("pool file path relative") {
        one_error(with("    realservers:\n", "    pool: file://pools/x\n    realservers:\n"), "services[0].pool",
                  "absolute path");
    }
    SECTION("pool map unknown key") {
        one_error(
            with(
                "    realservers:\n",
                "    pool: {url: \"etcd://127.0.0.1:2379/conftool/v1/pools/eqiad/text/nginx\", intervall: 3}\n    realservers:\n"),
            "services[0].pool.intervall", "did you mean 'interval'");
    }
    SECTION("pool ca on a URL without TLS") {
        one_error(with("    realservers:\n",
                       "    pool: {url: \"etcd://127.0.0.1:2379/c\", ca: /etc/ssl/ca.pem}\n    realservers:\n"),
                  "services[0].pool.ca", "https://, etcds:// and etcd3s://");
    }
    SECTION("pool ca relative") {
        one_error(
            with("    realservers:\n", "    pool: {url: \"etcds://127.0.0.1:2379/c\", ca: ca.pem}\n    realservers:\n"),
            "services[0].pool.ca", "absolute path");
    }
    SECTION("pool hold_removals a string") {
        one_error(with("    realservers:\n",
                       "    pool: {url: \"etcd://127.0.0.1:2379/c\", hold_removals: maybe}\n    realservers:\n"),
                  "services[0].pool.hold_removals", "");
    }
    SECTION("http.max_connections 0") {
        one_error(with("    realservers:\n", "    realservers:\n") + "http: {max_connections: 0}\n",
                  "http.max_connections", "");
    }
    SECTION("unknown monitor") {
        one_error(with("ProxyFetch:", "ProxyFetc:"), "services[0].monitors.ProxyFetc", "did you mean 'ProxyFetch'");
    }
    SECTION("a list where a map is expected") {
        one_error(with("bgp:\n  local_asn: 64600\n  peers: [{address: 10.64.0.1, asn: 14907}]", "bgp: [1, 2]"), "bgp",
                  "must be a map");
    }
    SECTION("a string where an integer is expected") {
        one_error(with("port: 443", "port: https"), "services[0].port", "'https' is not an integer");
    }
    SECTION("duplicate key") {
        one_error(with("    port: 443\n", "    port: 443\n    port: 444\n"), "services[0].port", "given twice");
    }
    SECTION("no ports") {
        one_error(with("ports:\n  - {name: uplink, device: \"0000:3b:00.0\", mac: \"02:00:00:00:00:01\", mtu: 9000}",
                       "ports: []"),
                  "ports", "at least one port");
    }
}

TEST_CASE("config: every error of a file is reported in one pass", "[conf]") {
    std::string t = with("weight: 10,", "weight: 99999,");
    t.replace(t.find("port: 443"), 9, "port: 0");
    t.replace(t.find("10.64.0.22"), 10, "10.64.0.2222");
    LoadResult r = load(t, "t.yaml");
    REQUIRE(r.errors.size() == 3);
    CHECK_FALSE(r.config);
}

TEST_CASE("config: file-level errors", "[conf]") {
    SECTION("empty") {
        auto r = load("# only a comment\n", "e.yaml");
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].message == "file is empty");
    }
    SECTION("not YAML") {
        auto r = load("a: [1, 2\nb: }\n", "x.yaml");
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].message.find("not valid YAML") != std::string::npos);
        CHECK(r.errors[0].line > 0);
    }
    SECTION("a stray flow indicator where a document starts") {
        // Found by test/fuzz (config): YAML::LoadAll listed empty documents
        // from ", depoo" until memory ran out; tern check and reloads with it.
        for (const char* text : {", depoo", ",", "? , x"}) {
            INFO(text);
            auto r = load(text, "s.yaml");
            REQUIRE(r.errors.size() == 1);
            CHECK(r.errors[0].message.find("not valid YAML") != std::string::npos);
            CHECK(r.errors[0].line == 1);
        }
    }
    SECTION("several documents") {
        auto r = load("node: {name: a}\n---\nnode: {name: b}\n", "d.yaml");
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].message == "several YAML documents ('---'); a config is exactly one");
    }
    SECTION("top level not a map") {
        auto r = load("- 1\n- 2\n", "l.yaml");
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].message.find("top level must be a map") != std::string::npos);
    }
    SECTION("unreadable") {
        auto r = load_file("/nonexistent/tern.yaml");
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].message.find("No such file") != std::string::npos);
        CHECK(r.errors[0].str().rfind("/nonexistent/tern.yaml: ", 0) == 0);
    }
}

TEST_CASE("config: value types", "[conf]") {
    CHECK(IpAddr::parse("2001:db8::1")->is_v6());
    CHECK_FALSE(IpAddr::parse("10.0.0"));
    CHECK(Prefix::parse("10.64.1.0/24")->contains(*IpAddr::parse("10.64.1.77")));
    CHECK_FALSE(Prefix::parse("10.64.1.0/24")->contains(*IpAddr::parse("10.64.2.1")));
    CHECK_FALSE(Prefix::parse("10.64.1.0/33"));
    CHECK(Prefix::parse("2620:0:860::/48")->length == 48);
    CHECK(mac_str(*parse_mac("02:AB:00:00:00:01")) == "02:ab:00:00:00:01");
    CHECK_FALSE(parse_mac("02-ab-00-00-00-01"));
    Port p;
    p.device = "3b:00.0";
    CHECK(p.device_is_pci());
    p.device = "net_pcap0,rx_pcap=a.pcap";
    CHECK_FALSE(p.device_is_pci());
}

TEST_CASE("config: subnets, VLANs and next-hop reachability", "[conf]") {
    const std::string base = R"(node: {name: a, ipv4: 10.0.0.10}
ports:
  - name: p
    device: net_null0
    subnets: [10.0.0.0/24]
    vlans:
      - {id: 100, subnets: [10.1.0.0/24, "2001:db8:1::/64"]}
neighbors:
  - {ip: 10.1.0.1, mac: "02:00:00:00:00:01"}
gateway_v4: 10.1.0.1
services:
  - name: s
    vip: 192.0.2.1
    port: 80
    forward: FWD
    realservers:
      - {host: a, ip: SERVER}
)";
    auto cfg = [&](const std::string& fwd, const std::string& server) {
        std::string t = base;
        t.replace(t.find("FWD"), 3, fwd);
        t.replace(t.find("SERVER"), 6, server);
        return load(t, "t.yaml");
    };
    SECTION("attachment by longest match") {
        auto r = cfg("dr", "10.1.0.5");
        REQUIRE(r.config);
        CHECK(r.config->attachment(*IpAddr::parse("10.1.0.5"))->vlan == 100);
        CHECK(r.config->attachment(*IpAddr::parse("10.0.0.5"))->vlan == 0);
        CHECK_FALSE(r.config->attachment(*IpAddr::parse("10.9.0.5")));
        CHECK(r.config->attachment(*IpAddr::parse("2001:db8:1::7"))->vlan == 100);
    }
    SECTION("a DR server off our subnets is an error") {
        auto r = cfg("dr", "10.9.0.5");
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].path == "services[0].realservers[0].ip");
        CHECK(r.errors[0].message.find("direct routing needs the server on our subnet") != std::string::npos);
    }
    SECTION("an IPIP server off our subnets goes via the gateway") { CHECK(cfg("ipip", "10.9.0.5").errors.empty()); }
    SECTION("bad VLAN id") {
        std::string t = base;
        t.replace(t.find("id: 100"), 7, "id: 4095");
        t.replace(t.find("FWD"), 3, "dr");
        t.replace(t.find("SERVER"), 6, "10.0.0.5");
        auto r = load(t, "t.yaml");
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].path == "ports[0].vlans[0].id");
    }
    SECTION("bad subnet") {
        std::string t = base;
        t.replace(t.find("[10.0.0.0/24]"), 13, "[10.0.0.1/24]");
        t.replace(t.find("FWD"), 3, "dr");
        t.replace(t.find("SERVER"), 6, "10.0.0.5");
        auto r = load(t, "t.yaml");
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].path == "ports[0].subnets[0]");
    }
}

TEST_CASE("config: several ports", "[conf]") {
    const std::string two = R"(node: {name: a, ipv4: 10.0.0.10}
ports:
  - {name: uplink, device: "net_af_packet0,iface=a", subnets: [10.0.0.0/24]}
  - name: servers
    device: "net_af_packet1,iface=b"
    subnets: [10.1.0.0/24]
    vlans: [{id: 5, subnets: [10.5.0.0/24]}]
gateway_v4: 10.0.0.1
services:
  - name: s
    vip: 192.0.2.1
    port: 80
    forward: dr
    realservers:
      - {host: a, ip: 10.1.0.5}
      - {host: b, ip: 10.5.0.6}
)";
    SECTION("two ports load, each address attached to its port") {
        auto r = load(two, "t.yaml");
        for (const auto& e : r.errors) INFO(e.str());
        REQUIRE(r.config);
        REQUIRE(r.config->ports.size() == 2);
        CHECK(r.config->attachment(*IpAddr::parse("10.0.0.1"))->port == 0);
        CHECK(r.config->attachment(*IpAddr::parse("10.1.0.5"))->port == 1);
        CHECK(r.config->attachment(*IpAddr::parse("10.5.0.6"))->port == 1);
        CHECK(r.config->attachment(*IpAddr::parse("10.5.0.6"))->vlan == 5);
    }
    SECTION("at most 8") {
        std::string t = R"(node: {name: a, ipv4: 10.0.0.10}
ports:
)";
        for (int i = 0; i < 9; ++i)
            t += "  - {name: p" + std::to_string(i) + ", device: net_null" + std::to_string(i) + "}\n";
        one_error(t, "ports", "9 ports configured; at most 8");
    }
    SECTION("a device twice") {
        std::string t = two;
        t.replace(t.find("net_af_packet1,iface=b"), 22, "net_af_packet0,iface=b");
        one_error(t, "ports[1].device", "already ports[0]'s");
    }
    SECTION("two names that give the same kernel interface") {
        std::string t = two;
        t.replace(t.find("name: uplink"), 12, "name: uplinkserversA");
        t.replace(t.find("name: servers"), 13, "name: uplinkserversB");
        one_error(t, "ports[1].name", "tern-uplinkserv");
    }
}

TEST_CASE("config: dataplane switches", "[conf]") {
    auto r = load(
        "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
        "dataplane: {answer_vip_echo: true, icmp_rate_limit: 50}\n",
        "t.yaml");
    REQUIRE(r.config);
    CHECK(r.config->dataplane.answer_vip_echo);
    CHECK(r.config->dataplane.icmp_rate_limit == 50);
    auto bad = load(
        "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
        "dataplane: {answer_vip_ecko: true}\n",
        "t.yaml");
    REQUIRE(bad.errors.size() == 1);
    CHECK(bad.errors[0].message.find("did you mean 'answer_vip_echo'") != std::string::npos);
}

TEST_CASE("config: dataplane.exception", "[conf]") {
    const std::string head = "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n";
    auto dflt = load(head, "t.yaml");
    REQUIRE(dflt.config);
    CHECK(dflt.config->dataplane.exception.budget_pps == 5000);
    CHECK(dflt.config->dataplane.exception.burst == 500);
    CHECK(dflt.config->dataplane.exception.priority_pps == 50000);
    auto r = load(head + "dataplane: {exception: {budget_pps: 2000, burst: 20, priority_pps: 9000}}\n", "t.yaml");
    REQUIRE(r.config);
    CHECK(r.config->dataplane.exception.budget_pps == 2000);
    CHECK(r.config->dataplane.exception.burst == 20);
    CHECK(r.config->dataplane.exception.priority_pps == 9000);
    auto zero = load(head + "dataplane: {exception: {budget_pps: 0}}\n", "t.yaml");
    REQUIRE(zero.errors.size() == 1);
    CHECK(zero.errors[0].path == "dataplane.exception.budget_pps");
    auto typo = load(head + "dataplane: {exception: {budget: 10}}\n", "t.yaml");
    REQUIRE(typo.errors.size() == 1);
    CHECK(typo.errors[0].message.find("unknown key 'budget'") != std::string::npos);
}

TEST_CASE("config: dataplane.lcores and main_lcore", "[conf]") {
    const std::string head = "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n";
    auto r = load(head + "dataplane: {lcores: \"2-3,6,3\", main_lcore: 1}\n", "t.yaml");
    REQUIRE(r.config);
    CHECK(r.config->dataplane.lcores == std::vector<unsigned>{2, 3, 6});
    CHECK(r.config->dataplane.main_lcore == 1u);
    auto one = load(head + "dataplane: {lcores: 1}\n", "t.yaml");
    REQUIRE(one.config);
    CHECK(one.config->dataplane.lcores == std::vector<unsigned>{1});
    CHECK_FALSE(one.config->dataplane.main_lcore);
    auto none = load(head, "t.yaml");
    REQUIRE(none.config);
    CHECK(none.config->dataplane.lcores.empty());

    for (const char* bad : {"\"1-\"", "\"3-1\"", "\"a\"", "\"1,,2\"", "\"128\"", "\"-1\""}) {
        one_error(head + "dataplane: {lcores: " + bad + "}\n", "dataplane.lcores", "is not a CPU number");
    }
    one_error(head + "dataplane: {lcores: \"\"}\n", "dataplane.lcores", "must not be empty");
    one_error(head + "dataplane: {lcores: \"1-2\", main_lcore: 2}\n", "dataplane.main_lcore", "also a worker");
    one_error(head + "dataplane: {main_lcore: 0}\n", "dataplane.main_lcore", "needs dataplane.lcores");
    one_error(head + "dataplane: {lcores: \"1\", main_lcore: 200}\n", "dataplane.main_lcore", "");
}

TEST_CASE("config: bgp.drain_time", "[conf]") {
    auto r = load(kGood, "t.yaml");
    REQUIRE(r.config);
    CHECK(r.config->bgp->drain_time == 5);
    auto zero = load(with("local_asn: 64600", "local_asn: 64600\n  drain_time: 0"), "t.yaml");
    REQUIRE(zero.config);
    CHECK(zero.config->bgp->drain_time == 0);
    one_error(with("local_asn: 64600", "local_asn: 64600\n  drain_time: 3601"), "bgp.drain_time", "");
}
