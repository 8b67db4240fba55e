// The per-packet path under fuzzing: Worker::classify_burst, what every
// worker lcore runs on each received burst (`tern run`, `tern replay`), on
// real mbufs (EAL without hugepages, started once) over a fixed table built
// from a config the way control builds it (build_table): IPv4 and IPv6, DR
// and IPIP, TCP and UDP, Maglev and round robin with a flow table, echo
// answers, a gateway. The input is a burst: frames of [length: 2 bytes, big
// endian][bytes], at most 32, each at most an mbuf's data room. Checked
// besides "no crash, no read outside a frame" (ASan/UBSan):
// - every received packet is counted, and each mbuf comes out once: sent,
//   punted to the kernel or dropped (freed) — the pool is whole afterwards;
// - what is sent leaves from the port's MAC;
// - what goes to the kernel is what arrived, byte for byte.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "control/state/table_builder.h"
#include "dataplane/flow_table.h"
#include "dataplane/rte.h"
#include "dataplane/worker.h"
#include "test/fuzz/fuzz_check.h"

namespace {
using namespace tern;

void require(bool ok, const char* what) { tern::fuzz::require(ok, "dataplane_fuzz", what); }

const char* kConfig = R"(
node: {name: lb-fuzz, ipv4: 10.0.0.10, ipv6: "2001:db8:0:1::10", ipip_source_v6: "2001:db8:0:200::/120"}
ports:
  - name: uplink
    device: "0000:00:00.0"
    mac: "02:00:00:00:00:01"
    subnets: [10.0.0.0/24, "2001:db8:0:1::/64"]
neighbors:
  - {ip: 10.0.0.1, mac: "00:00:5e:00:01:01"}
  - {ip: "2001:db8:0:1::1", mac: "00:00:5e:00:02:01"}
  - {ip: "2001:db8:0:1::21", mac: "02:00:00:00:06:21"}
  - {ip: "2001:db8:0:1::22", mac: "02:00:00:00:06:22"}
  - {ip: 10.0.0.21, mac: "02:00:00:00:01:21"}
  - {ip: 10.0.0.22, mac: "02:00:00:00:01:22"}
gateway_v4: 10.0.0.1
gateway_v6: "2001:db8:0:1::1"
dataplane: {answer_vip_echo: true, icmp_rate_limit: 1000000}
services:
  - name: web-dr
    vip: 192.0.2.1
    port: 80
    realservers:
      - {host: a, ip: 10.0.0.21, weight: 1}
      - {host: b, ip: 10.0.0.22, weight: 2}
      - {host: c, ip: 10.0.0.23, weight: 1}
  - name: web-rr
    vip: 192.0.2.1
    port: 443
    scheduler: wrr
    realservers:
      - {host: a, ip: 10.0.0.21, weight: 1}
      - {host: b, ip: 10.0.0.22, weight: 3}
  - name: dns-ipip
    vip: 192.0.2.53
    port: 53
    protocol: udp
    forward: ipip
    realservers:
      - {host: a, ip: 10.0.0.21}
      - {host: far, ip: 172.16.5.30}
  - name: web6-ipip
    vip: "2001:db8:100::10"
    port: 443
    forward: ipip
    realservers:
      - {host: r1, ip: "2001:db8:0:1::21"}
      - {host: r3, ip: "2001:db8:77::30", weight: 2}
  - name: web6-dr
    vip: "2001:db8:100::20"
    port: 80
    realservers:
      - {host: d1, ip: "2001:db8:0:1::21"}
      - {host: d2, ip: "2001:db8:0:1::22"}
  - name: drained
    vip: 192.0.2.9
    port: 80
    realservers:
      - {host: a, ip: 10.0.0.21, weight: 0}
)";

constexpr uint8_t kPortMac[6] = {0x02, 0, 0, 0, 0, 0x01};

struct Fixture {
    rte_mempool* pool = nullptr;
    unsigned pool_size = 0;
    ctl::CounterSlots slots;
    std::unique_ptr<dp::Table> table;
    std::atomic<const dp::Table*> current{nullptr};
    dp::LcoreCounters* counters = nullptr;
    void* flow_mem = nullptr;
    std::unique_ptr<dp::FlowTable> flows;
    std::vector<const dp::LcoreCounters*> peers;
    std::unique_ptr<dp::Worker> worker;
};

