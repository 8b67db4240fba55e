// Tern configuration: the typed form of tern.yaml after parsing and validation.
// See conf/REFERENCE.md for every key. Nothing here knows about DPDK.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace YAML {
class Node;
}

namespace tern::conf {

// An IPv4 or IPv6 address in network byte order. For IPv4 only the first 4 bytes are used.
struct IpAddr {
    int family = 0;  // AF_INET or AF_INET6; 0 when unset
    std::array<uint8_t, 16> bytes{};

    bool is_v4() const;
    bool is_v6() const;
    std::string str() const;
    static std::optional<IpAddr> parse(const std::string& text);
    friend bool operator==(const IpAddr&, const IpAddr&) = default;
    friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
};

struct Prefix {
    IpAddr addr;
    int length = 0;
    std::string str() const;
    bool contains(const IpAddr& ip) const;
    // "10.64.0.0/24", "2620:0:860::/64"; host bits must be zero.
    static std::optional<Prefix> parse(const std::string& text);
};

using MacAddr = std::array<uint8_t, 6>;
std::string mac_str(const MacAddr& mac);
std::optional<MacAddr> parse_mac(const std::string& text);

// Where a value came from, for messages after parsing ("tern.yaml:12:7").
struct Mark {
    std::string file;
    int line = 0;    // 1-based
    int column = 0;  // 1-based
    friend bool operator==(const Mark&, const Mark&) = default;
};

struct Node {
    std::string name;
    IpAddr ipv4;
    std::optional<IpAddr> ipv6;
    std::optional<Prefix> ipip_source_v4;
    std::optional<Prefix> ipip_source_v6;
};

// An 802.1Q VLAN carried by a port, and the subnets connected through it.
struct Vlan {
    uint16_t id = 0;  // 1..4094
    std::vector<Prefix> subnets;
};

// The most data ports a config may declare (dp::kMaxPorts is the same).
inline constexpr size_t kMaxPorts = 8;

struct Port {
    std::string name;
    std::string device;  // a PCI address ("0000:3b:00.0") or a DPDK vdev string ("net_tap0,iface=x")
    std::optional<MacAddr> mac;
    uint32_t mtu = 1500;
    std::vector<Prefix> subnets;  // connected untagged
    std::vector<Vlan> vlans;      // connected tagged
    bool device_is_pci() const;
};

struct Neighbor {
    IpAddr ip;
    MacAddr mac;
};

enum class Protocol { tcp, udp };
enum class Scheduler { maglev, sh, wrr, rr, wlc };
enum class Forward { dr, ipip };

const char* to_string(Protocol p);
const char* to_string(Scheduler s);
const char* to_string(Forward f);

struct RealServer {
    std::string host;  // identity of the server within its service (Maglev hashes this)
    IpAddr ip;
    uint32_t weight = 1;  // 0..65535; 0 = takes no new flows
    bool enabled = true;
    Mark mark;
};

// A health monitor of a service as written: the kind's name and its options,
// not yet read. The schema knows no kind: control reads the options against
// health's registry of kinds (health/monitor_kind.h) when it loads a config
// (control/config/monitor_spec.h), with the same file:line:column and key paths.
struct Monitor {
    std::string name;         // the key under `monitors:`, as written (ProxyFetch, ...)
    std::string parent_path;  // of the map of monitors: "services[0].monitors"
    std::string path;         // "services[0].monitors.ProxyFetch"
    // The key and its value (a map of options, or empty), in the document
    // they came from (kept alive by these); read only on the control thread.
    std::shared_ptr<const YAML::Node> key, options;
    Mark mark;  // of the key
};

// Where a service's pool (membership, weights, enabled) comes from besides
// the YAML: a PyBal pool file (file://, http://, https://) or etcd in
// conftool's layout (etcd:// / etcds:// v2 keys API, etcd3:// / etcd3s:// v3).
struct PoolSource {
    std::string url;
    double interval = 0;  // polling period for file/http(s); 0: 1 s, as PyBal polls both
    // An answer that removes or disables more servers than the depool
    // threshold allows waits for the console's `confirm pool` (false: applied
    // at once, as PyBal).
    bool hold_removals = true;
    // PEM file of the CA that signs the server's certificate (https, etcds,
    // etcd3s): the certificate and its name are verified. Empty: the channel
    // is encrypted but not verified, as PyBal.
    std::string ca;
    Mark mark;
};

struct Service {
    std::string name;
    IpAddr vip;
    uint16_t port = 0;
    Protocol protocol = Protocol::tcp;
    Scheduler scheduler = Scheduler::maglev;
    Forward forward = Forward::dr;
    double depool_threshold = 0.5;
    // Maglev lookup table size, a prime; 0: `auto`, sized to the pool
    // (dp::maglev_auto_size, through ctl::ring_size).
    uint32_t table_size = 0;
    // Seconds a server removed from the pool (reload, pool source) keeps
    // its established flows before they are rescheduled; 0: at once.
    uint32_t removed_server_grace = 0;
    std::vector<Monitor> monitors;
    std::vector<RealServer> realservers;  // the static pool, and the address book for pool sources
    std::optional<PoolSource> pool;
    std::optional<uint32_t> bgp_med;  // the VIP's MED; every service of a VIP must agree
    Mark mark;
};

struct BgpPeer {
    IpAddr address;
    uint32_t asn = 0;
    uint16_t port = 179;
    bool passive = false;                   // wait for the router to connect
    std::string password;                   // TCP MD5 (RFC 2385); empty = none
    bool ttl_security = false;              // GTSM (RFC 5082)
    std::optional<uint16_t> hold_time;      // overrides bgp.hold_time
    std::optional<uint16_t> connect_retry;  // overrides bgp.connect_retry
};

struct BgpLargeCommunity {
    uint32_t global = 0, local1 = 0, local2 = 0;
};

struct Bgp {
    uint32_t local_asn = 0;
    uint32_t med = 0;
    std::optional<IpAddr> router_id;  // default node.ipv4
    uint16_t hold_time = 90;          // 0 or 3..65535 s
    uint16_t connect_retry = 5;       // s
    uint32_t as_path_prepend = 0;
    std::optional<IpAddr> next_hop_v4;  // default node.ipv4
    std::optional<IpAddr> next_hop_v6;  // default node.ipv6
    std::vector<uint32_t> communities;  // asn << 16 | value
    std::vector<BgpLargeCommunity> large_communities;
    bool listen = true;
    // Withdraw a VIP while none of its services has a pooled server (off by
    // default, as PyBal: a VIP with its servers down still draws traffic).
    bool withdraw_unpooled = false;
    std::optional<IpAddr> listen_address;
    uint16_t listen_port = 179;
    std::vector<BgpPeer> peers;
    // On SIGTERM, seconds of forwarding after the routes are withdrawn, while
    // routers move the VIPs elsewhere; 0: stop at once.
    uint32_t drain_time = 5;
};

// The policed exception path (dp::PuntPolicy): per lcore, packets a second
// to the kernel for traffic from no trusted source, and for each priority
// class (ARP/ND, BGP, trusted sources).
struct Exception {
    uint32_t budget_pps = 5000;
    uint32_t burst = 500;
    uint32_t priority_pps = 50000;
};

// Behaviour switches of the dataplane.
struct Dataplane {
    Exception exception;
    bool answer_vip_echo = false;     // reply to ICMP/ICMPv6 echo requests sent to a VIP
    uint32_t icmp_rate_limit = 1000;  // generated ICMP (too-big, echo replies) per second per lcore
    // tern run's worker lcores, each pinned to the CPU of its number, when
    // no EAL arguments are given ("1-2,4"); empty: one floating worker.
    std::vector<unsigned> lcores;
    std::optional<unsigned> main_lcore;  // the control thread's CPU; default the lowest not in lcores
};

// The largest lcore number (DPDK's RTE_MAX_LCORE - 1 as Debian builds it).
inline constexpr unsigned kMaxLcore = 127;
// "1-3,6" into {1, 2, 3, 6} (ascending, each once), or an error naming the bad part.
std::variant<std::vector<unsigned>, std::string> parse_cpu_list(const std::string& text);

// Control's HTTP API (PyBal's /pools, /alerts; /metrics).
struct Http {
    bool enabled = true;
    IpAddr address = *IpAddr::parse("127.0.0.1");
    uint16_t port = 9090;
    uint32_t max_connections = 64;  // open at once; more are closed at once
};

// How much tern run logs (stderr; journald gets each line's priority).
enum class LogLevel { debug, info, warning, error };
const char* to_string(LogLevel l);

struct Log {
    LogLevel level = LogLevel::info;
};

// The operator's console on a UNIX socket (`tern console`).
struct Console {
    bool enabled = true;
    std::string socket = "/run/tern/tern.sock";
};

// The per-lcore flow table.
struct Flows {
    uint64_t size = 1u << 20;  // entries per lcore, a power of two (64 bytes each)
    // Timeouts in seconds, IPVS's states.
    uint32_t established = 900, syn_sent = 120, syn_recv = 30, fin_wait = 120, time_wait = 120, close = 10,
             close_wait = 60, last_ack = 30, udp = 300;
    // Flood defences (dp::FlowTimeouts): an ESTABLISHED flow that carried
    // only its handshake's ACK; SYN_RECV and unproven flows while the table
    // evicts live ones.
    uint32_t unproven = 60, under_pressure = 5;
};

// Where a host is reached: untagged (vlan 0) or on a VLAN, when it is on a
// connected subnet of the port.
struct Attachment {
    uint16_t vlan = 0;
    size_t port = 0;  // index in Config::ports of the port whose subnet holds the address
};

struct Config {
    std::string path;  // the file it was loaded from
    Node node;
    Dataplane dataplane;
    Flows flows;
    Http http;
    Console console;
    Log log;
    std::vector<Port> ports;
    std::vector<Neighbor> neighbors;
    std::optional<IpAddr> gateway_v4;
    std::optional<IpAddr> gateway_v6;
    std::optional<Bgp> bgp;
    std::vector<Service> services;

