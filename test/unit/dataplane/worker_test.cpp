// The per-burst path and RCU publication, on real mbufs (EAL without hugepages).
#include <arpa/inet.h>
#include <catch2/catch.hpp>

#include <cstring>
#include <thread>

#include "dataplane/encap.h"
#include "dataplane/flow_table.h"
#include "dataplane/maglev.h"
#include "dataplane/table_publisher.h"
#include "dataplane/worker.h"
#include "test/unit/eal_env.h"

using namespace tern::dp;

namespace {

const uint8_t kPortMac[6] = {0x02, 0, 0, 0, 0, 0x01};

ServiceSpec service(uint8_t last_octet, uint16_t port, uint32_t counter, std::vector<uint32_t> weights,
                    bool with_macs = true) {
    ServiceSpec s;
    s.family = 4;
    s.vip[0] = 192;
    s.vip[1] = 0;
    s.vip[2] = 2;
    s.vip[3] = last_octet;
    s.port = port;
    s.proto = kProtoTcp;
    s.entry.counter = counter;
    std::vector<std::string> ids;
    for (size_t i = 0; i < weights.size(); ++i) ids.push_back("rs" + std::to_string(i));
    std::vector<MaglevBackend> b;
    for (size_t i = 0; i < weights.size(); ++i) {
        ServerEntry e{};
        e.mac[0] = 0x02;
        e.mac[5] = static_cast<uint8_t>(0x20 + i);
        e.has_mac = with_macs;
        e.counter = counter * 100 + static_cast<uint32_t>(i);
        s.entry.servers.push_back(e);
        b.push_back({ids[i], weights[i]});
    }
    s.entry.ring = generate_ring(b, 1021);
    return s;
}

rte_mbuf* tcp_packet(rte_mempool* pool, uint8_t vip_last, uint16_t sport, uint16_t dport) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    REQUIRE(m != nullptr);
    m->data_len = 54;
    m->pkt_len = 54;
    uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
    std::memset(d, 0, 54);
    std::memcpy(d, kPortMac, 6);
    d[6] = 0x00;
    d[7] = 0x00;
    d[8] = 0x5e;
    d[11] = 0x01;
    d[12] = 0x08;
    d[13] = 0x00;
    uint8_t* ip = d + 14;
    ip[0] = 0x45;
    ip[3] = 40;
    ip[8] = 64;
    ip[9] = 6;
    ip[12] = 198;
    ip[13] = 51;
    ip[14] = 100;
    ip[15] = 7;
    ip[16] = 192;
    ip[17] = 0;
    ip[18] = 2;
    ip[19] = vip_last;
    uint8_t* tcp = ip + 20;
    tcp[0] = sport >> 8;
    tcp[1] = sport & 0xff;
    tcp[2] = dport >> 8;
    tcp[3] = dport & 0xff;
    tcp[12] = 0x50;
    return m;
}

// A round-robin service (rr, wrr): every server in the pool, weight 1, keeping its flows.
void pool_all(ServiceSpec& s, Sched sched) {
    s.entry.sched = sched;
    for (uint16_t i = 0; i < s.entry.servers.size(); ++i) {
        s.entry.pool.push_back(i);
        s.entry.pool_weights.push_back(1);
        s.entry.servers[i].weight = 1;
        s.entry.servers[i].keeps_flows = 1;
    }
}

rte_mempool* pool() {
    static rte_mempool* p = rte_pktmbuf_pool_create("unit_pool", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    return p;
}

}  // namespace

