// Which lcore owns a flow (Toeplitz RSS in software) and the hand-over of
// ICMP errors to it through the lcores' inboxes, on real mbufs.
#include <arpa/inet.h>
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>

#include "dataplane/flow_table.h"
#include "dataplane/maglev.h"
#include "dataplane/rss.h"
#include "dataplane/worker.h"
#include "test/unit/eal_env.h"

using namespace tern::dp;

namespace {

const uint8_t kMac[6] = {0x02, 0, 0, 0, 0, 0x01};
const uint8_t kVip[4] = {192, 0, 2, 20};
const uint8_t kClient[4] = {198, 51, 100, 7};

FlowKey key4(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t proto) {
    FlowKey k{};
    k.family = 4;
    k.proto = proto;
    inet_pton(AF_INET, src, k.src);
    inet_pton(AF_INET, dst, k.dst);
    k.sport = htons(sport);
    k.dport = htons(dport);
    return k;
}

FlowKey key6(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
    FlowKey k{};
    k.family = 6;
    k.proto = kProtoTcp;
    inet_pton(AF_INET6, src, k.src);
    inet_pton(AF_INET6, dst, k.dst);
    k.sport = htons(sport);
    k.dport = htons(dport);
    return k;
}

rte_mempool* pool() {
    static rte_mempool* p = rte_pktmbuf_pool_create("steer_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    return p;
}

uint8_t* frame(rte_mbuf*& m, uint16_t len) {
    m = rte_pktmbuf_alloc(pool());
    REQUIRE(m != nullptr);
    m->data_len = m->pkt_len = len;
    uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
    std::memset(d, 0, len);
    std::memcpy(d, kMac, 6);
    d[6] = 0x02;
    d[11] = 0x99;  // the router
    d[12] = 0x08;
    return d;
}

// A SYN from the client's port `cport` to the VIP's port 80.
rte_mbuf* syn(uint16_t cport) {
    rte_mbuf* m;
    uint8_t* ip = frame(m, 54) + 14;
    ip[0] = 0x45;
    ip[3] = 40;
    ip[8] = 64;
    ip[9] = kProtoTcp;
    std::memcpy(ip + 12, kClient, 4);
    std::memcpy(ip + 16, kVip, 4);
    uint8_t* tcp = ip + 20;
    tcp[0] = static_cast<uint8_t>(cport >> 8);
    tcp[1] = static_cast<uint8_t>(cport);
    tcp[3] = 80;
    tcp[12] = 0x50;
    tcp[13] = 0x02;
    return m;
}

// An ICMP fragmentation-needed from a router on the way to the client,
// quoting the server's reply VIP:80 -> client:cport.
rte_mbuf* frag_needed(uint16_t cport) {
    rte_mbuf* m;
    uint8_t* ip = frame(m, 14 + 20 + 8 + 28) + 14;
    ip[0] = 0x45;
    ip[3] = 56;
    ip[8] = 64;
    ip[9] = kProtoIcmp;
    ip[12] = 203;
    ip[13] = 0;
    ip[14] = 113;
    ip[15] = 1;
    std::memcpy(ip + 16, kVip, 4);
    uint8_t* icmp = ip + 20;
    icmp[0] = 3;
    icmp[1] = 4;
    icmp[6] = 0x05;  // next-hop MTU 1400
    icmp[7] = 0x78;
    uint8_t* q = icmp + 8;
    q[0] = 0x45;
    q[3] = 40;
    q[8] = 64;
    q[9] = kProtoTcp;
    std::memcpy(q + 12, kVip, 4);
    std::memcpy(q + 16, kClient, 4);
    q[21] = 80;
    q[22] = static_cast<uint8_t>(cport >> 8);
    q[23] = static_cast<uint8_t>(cport);
    return m;
}

// The key of the flow the client's packets carry.
FlowKey flow_of(uint16_t cport) { return key4("198.51.100.7", cport, "192.0.2.20", 80, kProtoTcp); }

const std::string kIds[3] = {"rs0", "rs1", "rs2"};

std::unique_ptr<Table> rr_table(Sched sched) {
    ServiceSpec s;
    s.family = 4;
    std::memcpy(s.vip, kVip, 4);
    s.port = 80;
    s.proto = kProtoTcp;
    s.entry.counter = 7;
    s.entry.sched = sched;
    std::vector<MaglevBackend> b;
    for (uint16_t i = 0; i < 3; ++i) {
        ServerEntry e{};
        e.mac[0] = 0x02;
        e.mac[5] = static_cast<uint8_t>(0x20 + i);
        e.has_mac = true;
        e.inline_ok = true;
        e.weight = 1;
        e.keeps_flows = 1;
        e.counter = 700 + i;
        s.entry.servers.push_back(e);
        s.entry.pool.push_back(i);
        s.entry.pool_weights.push_back(1);
        b.push_back({kIds[i], 1});
    }
    s.entry.ring = generate_ring(b, 1021);
    std::string err;
    auto t = Table::create({s}, 1, err);
    REQUIRE(t);
    return t;
}

// n workers on one thread, each with its flow table and inbox.
struct Lcores {
    std::vector<std::unique_ptr<LcoreCounters>> counters;
    std::vector<std::unique_ptr<FlowMemory>> mem;
    std::vector<std::unique_ptr<FlowTable>> flows;
    std::vector<const LcoreCounters*> peers;
    std::vector<std::unique_ptr<Worker>> w;
    Steering steering;
    std::atomic<const Table*> cur{nullptr};

    Lcores(uint16_t n, bool toeplitz, const Table* t, unsigned ring = 64) {
        static int serial = 0;
        cur = t;
        steering.rss = RssLayout::replay(n);
        steering.rss.toeplitz = toeplitz;
        for (uint16_t q = 0; q < n; ++q) {
            const std::string name = "steer" + std::to_string(serial++);
            steering.inbox.push_back(rte_ring_create(name.c_str(), ring, SOCKET_ID_ANY, RING_F_SC_DEQ));
            REQUIRE(steering.inbox.back() != nullptr);
            counters.push_back(std::make_unique<LcoreCounters>());
            peers.push_back(counters.back().get());
        }
        for (uint16_t q = 0; q < n; ++q) {
            mem.push_back(std::make_unique<FlowMemory>(1024));
            flows.push_back(std::make_unique<FlowTable>(mem[q]->data(), mem[q]->size(), FlowTimeouts{},
                                                        &release_flow_counts, counters[q].get()));
            WorkerConfig wc;
            std::memcpy(wc.port_mac, kMac, 6);
            wc.queue_id = q;
            wc.flows = flows[q].get();
            wc.peers = &peers;
            wc.steering = &steering;
            w.push_back(std::make_unique<Worker>(wc, cur, nullptr, *counters[q]));
        }
    }
    ~Lcores() {
        for (rte_ring* r : steering.inbox) rte_ring_free(r);
    }
    // One packet through lcore q's burst; the server MAC's last byte it went
    // to, or -1 when it left nothing on tx (handed over or dropped).
    int send(uint16_t q, rte_mbuf* m) {
        BurstOut out;
        w[q]->classify_burst(cur.load(), &m, 1, out);
        return take(out);
    }
    int serve(uint16_t q) {
        BurstOut out;
        w[q]->serve_inbox(cur.load(), UINT64_MAX, out);
        return take(out);
    }
    static int take(BurstOut& out) {
        REQUIRE(out.n_punt == 0);
        REQUIRE(out.n_tx <= 1);
        const int mac = out.n_tx == 1 ? rte_pktmbuf_mtod(out.tx[0], uint8_t*)[5] : -1;
        rte_pktmbuf_free_bulk(out.tx, out.n_tx);
        return mac;
    }
};

}  // namespace

TEST_CASE("rss_hash: the Toeplitz verification vectors of the RSS specification (key kRssKey)", "[steering]") {
    REQUIRE(tern::test::ensure_eal());
    // Source, then destination; with ports for TCP, addresses alone otherwise.
    CHECK(rss_hash(key4("66.9.149.187", 2794, "161.142.100.80", 1766, kProtoTcp)) == 0x51ccc178u);
    CHECK(rss_hash(key4("66.9.149.187", 0, "161.142.100.80", 0, kProtoIcmp)) == 0x323e8fc2u);
    CHECK(rss_hash(key4("199.92.111.2", 14230, "65.69.140.83", 4739, kProtoTcp)) == 0xc626b0eau);
    CHECK(rss_hash(key4("199.92.111.2", 14230, "65.69.140.83", 4739, kProtoUdp)) == 0xc626b0eau);
    CHECK(rss_hash(key6("3ffe:2501:200:1fff::7", 2794, "3ffe:2501:200:3::1", 1766)) == 0x40207d3du);
    // A fragment hashes on its addresses alone, as a NIC's FRAG_* types do.
    FlowKey frag = key4("199.92.111.2", 0, "65.69.140.83", 0, kProtoTcp);
    frag.fragment = 1;
    CHECK(rss_hash(frag) == 0xd718262au);
}

TEST_CASE("steering: owner is the redirection table's queue for the flow's hash", "[steering]") {
    REQUIRE(tern::test::ensure_eal());
    Steering st;
    st.rss = RssLayout::replay(3);
    REQUIRE(st.rss.reta.size() == 128);
    unsigned seen[3] = {};
    for (uint16_t p = 1000; p < 1300; ++p) {
        const FlowKey k = flow_of(p);
        const uint16_t q = st.owner(k);
        CHECK(q == (rss_hash(k) % 128) % 3);
        ++seen[q];
    }
    for (unsigned c : seen) CHECK(c > 50);
    // A table that is not i % n is followed, not assumed.
    st.rss.reta.assign(64, 0);
    st.rss.reta[rss_hash(flow_of(1000)) % 64] = 2;
    CHECK(st.owner(flow_of(1000)) == 2);
}

TEST_CASE("steering: several ports compute a flow's lcore only when they all agree", "[steering]") {
    const auto modular = [](uint16_t queues, size_t size) {
        RssLayout l;
        l.queues = queues;
        l.toeplitz = true;
        for (size_t i = 0; i < size; ++i) l.reta.push_back(static_cast<uint16_t>(i % queues));
        return l;
    };
    // The same table, or each i -> i % n of a size n divides: the same owner for every hash.
    RssLayout c = RssLayout::common({modular(2, 128), modular(2, 128)});
    CHECK(c.toeplitz);
    CHECK(c.reta == modular(2, 128).reta);
    c = RssLayout::common({modular(4, 128), modular(4, 512)});
    CHECK(c.toeplitz);
    for (uint32_t h : {0u, 1u, 127u, 128u, 300u, 511u, 0xFFFFFFFFu}) {
        CHECK(c.reta[h % c.reta.size()] == modular(4, 512).reta[h % 512]);
    }
    // One port without Toeplitz (af_packet, net_tap), or another table: turn by turn for all.
    RssLayout other = modular(2, 128);
    other.toeplitz = false;
    c = RssLayout::common({modular(2, 128), other});
    CHECK_FALSE(c.toeplitz);
    CHECK(c.queues == 2);
    RssLayout swapped = modular(2, 128);
    std::swap(swapped.reta[0], swapped.reta[1]);
    CHECK_FALSE(RssLayout::common({modular(2, 128), swapped}).toeplitz);
    // One port: its own layout.
    CHECK(RssLayout::common({modular(2, 64)}).reta.size() == 64);
}

TEST_CASE("steering: an ICMP error landing on another lcore reaches its flow's server (Toeplitz)", "[steering]") {
    REQUIRE(tern::test::ensure_eal());
    REQUIRE(pool() != nullptr);
    for (Sched sched : {Sched::rr, Sched::wrr, Sched::wlc, Sched::maglev}) {
        auto t = rr_table(sched);
        Lcores l(2, true, t.get());
        std::vector<int> server(40);
        unsigned on_other = 0;
        for (uint16_t i = 0; i < 40; ++i) {
            const uint16_t owner = l.steering.owner(flow_of(static_cast<uint16_t>(4000 + i)));
            server[i] = l.send(owner, syn(static_cast<uint16_t>(4000 + i)));
            REQUIRE(server[i] >= 0x20);
        }
        for (uint16_t i = 0; i < 40; ++i) {
            const uint16_t cport = static_cast<uint16_t>(4000 + i);
            const uint16_t owner = l.steering.owner(flow_of(cport));
            const uint16_t other = static_cast<uint16_t>(1 - owner);
            // On the owner: forwarded at once.
            CHECK(l.send(owner, frag_needed(cport)) == server[i]);
            // On the other lcore: handed over, then forwarded by the owner.
            const uint64_t handed = l.counters[other]->handed_over.get();
            CHECK(l.send(other, frag_needed(cport)) == -1);
            CHECK(l.counters[other]->handed_over.get() == handed + 1);
            CHECK(l.serve(owner) == server[i]);
            ++on_other;
        }
        CHECK(on_other == 40);
        uint64_t forwarded = 0, rescheduled = 0;
        for (auto& c : l.counters) {
            forwarded += c->icmp_errors_forwarded.get();
            rescheduled += c->flows_rescheduled.get();
        }
        CHECK(forwarded == 80);
        CHECK(rescheduled == 0);
    }
}

TEST_CASE("steering: without Toeplitz an ICMP error is offered to each lcore in turn", "[steering]") {
    REQUIRE(tern::test::ensure_eal());
    auto t = rr_table(Sched::rr);
    Lcores l(3, false, t.get());
    // The flow lives on lcore 2 (where the device put its packets).
    const int srv = l.send(2, syn(5000));
    REQUIRE(srv >= 0x20);
    // A second flow on lcore 2 moves its rr cursor: a fresh choice would differ.
    REQUIRE(l.send(2, syn(5001)) != srv);
    CHECK(l.send(0, frag_needed(5000)) == -1);  // 0 does not know it: to 1
    CHECK(l.serve(1) == -1);                    // nor does 1: to 2
    CHECK(l.serve(2) == srv);
    CHECK(l.counters[0]->handed_over.get() == 1);
    CHECK(l.counters[1]->handed_over.get() == 1);
    CHECK(l.counters[2]->handed_over.get() == 0);
    // Received by its owner: no hand-over.
    CHECK(l.send(2, frag_needed(5000)) == srv);
    CHECK(l.counters[2]->handed_over.get() == 0);
    // A flow no lcore knows: after the last lcore (before the origin), scheduled there.
    CHECK(l.send(1, frag_needed(5999)) == -1);  // 1 -> 2
    CHECK(l.serve(2) == -1);                    // 2 -> 0
    CHECK(l.serve(0) >= 0x20);                  // 0's next is 1, the origin: 0 schedules it
    CHECK(l.counters[0]->handed_over.get() == 1);
}

TEST_CASE("steering: a full inbox drops the hand-over and counts it", "[steering]") {
    REQUIRE(tern::test::ensure_eal());
    auto t = rr_table(Sched::rr);
    Lcores l(2, true, t.get(), 16);
    uint16_t cport = 6000;
    while (l.steering.owner(flow_of(cport)) != 1) ++cport;
    // The inbox holds 15 (a 16-slot ring).
    for (int i = 0; i < 15; ++i) REQUIRE(l.send(0, frag_needed(cport)) == -1);
    CHECK(l.counters[0]->handed_over.get() == 15);
    CHECK(l.send(0, frag_needed(cport)) == -1);
    CHECK(l.counters[0]->drops[static_cast<size_t>(Drop::inbox_full)].get() == 1);
    CHECK(l.counters[0]->handed_over.get() == 15);
    // Lcore 1 does not know the flow either: each is scheduled there.
    BurstOut out;
    l.w[1]->serve_inbox(t.get(), UINT64_MAX, out);
    CHECK(out.n_tx == 15);
    CHECK(l.counters[1]->icmp_errors_forwarded.get() == 15);
    rte_pktmbuf_free_bulk(out.tx, out.n_tx);
    out.n_tx = 0;
    l.w[1]->serve_inbox(t.get(), UINT64_MAX, out);
    CHECK(out.n_tx == 0);
}