    // True when any port names a connected subnet; otherwise every address
    // counts as directly reachable, untagged.
    bool has_subnets() const;
    // The attachment of `ip` when it is on a connected subnet (the longest
    // match; between equal ones the first port's), or nullopt.
    std::optional<Attachment> attachment(const IpAddr& ip) const;
};

struct Error {
    std::string file;
    int line = 0;      // 1-based; 0 when unknown
    int column = 0;    // 1-based; 0 when unknown
    std::string path;  // key path, e.g. "services[0].realservers[2].weight"
    std::string message;
    // "file:line:column: path: message"
    std::string str() const;
};

struct LoadResult {
    std::optional<Config> config;  // set only when errors is empty
    std::vector<Error> errors;
};

class YamlReader;
// Reads one monitor's options where the schema meets it, reporting through
// `reader` like the schema's own keys. The schema knows no monitor kind:
// control passes health's registry (control/config/monitor_spec.h, load_checked_*).
using MonitorReader = std::function<void(YamlReader& reader, const Monitor& monitor)>;

// Parse and validate a YAML file. Never throws; every problem found is
// reported. Without `monitors`, monitors are kept unread and unchecked.
LoadResult load_file(const std::string& path, const MonitorReader& monitors = {});
// Same, from text in memory; `name` is used as the file name in errors.
LoadResult load_string(const std::string& text, const std::string& name, const MonitorReader& monitors = {});

}  // namespace tern::conf