TEST_CASE("worker: DR rewrites only the MACs and follows the ring", "[worker]") {
    REQUIRE(tern::test::ensure_eal());
    REQUIRE(pool() != nullptr);
    std::vector<ServiceSpec> specs = {service(10, 80, 0, {1, 1, 2}), service(11, 443, 1, {1}, false)};
    std::string err;
    auto table = Table::create(specs, 1, err);
    REQUIRE(table);
    auto* counters = new LcoreCounters();
    std::atomic<const Table*> cur{table.get()};
    WorkerConfig wc;
    std::memcpy(wc.port_mac, kPortMac, 6);
    Worker w(wc, cur, nullptr, *counters);

    rte_mbuf* pkts[kBurst];
    uint8_t before[kBurst][54];
    for (uint16_t i = 0; i < 30; ++i) {
        pkts[i] = tcp_packet(pool(), 10, static_cast<uint16_t>(1000 + i), 80);
        std::memcpy(before[i], rte_pktmbuf_mtod(pkts[i], uint8_t*), 54);
    }
    pkts[30] = tcp_packet(pool(), 11, 5, 443);  // server without a MAC
    pkts[31] = tcp_packet(pool(), 10, 5, 81);   // VIP, other port: kernel
    BurstOut out;
    w.classify_burst(table.get(), pkts, 32, out);
    REQUIRE(out.n_tx == 30);
    REQUIRE(out.n_punt == 1);
    CHECK(counters->drops[static_cast<size_t>(Drop::no_neighbor)].get() == 1);
    CHECK(counters->rx.get() == 32);
    uint64_t per_server = 0;
    for (uint16_t i = 0; i < out.n_tx; ++i) {
        const uint8_t* d = rte_pktmbuf_mtod(out.tx[i], uint8_t*);
        CHECK(std::memcmp(d + 6, kPortMac, 6) == 0);
        CHECK(std::memcmp(d + 12, before[i] + 12, 54 - 12) == 0);
        Parsed p = parse_frame(before[i], 54, 54, kPortMac);
        const ServiceEntry& svc = table->service(0);
        const uint16_t idx = svc.ring[hash_to_index(flow_hash(p.key), static_cast<uint32_t>(svc.ring.size()))];
        CHECK(std::memcmp(d, svc.servers[idx].mac, 6) == 0);
    }
    for (uint32_t s = 0; s < 3; ++s) per_server += counters->servers[s].packets.get();
    CHECK(per_server == 30);
    CHECK(counters->services[0].packets.get() == 30);
    rte_pktmbuf_free_bulk(out.tx, out.n_tx);
    rte_pktmbuf_free_bulk(out.punt, out.n_punt);
    delete counters;
}

TEST_CASE("worker: a service whose servers are all drained drops as no_server", "[worker]") {
    REQUIRE(tern::test::ensure_eal());
    std::string err;
    auto table = Table::create({service(12, 80, 2, {0, 0})}, 1, err);
    REQUIRE(table);
    auto* counters = new LcoreCounters();
    std::atomic<const Table*> cur{table.get()};
    WorkerConfig wc;
    std::memcpy(wc.port_mac, kPortMac, 6);
    Worker w(wc, cur, nullptr, *counters);
    rte_mbuf* pkts[1] = {tcp_packet(pool(), 12, 1, 80)};
    BurstOut out;
    w.classify_burst(table.get(), pkts, 1, out);
    CHECK(out.n_tx == 0);
    CHECK(counters->drops[static_cast<size_t>(Drop::no_server)].get() == 1);
    delete counters;
}

TEST_CASE("table: lookup by VIP, port and protocol; fragments by VIP", "[table]") {
    REQUIRE(tern::test::ensure_eal());
    std::string err;
    auto table = Table::create({service(10, 443, 0, {1}), service(10, 80, 1, {1}), service(11, 80, 2, {1})}, 7, err);
    REQUIRE(table);
    CHECK(table->generation() == 7);
    FlowKey k{};
    k.family = 4;
    k.proto = kProtoTcp;
    k.dst[0] = 192;
    k.dst[1] = 0;
    k.dst[2] = 2;
    k.dst[3] = 10;
    k.dport = htons(443);
    CHECK(table->lookup(k) == &table->service(0));
    k.dport = htons(80);
    CHECK(table->lookup(k) == &table->service(1));
    k.proto = kProtoUdp;
    CHECK(table->lookup(k) == nullptr);
    k.proto = kProtoTcp;
    k.dport = 0;
    CHECK(table->lookup(k) == nullptr);
    k.fragment = 1;
    CHECK(table->lookup(k) == &table->service(1));  // lowest port of the VIP
    k.dst[3] = 99;
    CHECK(table->lookup(k) == nullptr);
    // lookup_v4 is lookup for IPv4 TCP/UDP that is not a fragment.
    for (uint8_t last : {10, 11, 12, 99}) {
        for (uint16_t port : {0, 80, 443, 8080}) {
            for (uint8_t proto : {kProtoTcp, kProtoUdp}) {
                FlowKey q{};
                q.family = 4;
                q.proto = proto;
                q.dst[0] = 192;
                q.dst[1] = 0;
                q.dst[2] = 2;
                q.dst[3] = last;
                q.dport = htons(port);
                uint32_t dst;
                std::memcpy(&dst, q.dst, 4);
                CHECK(table->lookup_v4(Table::v4_key(dst, q.dport, proto)) == table->lookup(q));
            }
        }
    }
}

