#include "dataplane/worker.h"

#include "dataplane/maglev.h"
#include "dataplane/packet.h"
#include "dataplane/rte.h"

namespace tern::dp {

Worker::Worker(const WorkerConfig& cfg, const std::atomic<const Table*>& table, rte_rcu_qsbr* qsbr,
               LcoreCounters& counters)
    : cfg_(cfg), table_(table), qsbr_(qsbr), counters_(counters) {}

void Worker::classify_burst(const Table* t, rte_mbuf** pkts, uint16_t n, BurstOut& out) {
    constexpr int kPrefetch = 4;
    for (int i = 0; i < kPrefetch && i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    uint64_t rx_bytes = 0;
    for (uint16_t i = 0; i < n; ++i) {
        if (i + kPrefetch < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetch], void*));
        rte_mbuf* m = pkts[i];
        auto* data = rte_pktmbuf_mtod(m, uint8_t*);
        const uint32_t pkt_len = rte_pktmbuf_pkt_len(m);
        rx_bytes += pkt_len;
        const Parsed p = parse_frame(data, rte_pktmbuf_data_len(m), pkt_len, cfg_.port_mac);
        if (p.action == Action::lookup) {
            const ServiceEntry* svc = t != nullptr ? t->lookup(p.key) : nullptr;
            if (svc == nullptr) {
                out.punt[out.n_punt++] = m;
                continue;
            }
            const uint32_t h = svc->sched == Sched::sh ? source_hash(p.key) : flow_hash(p.key);
            const uint16_t idx = svc->ring.empty()
                                     ? kNoBackend
                                     : svc->ring[hash_to_index(h, static_cast<uint32_t>(svc->ring.size()))];
            if (unlikely(idx == kNoBackend)) {
                counters_.drop(Drop::no_server);
                rte_pktmbuf_free(m);
                continue;
            }
            const ServerEntry& srv = svc->servers[idx];
            if (unlikely(!srv.has_mac)) {
                counters_.drop(Drop::no_neighbor);
                rte_pktmbuf_free(m);
                continue;
            }
            // Direct routing: only the Ethernet addresses change.
            std::memcpy(data, srv.mac, 6);
            std::memcpy(data + 6, cfg_.port_mac, 6);
            counters_.services[svc->counter].add(pkt_len);
            counters_.servers[srv.counter].add(pkt_len);
            out.tx[out.n_tx++] = m;
        } else if (p.action == Action::punt) {
            out.punt[out.n_punt++] = m;
        } else {
            counters_.drop(p.drop);
            rte_pktmbuf_free(m);
        }
    }
    counters_.rx.add(n);
    counters_.rx_bytes.add(rx_bytes);
}

void Worker::transmit(BurstOut& out) {
    if (out.n_tx > 0) {
        const uint16_t sent = rte_eth_tx_burst(cfg_.port_id, cfg_.queue_id, out.tx, out.n_tx);
        counters_.tx.add(sent);
        if (unlikely(sent < out.n_tx)) {
            counters_.drops[static_cast<size_t>(Drop::tx_full)].add(out.n_tx - sent);
            rte_pktmbuf_free_bulk(out.tx + sent, out.n_tx - sent);
        }
    }
    if (out.n_punt > 0) {
        const uint16_t sent = rte_eth_tx_burst(cfg_.exc_port_id, cfg_.exc_queue_id, out.punt, out.n_punt);
        counters_.punt.add(sent);
        if (unlikely(sent < out.n_punt)) {
            counters_.drops[static_cast<size_t>(Drop::punt_full)].add(out.n_punt - sent);
            rte_pktmbuf_free_bulk(out.punt + sent, out.n_punt - sent);
        }
    }
    out.n_tx = 0;
    out.n_punt = 0;
}

void Worker::run(const std::atomic<bool>& stop) {
    const unsigned tid = rte_lcore_id();
    rte_rcu_qsbr_thread_register(qsbr_, tid);
    rte_rcu_qsbr_thread_online(qsbr_, tid);
    rte_mbuf* pkts[kBurst];
    BurstOut out;
    while (!stop.load(std::memory_order_relaxed)) {
        // One table per iteration; it stays valid until the quiescent report below.
        const Table* t = table_.load(std::memory_order_acquire);
        const uint16_t n = rte_eth_rx_burst(cfg_.port_id, cfg_.queue_id, pkts, kBurst);
        if (n > 0) {
            classify_burst(t, pkts, n, out);
            transmit(out);
        }
        // Packets from the kernel leave through the port untouched.
        const uint16_t k = rte_eth_rx_burst(cfg_.exc_port_id, cfg_.exc_queue_id, pkts, kBurst);
        if (k > 0) {
            const uint16_t sent = rte_eth_tx_burst(cfg_.port_id, cfg_.queue_id, pkts, k);
            counters_.from_kernel.add(sent);
            if (unlikely(sent < k)) {
                counters_.drops[static_cast<size_t>(Drop::tx_full)].add(k - sent);
                rte_pktmbuf_free_bulk(pkts + sent, k - sent);
            }
        }
        rte_rcu_qsbr_quiescent(qsbr_, tid);
    }
    rte_rcu_qsbr_thread_offline(qsbr_, tid);
    rte_rcu_qsbr_thread_unregister(qsbr_, tid);
}

}  // namespace tern::dp
