// Table swaps under load: the real Worker::run loop forwards between ring
// ports while the control thread publishes thousands of tables; nothing is
// dropped, every packet reaches a server of the table in force, each flow
// keeps its server, and every retired table is freed (ASan checks reads).
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <map>

#include "dataplane/flow_table.h"
#include "dataplane/maglev.h"
#include "dataplane/port.h"
#include "dataplane/table_publisher.h"
#include "dataplane/worker.h"
#include "test/unit/eal_env.h"

#pragma GCC diagnostic push
#if defined(__clang__)  // clang calls it -Wdeprecated-volatile (the fuzz build, docs/fuzzing.md)
#pragma GCC diagnostic ignored "-Wdeprecated-volatile"
#else
#pragma GCC diagnostic ignored "-Wvolatile"
#endif
#include <rte_eth_ring.h>
#pragma GCC diagnostic pop

using namespace tern::dp;

namespace {

const uint8_t kMac[6] = {0x02, 0, 0, 0, 0, 0x01};
const std::vector<std::string> kHosts = {"a", "b", "c", "d"};

std::unique_ptr<Table> make_table(uint64_t gen) {
    ServiceSpec s;
    s.family = 4;
    s.vip[0] = 192;
    s.vip[2] = 2;
    s.vip[3] = 10;
    s.port = 80;
    s.proto = kProtoTcp;
    std::vector<MaglevBackend> b;
    for (size_t i = 0; i < kHosts.size(); ++i) {
        ServerEntry e{};
        e.mac[0] = 0x02;
        e.mac[5] = static_cast<uint8_t>(0x20 + i);
        e.has_mac = 1;
        e.keeps_flows = 1;
        e.counter = static_cast<uint32_t>(i);
        e.weight = static_cast<uint32_t>(1 + (gen + i) % 4);  // weights change every table
        s.entry.servers.push_back(e);
        b.push_back({kHosts[i], e.weight});
    }
    s.entry.ring = generate_ring(b, 1021);
    std::string err;
    auto t = Table::create({s}, gen, err);
    REQUIRE(t);
    return t;
}

rte_mbuf* packet(rte_mempool* pool, uint16_t sport, bool syn) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    REQUIRE(m != nullptr);
    m->data_len = m->pkt_len = 54;
    uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
    std::memset(d, 0, 54);
    std::memcpy(d, kMac, 6);
    d[12] = 0x08;
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
    ip[18] = 2;
    ip[19] = 10;
    ip[20] = static_cast<uint8_t>(sport >> 8);
    ip[21] = static_cast<uint8_t>(sport);
    ip[23] = 80;
    ip[32] = 0x50;
    ip[33] = syn ? 0x02 : 0x10;  // a SYN opens each flow, ACKs keep it ESTABLISHED
    return m;
}

struct Launch {
    Worker* worker;
    std::atomic<bool>* stop;
};

int run_worker(void* arg) {
    auto* l = static_cast<Launch*>(arg);
    l->worker->run(*l->stop);
    return 0;
}

}  // namespace