TEST_CASE("publisher: old tables are freed only after every reader passed a quiescent state", "[rcu]") {
    REQUIRE(tern::test::ensure_eal());
    TablePublisher pub(RTE_MAX_LCORE);
    REQUIRE(pub.ok());
    std::string err;
    pub.publish(Table::create({service(10, 80, 0, {1})}, 1, err));
    const unsigned tid = 5;
    rte_rcu_qsbr_thread_register(pub.qsbr(), tid);
    rte_rcu_qsbr_thread_online(pub.qsbr(), tid);
    const Table* seen = pub.current().load(std::memory_order_acquire);
    CHECK(seen->generation() == 1);
    pub.publish(Table::create({service(10, 80, 0, {1, 1})}, 2, err));
    CHECK(pub.retired() == 1);
    CHECK(pub.reclaim() == 0);  // the reader may still use generation 1
    CHECK(seen->generation() == 1);
    rte_rcu_qsbr_quiescent(pub.qsbr(), tid);
    CHECK(pub.reclaim() == 1);
    CHECK(pub.current().load()->generation() == 2);
    // An offline reader does not hold back reclamation.
    rte_rcu_qsbr_thread_offline(pub.qsbr(), tid);
    pub.publish(Table::create({service(10, 80, 0, {1})}, 3, err));
    CHECK(pub.reclaim() == 1);
    rte_rcu_qsbr_thread_unregister(pub.qsbr(), tid);
}

TEST_CASE("publisher: readers never see a freed table while control swaps thousands of times", "[rcu]") {
    REQUIRE(tern::test::ensure_eal());
    TablePublisher pub(RTE_MAX_LCORE);
    REQUIRE(pub.ok());
    std::string err;
    pub.publish(Table::create({service(10, 80, 0, {1, 2, 3})}, 1, err));
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> reads{0};
    std::atomic<bool> bad{false};
    auto reader = [&](unsigned tid) {
        rte_rcu_qsbr_thread_register(pub.qsbr(), tid);
        rte_rcu_qsbr_thread_online(pub.qsbr(), tid);
        uint64_t last_gen = 0;
        FlowKey k{};
        k.family = 4;
        k.proto = kProtoTcp;
        k.dst[0] = 192;
        k.dst[1] = 0;
        k.dst[2] = 2;
        k.dst[3] = 10;
        k.dport = htons(80);
        while (!stop.load(std::memory_order_relaxed)) {
            const Table* t = pub.current().load(std::memory_order_acquire);
            // Every field of the table must still be intact (ASan reports any
            // read of a freed one); generations never go backwards.
            if (t->generation() < last_gen) bad = true;
            last_gen = t->generation();
            const ServiceEntry* s = t->lookup(k);
            if (s == nullptr || s->ring.size() != 1021) bad = true;
            for (uint32_t i = 0; s != nullptr && i < s->ring.size(); i += 97) {
                if (s->ring[i] >= s->servers.size()) bad = true;
            }
            reads.fetch_add(1, std::memory_order_relaxed);
            rte_rcu_qsbr_quiescent(pub.qsbr(), tid);
        }
        rte_rcu_qsbr_thread_offline(pub.qsbr(), tid);
        rte_rcu_qsbr_thread_unregister(pub.qsbr(), tid);
    };
    std::thread r1(reader, 3), r2(reader, 4);
    for (uint64_t gen = 2; gen <= 3000; ++gen) {
        pub.publish(Table::create({service(10, 80, 0, {1, static_cast<uint32_t>(gen % 5 + 1), 3})}, gen, err));
        pub.reclaim();
    }
    stop = true;
    r1.join();
    r2.join();
    pub.synchronize();
    CHECK_FALSE(bad.load());
    CHECK(reads.load() > 0);
    CHECK(pub.retired() == 0);
    CHECK(pub.current().load()->generation() == 3000);
}