Fixture& fixture() {
    static Fixture* f = [] {
        const std::string prefix = "tern-fuzz-" + std::to_string(::getpid());
        std::vector<std::string> args = {"dataplane_fuzz", "--no-huge",      "-m",          "256",     "--no-pci",
                                         "--no-shconf",    "--no-telemetry", "--log-level", "*:error", "--lcores",
                                         "(0-1)@(0)",      "--file-prefix",  prefix};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        require(rte_eal_init(static_cast<int>(argv.size()), argv.data()) >= 0, "the EAL starts");
        std::atexit([] {
            const std::string dir = rte_eal_get_runtime_dir();
            rte_eal_cleanup();
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        });
        auto* fx = new Fixture();
        fx->pool_size = 1023;
        fx->pool = rte_pktmbuf_pool_create("fuzz_pool", fx->pool_size, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
        require(fx->pool != nullptr, "the mbuf pool");
        const conf::LoadResult l = conf::load_string(kConfig, "fuzz.yaml");
        if (!l.config) {
            for (const auto& e : l.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
        }
        require(l.config.has_value(), "the fuzz target's config loads");
        ctl::BuildResult b = ctl::build_table(*l.config, fx->slots, 1);
        if (!b.table) std::fprintf(stderr, "%s\n", b.error.c_str());
        require(b.table != nullptr, "the table builds");
        fx->table = std::move(b.table);
        fx->current.store(fx->table.get());
        fx->counters = new dp::LcoreCounters();
        fx->peers.push_back(fx->counters);
        const size_t capacity = 1024;
        fx->flow_mem = std::aligned_alloc(64, dp::FlowTable::bytes_for(capacity));
        std::memset(fx->flow_mem, 0, dp::FlowTable::bytes_for(capacity));
        fx->flows = std::make_unique<dp::FlowTable>(fx->flow_mem, capacity, dp::FlowTimeouts{},
                                                    &dp::release_flow_counts, fx->counters);
        dp::WorkerConfig wc;
        std::memcpy(wc.port_mac, kPortMac, 6);
        wc.mtu = 1500;
        wc.icmp_rate_limit = 1000000;
        wc.flows = fx->flows.get();
        wc.peers = &fx->peers;
        fx->worker = std::make_unique<dp::Worker>(wc, fx->current, nullptr, *fx->counters);
        return fx;
    }();
    return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Fixture& f = fixture();
    rte_mbuf* pkts[dp::kBurst];
    std::map<const rte_mbuf*, std::vector<uint8_t>> arrived;
    uint16_t n = 0;
    const uint16_t room = static_cast<uint16_t>(RTE_MBUF_DEFAULT_BUF_SIZE - RTE_PKTMBUF_HEADROOM);
    for (size_t at = 0; at + 2 <= size && n < dp::kBurst;) {
        size_t len = static_cast<size_t>(data[at] << 8 | data[at + 1]);
        at += 2;
        len = std::min({len, size - at, static_cast<size_t>(room)});
        rte_mbuf* m = rte_pktmbuf_alloc(f.pool);
        require(m != nullptr, "an mbuf for each frame");
        char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(len));
        require(d != nullptr || len == 0, "the frame fits an mbuf");
        if (len != 0) std::memcpy(d, data + at, len);
        arrived[m].assign(data + at, data + at + len);
        pkts[n++] = m;
        at += len;
    }
    if (n == 0) return 0;
    const uint64_t rx = f.counters->rx.get();
    dp::BurstOut out;
    f.worker->classify_burst(f.table.get(), pkts, n, out);
    require(f.counters->rx.get() == rx + n, "every packet is counted");
    for (uint16_t i = 0; i < out.n_tx; ++i) {
        require(out.tx[i]->data_len >= 14, "a sent frame has an Ethernet header");
        require(std::memcmp(rte_pktmbuf_mtod(out.tx[i], uint8_t*) + 6, kPortMac, 6) == 0,
                "a sent frame leaves from the port's MAC");
    }
    for (uint16_t i = 0; i < out.n_punt; ++i) {
        auto it = arrived.find(out.punt[i]);
        require(it != arrived.end(), "a punted packet is one that arrived");
        require(out.punt[i]->pkt_len == it->second.size() &&
                    std::memcmp(rte_pktmbuf_mtod(out.punt[i], uint8_t*), it->second.data(), it->second.size()) == 0,
                "the kernel gets what arrived, byte for byte");
    }
    require(out.n_side == 0, "one port: nothing to other ports");
    rte_pktmbuf_free_bulk(out.tx, out.n_tx);
    rte_pktmbuf_free_bulk(out.punt, out.n_punt);
    require(rte_mempool_avail_count(f.pool) == f.pool_size, "every mbuf comes back to the pool");
    return 0;
}