TEST_CASE("stress: thousands of table swaps while an lcore forwards lose and misroute nothing", "[rcu][stress]") {
    REQUIRE(tern::test::ensure_eal());
    const unsigned lcore = rte_get_next_lcore(-1, 1, 0);
    REQUIRE(lcore < RTE_MAX_LCORE);
    rte_mempool* pool = rte_pktmbuf_pool_create("stress_pool", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    REQUIRE(pool != nullptr);
    rte_ring* rx = rte_ring_create("stress_rx", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    // Twice the RX ring: when this thread is descheduled the lcore can move
    // a full RX ring's backlog into TX at once, which must not overflow.
    rte_ring* tx = rte_ring_create("stress_tx", 8192, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* erx = rte_ring_create("stress_erx", 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* etx = rte_ring_create("stress_etx", 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    REQUIRE((rx && tx && erx && etx));
    const int port = rte_eth_from_rings("stress_port", &rx, 1, &tx, 1, 0);
    const int exc = rte_eth_from_rings("stress_exc", &erx, 1, &etx, 1, 0);
    REQUIRE(port >= 0);
    REQUIRE(exc >= 0);
    for (int p : {port, exc}) {
        PortSetup ps;
        ps.port_id = static_cast<uint16_t>(p);
        ps.pool = pool;
        ps.rx_desc = ps.tx_desc = 512;
        REQUIRE_FALSE(setup_port(ps));
    }

    TablePublisher pub(RTE_MAX_LCORE);
    REQUIRE(pub.ok());
    uint64_t gen = 1;
    pub.publish(make_table(gen));
    auto* counters = new LcoreCounters();
    FlowMemory mem(4096);
    FlowTable flows(mem.data(), mem.size(), FlowTimeouts{}, &release_flow_counts, counters);
    WorkerConfig wc;
    wc.port_id = static_cast<uint16_t>(port);
    wc.exc_port_id = static_cast<uint16_t>(exc);
    std::memcpy(wc.port_mac, kMac, 6);
    wc.flows = &flows;
    Worker worker(wc, pub.current(), pub.qsbr(), *counters);
    std::atomic<bool> stop{false};
    Launch launch{&worker, &stop};
    REQUIRE(rte_eal_remote_launch(run_worker, &launch, lcore) == 0);

    constexpr int kPackets = 60000;
    constexpr uint16_t kFlows = 500;
    std::map<uint16_t, uint8_t> server_of;  // sport -> last MAC byte
    int sent = 0, received = 0, swaps = 0, misrouted = 0, moved = 0;
    rte_mbuf* burst[32];
    while (received < kPackets) {
        if (sent < kPackets) {
            int n = 0;
            for (; n < 32 && sent + n < kPackets; ++n)
                burst[n] = packet(pool, static_cast<uint16_t>(1000 + (sent + n) % kFlows), sent + n < kFlows);
            const unsigned q = rte_ring_enqueue_burst(rx, reinterpret_cast<void**>(burst), n, nullptr);
            for (unsigned i = q; i < static_cast<unsigned>(n); ++i) rte_pktmbuf_free(burst[i]);
            sent += static_cast<int>(q);
            pub.publish(make_table(++gen));
            ++swaps;
            pub.reclaim();
        }
        const unsigned k = rte_ring_dequeue_burst(tx, reinterpret_cast<void**>(burst), 32, nullptr);
        for (unsigned i = 0; i < k; ++i) {
            const uint8_t* d = rte_pktmbuf_mtod(burst[i], const uint8_t*);
            const uint16_t sport = static_cast<uint16_t>(d[34] << 8 | d[35]);
            const uint8_t srv = d[5];
            if (d[0] != 0x02 || srv < 0x20 || srv >= 0x20 + kHosts.size()) ++misrouted;
            auto [it, fresh] = server_of.emplace(sport, srv);
            if (!fresh && it->second != srv) ++moved;
            rte_pktmbuf_free(burst[i]);
        }
        received += static_cast<int>(k);
        if (sent == kPackets && k == 0 && counters->rx.get() == static_cast<uint64_t>(kPackets) &&
            counters->tx.get() == static_cast<uint64_t>(received)) {
            break;
        }
    }
    stop = true;
    rte_eal_wait_lcore(lcore);
    pub.synchronize();
    CHECK(swaps >= 1000);
    CHECK(received == kPackets);
    for (size_t d = 0; d < kDropCount; ++d) {
        if (counters->drops[d].get() != 0)
            UNSCOPED_INFO("dropped " << counters->drops[d].get() << " " << drop_name(static_cast<Drop>(d)));
    }
    CHECK(counters->dropped() == 0);
    CHECK(misrouted == 0);
    INFO("evicted " << counters->flows_evicted.get() << " rescheduled " << counters->flows_rescheduled.get()
                    << " flows in table " << flows.size());
    CHECK(moved == 0);  // every server stays configured: flows keep theirs
    CHECK(server_of.size() == kFlows);
    CHECK(pub.retired() == 0);
    rte_eth_dev_stop(static_cast<uint16_t>(port));
    rte_eth_dev_stop(static_cast<uint16_t>(exc));
    rte_eth_dev_close(static_cast<uint16_t>(port));
    rte_eth_dev_close(static_cast<uint16_t>(exc));
    delete counters;
}