TEST_CASE("worker: fragments of a round-robin service stay together", "[worker]") {
    REQUIRE(tern::test::ensure_eal());
    ServiceSpec s = service(13, 80, 3, {1, 1, 1});
    pool_all(s, Sched::wrr);
    std::string err;
    auto table = Table::create({s}, 1, err);
    REQUIRE(table);
    auto* counters = new LcoreCounters();
    FlowMemory mem(1024);
    FlowTable flows(mem.data(), mem.size(), FlowTimeouts{}, &release_flow_counts, counters);
    std::atomic<const Table*> cur{table.get()};
    WorkerConfig wc;
    std::memcpy(wc.port_mac, kPortMac, 6);
    wc.flows = &flows;
    Worker w(wc, cur, nullptr, *counters);
    rte_mbuf* pkts[kBurst];
    for (uint16_t i = 0; i < 12; ++i) {
        pkts[i] = tcp_packet(pool(), 13, static_cast<uint16_t>(2000 + i), 80);
        uint8_t* ip = rte_pktmbuf_mtod(pkts[i], uint8_t*) + 14;
        ip[6] = i % 3 == 2 ? 0x00 : 0x20;     // MF on the first two, a last fragment after
        ip[7] = static_cast<uint8_t>(i % 3);  // offsets 0, 8, 16 bytes
    }
    BurstOut out;
    w.classify_burst(table.get(), pkts, 12, out);
    REQUIRE(out.n_tx == 12);
    // Every fragment has the same 3-tuple: one server for all, not a rotation.
    for (uint16_t i = 1; i < out.n_tx; ++i) {
        CHECK(rte_pktmbuf_mtod(out.tx[i], uint8_t*)[5] == rte_pktmbuf_mtod(out.tx[0], uint8_t*)[5]);
    }
    rte_pktmbuf_free_bulk(out.tx, out.n_tx);
    delete counters;
}

TEST_CASE("worker: IPv4 IPIP builds encap.h's outer header, source picked in the prefix", "[worker]") {
    REQUIRE(tern::test::ensure_eal());
    ServiceSpec s = service(14, 80, 4, {1, 1, 1});
    s.entry.fwd = Fwd::ipip;
    for (size_t i = 0; i < s.entry.servers.size(); ++i) {
        s.entry.servers[i].family = 4;
        s.entry.servers[i].keeps_flows = 1;
        const uint8_t ip[4] = {10, 64, 1, static_cast<uint8_t>(i + 1)};
        std::memcpy(s.entry.servers[i].ip, ip, 4);
    }
    TableParams tp;
    const uint8_t src4[4] = {10, 64, 0, 0};
    std::memcpy(tp.src4, src4, 4);
    tp.src4_len = 22;
    std::string err;
    auto table = Table::create({s}, 1, err, tp);
    REQUIRE(table);
    auto* counters = new LcoreCounters();
    FlowMemory mem(1024);
    FlowTable flows(mem.data(), mem.size(), FlowTimeouts{}, &release_flow_counts, counters);
    std::atomic<const Table*> cur{table.get()};
    for (FlowTable* ft : {&flows, static_cast<FlowTable*>(nullptr)}) {
        WorkerConfig wc;
        std::memcpy(wc.port_mac, kPortMac, 6);
        wc.flows = ft;
        Worker w(wc, cur, nullptr, *counters);
        rte_mbuf* pkts[kBurst];
        uint8_t inner[kBurst][40];
        for (uint16_t i = 0; i < kBurst; ++i) {
            pkts[i] = tcp_packet(pool(), 14, static_cast<uint16_t>(3000 + i * 7), 80);
            uint8_t* ip = rte_pktmbuf_mtod(pkts[i], uint8_t*) + 14;
            ip[1] = static_cast<uint8_t>(i * 9);  // DSCP and ECN
            ip[4] = static_cast<uint8_t>(i);
            ip[5] = 0x5a;                 // ID
            ip[6] = i % 2 ? 0x40 : 0x00;  // DF on every other
            if (i % 3 == 0) {             // Ethernet padding: trimmed
                rte_pktmbuf_append(pkts[i], 6);
                std::memset(rte_pktmbuf_mtod(pkts[i], uint8_t*) + 54, 0xEE, 6);
            }
            std::memcpy(inner[i], ip, 40);
        }
        BurstOut out;
        w.classify_burst(table.get(), pkts, kBurst, out);
        REQUIRE(out.n_tx == kBurst);
        for (uint16_t i = 0; i < kBurst; ++i) {
            const uint8_t* d = rte_pktmbuf_mtod(out.tx[i], uint8_t*);
            REQUIRE(rte_pktmbuf_pkt_len(out.tx[i]) == 14 + 20 + 40);
            uint8_t frame[54] = {};
            std::memcpy(frame, kPortMac, 6);
            frame[12] = 0x08;
            std::memcpy(frame + 14, inner[i], 40);
            Parsed p = parse_frame(frame, 54, 54, kPortMac);
            REQUIRE(p.action == Action::lookup);
            const uint32_t h = flow_hash(p.key);
            const ServiceEntry& svc = table->service(0);
            const ServerEntry& srv = svc.servers[svc.ring[hash_to_index(h, static_cast<uint32_t>(svc.ring.size()))]];
            uint8_t src[4];
            pick_in_prefix(tp.src4, tp.src4_len, 4, mix32(h ^ 0x9E3779B9u), src);
            uint8_t want[20];
            write_outer_ipv4(want, inner[i], 40, src, srv.ip);
            CHECK(std::memcmp(d, srv.mac, 6) == 0);
            CHECK(std::memcmp(d + 6, kPortMac, 6) == 0);
            CHECK(d[12] == 0x08);
            CHECK(d[13] == 0x00);
            CHECK(std::memcmp(d + 14, want, 20) == 0);
            CHECK(std::memcmp(d + 34, inner[i], 40) == 0);
        }
        rte_pktmbuf_free_bulk(out.tx, out.n_tx);
    }
    delete counters;
}

TEST_CASE("worker: a flow's entry follows its server's next hop across table swaps", "[worker]") {
    // The inline path sends a hit to the MAC kept in the flow's entry; that
    // copy is only good for the table generation it was made in.
    REQUIRE(tern::test::ensure_eal());
    const auto make = [](uint64_t generation, uint8_t mac4, uint8_t has_mac, uint16_t vlan) {
        ServiceSpec s = service(15, 80, 5, {1, 1, 1});
        for (ServerEntry& e : s.entry.servers) {
            e.keeps_flows = 1;
            e.weight = 1;
            e.mac[4] = mac4;
            e.has_mac = has_mac;
            e.vlan = vlan;
        }
        std::string err;
        auto t = Table::create({s}, generation, err);
        REQUIRE(t);
        return t;
    };
    auto* counters = new LcoreCounters();
    FlowMemory mem(1024);
    FlowTable flows(mem.data(), mem.size(), FlowTimeouts{}, &release_flow_counts, counters);
    auto t1 = make(1, 0x11, 1, 0);
    std::atomic<const Table*> cur{t1.get()};
    WorkerConfig wc;
    std::memcpy(wc.port_mac, kPortMac, 6);
    wc.flows = &flows;
    Worker w(wc, cur, nullptr, *counters);
    // A burst of 8 packets of one flow (a new flow, then hits in the same
    // burst), then one packet per table.
    const auto send = [&](const Table* t, uint16_t count, BurstOut& out) {
        rte_mbuf* pkts[kBurst];
        for (uint16_t i = 0; i < count; ++i) pkts[i] = tcp_packet(pool(), 15, 4242, 80);
        w.classify_burst(t, pkts, count, out);
    };
    BurstOut out;
    send(t1.get(), 8, out);
    REQUIRE(out.n_tx == 8);
    const uint8_t server = rte_pktmbuf_mtod(out.tx[0], uint8_t*)[5];
    for (uint16_t i = 0; i < 8; ++i) {
        const uint8_t* d = rte_pktmbuf_mtod(out.tx[i], uint8_t*);
        CHECK(d[4] == 0x11);
        CHECK(d[5] == server);
        CHECK(std::memcmp(d + 6, kPortMac, 6) == 0);
        CHECK((d[12] << 8 | d[13]) == kEtherTypeIpv4);
    }
    rte_pktmbuf_free_bulk(out.tx, out.n_tx);
    out.n_tx = 0;
    CHECK(flows.size() == 1);

    // The neighbour's MAC changed: the same server, at its new address.
    auto t2 = make(2, 0x22, 1, 0);
    send(t2.get(), 1, out);
    REQUIRE(out.n_tx == 1);
    CHECK(rte_pktmbuf_mtod(out.tx[0], uint8_t*)[4] == 0x22);
    CHECK(rte_pktmbuf_mtod(out.tx[0], uint8_t*)[5] == server);
    rte_pktmbuf_free_bulk(out.tx, out.n_tx);
    out.n_tx = 0;

    // Not known any more: dropped as no_neighbor, and the flow stays.
    auto t3 = make(3, 0x33, 0, 0);
    send(t3.get(), 2, out);
    CHECK(out.n_tx == 0);
    CHECK(counters->drops[static_cast<size_t>(Drop::no_neighbor)].get() == 2);

    // Behind a VLAN: a tagged frame, still the same server.
    auto t4 = make(4, 0x44, 1, 7);
    send(t4.get(), 1, out);
    REQUIRE(out.n_tx == 1);
    const uint8_t* d = rte_pktmbuf_mtod(out.tx[0], uint8_t*);
    CHECK(d[4] == 0x44);
    CHECK(d[5] == server);
    CHECK((d[12] << 8 | d[13]) == kEtherTypeVlan);
    CHECK((d[14] << 8 | d[15]) == 7);
    rte_pktmbuf_free_bulk(out.tx, out.n_tx);
    out.n_tx = 0;

    // Untagged and known again: the inline path, at the latest MAC.
    auto t5 = make(5, 0x55, 1, 0);
    send(t5.get(), 2, out);
    REQUIRE(out.n_tx == 2);
    for (uint16_t i = 0; i < 2; ++i) {
        d = rte_pktmbuf_mtod(out.tx[i], uint8_t*);
        CHECK(d[4] == 0x55);
        CHECK(d[5] == server);
        CHECK((d[12] << 8 | d[13]) == kEtherTypeIpv4);
    }
    rte_pktmbuf_free_bulk(out.tx, out.n_tx);
    CHECK(flows.size() == 1);
    CHECK(counters->flows_rescheduled.get() == 0);
    delete counters;
}

TEST_CASE("worker: a capture-clock burst is cut into runs at clock seconds and at an event", "[worker]") {
    // Replay's needs as parameters of the one per-burst function: each
    // packet's flow clock is its capture second, and packets at or after an
    // event's time see the table that event published.
    REQUIRE(tern::test::ensure_eal());
    int ts_offset = -1;
    uint64_t ts_flag = 0;
    REQUIRE(rte_mbuf_dyn_rx_timestamp_register(&ts_offset, &ts_flag) == 0);
    const auto make = [](uint64_t generation, uint8_t mac4) {
        ServiceSpec s = service(16, 80, 6, {1, 1, 1});
        for (ServerEntry& e : s.entry.servers) {
            e.keeps_flows = 1;
            e.weight = 1;
            e.mac[4] = mac4;
        }
        std::string err;
        auto t = Table::create({s}, generation, err);
        REQUIRE(t);
        return t;
    };
    auto* counters = new LcoreCounters();
    static int releases = 0;
    releases = 0;
    FlowMemory mem(1024);
    FlowTimeouts timeouts;
    timeouts.seconds.fill(2);  // whatever state the flow is in
    FlowTable flows(
        mem.data(), mem.size(), timeouts,
        [](void* ctx, const FlowEntry& e, ConnState st) {
            ++releases;
            release_flow_counts(ctx, e, st);
        },
        counters);
    auto t1 = make(1, 0x11);
    auto t2 = make(2, 0x22);
    // Control has applied the event at 101 s and published t2 already, so
    // the lcore passes the barrier without waiting.
    std::atomic<const Table*> cur{t2.get()};
    EventBarrier barrier;
    barrier.times_us = {101'000'000};
    barrier.applied.store(1);
    WorkerConfig wc;
    std::memcpy(wc.port_mac, kPortMac, 6);
    wc.flows = &flows;
    wc.timestamp_offset = ts_offset;
    wc.timestamp_flag = ts_flag;
    wc.events = &barrier;
    Worker w(wc, cur, nullptr, *counters);
    // One flow at 100.0, 100.5, 101.0 and 104.0 s: the third is at the
    // event, the fourth finds its entry expired (2 s after 101 s).
    const uint64_t times[] = {100'000'000, 100'500'000, 101'000'000, 104'000'000};
    rte_mbuf* pkts[4];
    for (int i = 0; i < 4; ++i) {
        pkts[i] = tcp_packet(pool(), 16, 4343, 80);
        *RTE_MBUF_DYNFIELD(pkts[i], ts_offset, rte_mbuf_timestamp_t*) = times[i];
        pkts[i]->ol_flags |= ts_flag;
    }
    BurstOut out;
    w.classify_burst(t1.get(), pkts, 4, out);
    REQUIRE(out.n_tx == 4);
    const uint8_t server = rte_pktmbuf_mtod(out.tx[0], uint8_t*)[5];
    for (int i = 0; i < 4; ++i) {
        const uint8_t* d = rte_pktmbuf_mtod(out.tx[i], uint8_t*);
        CHECK(d[4] == (i < 2 ? 0x11 : 0x22));
        CHECK(d[5] == server);
    }
    CHECK(barrier.reached[rte_lcore_id()].load() == 1);
    CHECK(releases == 1);  // expired at 104 s (by the burst's first second it would be a hit)
    CHECK(flows.size() == 1);
    CHECK(counters->rx.get() == 4);
    rte_pktmbuf_free_bulk(out.tx, out.n_tx);
    delete counters;
}

TEST_CASE("worker: several ports: each server's packets leave through its port, with that port's MAC", "[worker]") {
    REQUIRE(tern::test::ensure_eal());
    const uint8_t kSecondMac[6] = {0x02, 0, 0, 0, 0, 0x02};
    ServiceSpec s = service(13, 80, 3, {1, 1});
    for (auto& srv : s.entry.servers) {
        srv.weight = 1;
        srv.keeps_flows = 1;
    }
    s.entry.servers[1].port = 1;  // server rs1 behind the second port
    std::string err;
    auto table = Table::create({s}, 1, err);
    REQUIRE(table);
    CHECK(table->service(0).servers[0].inline_ok == 1);
    CHECK(table->service(0).servers[1].inline_ok == 0);
    auto* counters = new LcoreCounters();
    std::atomic<const Table*> cur{table.get()};
    FlowMemory mem(1024);
    FlowTable flows(mem.data(), mem.size(), FlowTimeouts{}, &release_flow_counts, counters);
    for (FlowTable* ft : {static_cast<FlowTable*>(nullptr), &flows}) {
        WorkerConfig wc;
        std::memcpy(wc.port_mac, kPortMac, 6);
        WorkerPort second;
        second.port_id = 1;
        std::memcpy(second.mac, kSecondMac, 6);
        wc.more_ports.push_back(second);
        wc.flows = ft;
        Worker w(wc, cur, nullptr, *counters);
        rte_mbuf* pkts[kBurst];
        for (uint16_t i = 0; i < kBurst; ++i) pkts[i] = tcp_packet(pool(), 13, static_cast<uint16_t>(2000 + i), 80);
        BurstOut out;
        w.classify_burst(table.get(), pkts, kBurst, out);
        INFO((ft ? "with a flow table" : "stateless"));
        CHECK(out.n_tx + out.n_side == kBurst);
        CHECK(out.n_tx > 0);
        CHECK(out.n_side > 0);
        for (uint16_t i = 0; i < out.n_tx; ++i) {
            const uint8_t* d = rte_pktmbuf_mtod(out.tx[i], uint8_t*);
            CHECK(d[5] == 0x20);  // rs0
            CHECK(std::memcmp(d + 6, kPortMac, 6) == 0);
        }
        for (uint16_t i = 0; i < out.n_side; ++i) {
            CHECK(out.side_port[i] == 1);
            const uint8_t* d = rte_pktmbuf_mtod(out.side[i], uint8_t*);
            CHECK(d[5] == 0x21);  // rs1
            CHECK(std::memcmp(d + 6, kSecondMac, 6) == 0);
        }
        rte_pktmbuf_free_bulk(out.tx, out.n_tx);
        rte_pktmbuf_free_bulk(out.side, out.n_side);
    }
    delete counters;
}

TEST_CASE("worker: a next hop on a port the worker does not drive drops as no_neighbor", "[worker]") {
    REQUIRE(tern::test::ensure_eal());
    ServiceSpec s = service(14, 80, 4, {1});
    s.entry.servers[0].weight = 1;
    s.entry.servers[0].keeps_flows = 1;
    s.entry.servers[0].port = 1;  // the table knows two ports, this worker one
    std::string err;
    auto table = Table::create({s}, 1, err);
    REQUIRE(table);
    auto* counters = new LcoreCounters();
    std::atomic<const Table*> cur{table.get()};
    WorkerConfig wc;
    std::memcpy(wc.port_mac, kPortMac, 6);
    Worker w(wc, cur, nullptr, *counters);
    rte_mbuf* pkts[1] = {tcp_packet(pool(), 14, 7, 80)};
    BurstOut out;
    w.classify_burst(table.get(), pkts, 1, out);
    CHECK(out.n_tx + out.n_side == 0);
    CHECK(counters->drops[static_cast<size_t>(Drop::no_neighbor)].get() == 1);
    delete counters;
}

TEST_CASE("worker: a table-filling flood of spoofed SYN+ACK pairs leaves active flows on their servers", "[worker]") {
    // Round robin: a flow that lost its entry would move to the next server.
    REQUIRE(tern::test::ensure_eal());
    ServiceSpec s = service(16, 80, 6, {1, 1, 1});
    pool_all(s, Sched::rr);
    std::string err;
    auto table = Table::create({s}, 1, err);
    REQUIRE(table);
    auto* counters = new LcoreCounters();
    FlowMemory mem(1024);
    FlowTable flows(mem.data(), mem.size(), FlowTimeouts{}, &release_flow_counts, counters);
    std::atomic<const Table*> cur{table.get()};
    WorkerConfig wc;
    std::memcpy(wc.port_mac, kPortMac, 6);
    wc.flows = &flows;
    Worker w(wc, cur, nullptr, *counters);
    // One packet of client (src last byte, sport) with TCP flags; the server's MAC byte it went to.
    const auto send = [&](uint8_t src, uint16_t sport, uint8_t flags) {
        rte_mbuf* m = tcp_packet(pool(), 16, sport, 80);
        uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
        d[14 + 15] = src;
        d[14 + 20 + 13] = flags;
        BurstOut out;
        w.classify_burst(table.get(), &m, 1, out);
        std::string drops;
        for (size_t r = 0; r < kDropCount; ++r) drops += " " + std::to_string(counters->drops[r].get());
        INFO("punted " << out.n_punt << " src " << int{src} << " sport " << sport << " drops" << drops);
        REQUIRE(out.n_tx == 1);
        const uint8_t server = rte_pktmbuf_mtod(out.tx[0], uint8_t*)[5];
        rte_pktmbuf_free_bulk(out.tx, out.n_tx);
        return server;
    };
    // 256 real connections (a quarter of the table): handshake, then data.
    std::vector<uint8_t> server(256);
    for (uint16_t i = 0; i < 256; ++i) {
        server[i] = send(7, static_cast<uint16_t>(10000 + i), 0x02);
        CHECK(send(7, static_cast<uint16_t>(10000 + i), 0x10) == server[i]);
        CHECK(send(7, static_cast<uint16_t>(10000 + i), 0x18) == server[i]);
    }
    // A flood of 16 tables' worth of spoofed SYN then ACK, from other sources;
    // the real connections keep sending between its waves.
    uint64_t moved = 0;
    for (uint32_t wave = 0; wave < 16; ++wave) {
        for (uint32_t j = 0; j < 1024; ++j) {
            const auto src = static_cast<uint8_t>(100 + (j & 63));
            const auto sport = static_cast<uint16_t>(wave * 1024 + j);
            send(src, sport, 0x02);
            send(src, sport, 0x10);
        }
        for (uint16_t i = 0; i < 256; ++i) moved += send(7, static_cast<uint16_t>(10000 + i), 0x10) != server[i];
    }
    CHECK(counters->flows_evicted.get() > 10000);  // the flood did fill the table
    CHECK(flows.under_pressure());
    CHECK(moved == 0);
    delete counters;
}
