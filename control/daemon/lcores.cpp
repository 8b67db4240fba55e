#include "control/daemon/lcores.h"

#include <cstring>
#include <new>
#include <thread>

#include <fmt/format.h>

#include "dataplane/rte.h"

namespace tern::ctl {

dp::FlowTimeouts flow_timeouts(const conf::Flows& f) {
    dp::FlowTimeouts t;
    auto set = [&](dp::ConnState s, uint32_t v) { t.seconds[static_cast<size_t>(s)] = v; };
    set(dp::ConnState::established, f.established);
    set(dp::ConnState::syn_sent, f.syn_sent);
    set(dp::ConnState::syn_recv, f.syn_recv);
    set(dp::ConnState::fin_wait, f.fin_wait);
    set(dp::ConnState::time_wait, f.time_wait);
    set(dp::ConnState::close, f.close);
    set(dp::ConnState::close_wait, f.close_wait);
    set(dp::ConnState::last_ack, f.last_ack);
    set(dp::ConnState::udp, f.udp);
    t.unproven = f.unproven;
    t.under_pressure = f.under_pressure;
    return t;
}

dp::WorkerTunables worker_tunables(const conf::Config& config) {
    dp::WorkerTunables t;
    t.timeouts = flow_timeouts(config.flows);
    t.icmp_rate_limit = config.dataplane.icmp_rate_limit;
    return t;
}

void LcoreSet::set_tunables(const conf::Config& config) {
    const dp::WorkerTunables next = worker_tunables(config);
    const dp::WorkerTunables* now = tunables_.load(std::memory_order_relaxed);
    if (now != nullptr && now->timeouts.seconds == next.timeouts.seconds &&
        now->timeouts.unproven == next.timeouts.unproven &&
        now->timeouts.under_pressure == next.timeouts.under_pressure && now->icmp_rate_limit == next.icmp_rate_limit) {
        return;
    }
    tunables_kept_.push_back(std::make_unique<const dp::WorkerTunables>(next));
    // Release: an lcore that sees the pointer sees the values.
    tunables_.store(tunables_kept_.back().get(), std::memory_order_release);
}

void* LcoreSet::alloc_flows(Lcore& l, size_t capacity, size_t bytes, int socket) {
    if (rte_eal_has_hugepages()) {
        l.flow_rte = rte_zmalloc_socket("tern_flows", bytes, RTE_CACHE_LINE_SIZE, socket);
        return l.flow_rte;
    }
    // --no-huge: the EAL's memory is 4 KiB pages, a TLB miss on most
    // lookups of a table of 1M+ flows (docs/bench/README.md, scale).
    try {
        l.flow_thp = std::make_unique<dp::FlowMemory>(capacity);
        return l.flow_thp->data();
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}

int LcoreSet::main(void* arg) {
    auto* l = static_cast<Lcore*>(arg);
    l->worker->run(*l->stop);
    return 0;
}

std::optional<std::string> LcoreSet::start(const conf::Config& config, const dp::WorkerConfig& base, unsigned queues,
                                           dp::TablePublisher& publisher, const dp::RssLayout& rss) {
    const dp::FlowTimeouts timeouts = flow_timeouts(config.flows);
    set_tunables(config);
    if (queues > 1) {
        steering_.rss = rss;
        steering_.rss.queues = static_cast<uint16_t>(queues);
        if (steering_.rss.toeplitz && steering_.rss.reta.empty()) steering_.rss.toeplitz = false;
        for (unsigned i = 0; i < queues; ++i) {
            // A burst of ICMP errors per lcore and then some; a full inbox drops (inbox_full).
            rte_ring* r = rte_ring_create(fmt::format("tern_inbox{}", i).c_str(), 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
            if (r == nullptr) return fmt::format("cannot create lcore inbox {}: {}", i, rte_strerror(rte_errno));
            steering_.inbox.push_back(r);
        }
    }
    unsigned q = 0;
    unsigned id;
    RTE_LCORE_FOREACH_WORKER(id) {
        if (q == queues) break;
        auto l = std::make_unique<Lcore>();
        l->id = id;
        const int socket = static_cast<int>(rte_lcore_to_socket_id(id));
        void* mem = rte_zmalloc_socket("tern_counters", sizeof(dp::LcoreCounters), RTE_CACHE_LINE_SIZE, socket);
        if (mem == nullptr) return fmt::format("lcore {}: cannot allocate its counters", id);
        l->counters = new (mem) dp::LcoreCounters();
        peers_.push_back(l->counters);
        const size_t bytes = dp::FlowTable::bytes_for(config.flows.size);
        l->flow_mem = alloc_flows(*l, config.flows.size, bytes, socket);
        if (l->flow_mem == nullptr) {
            return fmt::format("lcore {}: cannot allocate its flow table ({} entries, {} MiB; see flows.size)", id,
                               config.flows.size, bytes >> 20);
        }
        l->flows = std::make_unique<dp::FlowTable>(l->flow_mem, config.flows.size, timeouts, &dp::release_flow_counts,
                                                   l->counters);
        dp::WorkerConfig wc = base;
        wc.queue_id = wc.exc_queue_id = static_cast<uint16_t>(q);
        wc.flows = l->flows.get();
        wc.peers = &peers_;
        wc.tunables = &tunables_;
        wc.steering = queues > 1 ? &steering_ : nullptr;
        l->worker = std::make_unique<dp::Worker>(wc, publisher.current(), publisher.qsbr(), *l->counters);
        l->stop = &stop_;
        refs_.push_back({id, q, l->counters});
        lcores_.push_back(std::move(l));
        ++q;
    }
    if (q < queues) return fmt::format("{} worker lcores wanted, the EAL has {}", queues, q);
    for (auto& l : lcores_) rte_eal_remote_launch(&LcoreSet::main, l.get(), l->id);
    running_ = true;
    return std::nullopt;
}

bool LcoreSet::stop(std::optional<std::chrono::milliseconds> limit) {
    if (!running_) return true;
    stop_.store(true);
    const auto deadline = std::chrono::steady_clock::now() + limit.value_or(std::chrono::milliseconds(0));
    for (auto& l : lcores_) {
        while (limit && rte_eal_get_lcore_state(l->id) == RUNNING) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        rte_eal_wait_lcore(l->id);
    }
    running_ = false;
    // Hand-overs queued after their owner's last look (tern run stops every
    // lcore at once): freed while their pool still exists.
    for (rte_ring* r : steering_.inbox) {
        void* m = nullptr;
        while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
    return true;
}

uint64_t LcoreSet::rx() const {
    uint64_t n = 0;
    for (const auto& l : lcores_) n += l->counters->rx.get();
    return n;
}

LcoreSet::~LcoreSet() {
    stop();
    for (auto& l : lcores_) {
        l->worker.reset();
        l->flows.reset();
        rte_free(l->flow_rte);
        l->flow_thp.reset();
        if (l->counters != nullptr) {
            l->counters->~LcoreCounters();
            rte_free(l->counters);
        }
    }
    for (rte_ring* r : steering_.inbox) rte_ring_free(r);
}

std::vector<dp::FlowSample> LcoreSet::sample_flows(size_t max) const {
    std::vector<dp::FlowSample> out;
    for (const auto& l : lcores_) {
        if (l->flow_mem == nullptr || out.size() >= max) continue;
        const size_t cap = l->flows->capacity();
        const size_t want = (max - out.size() + lcores_.size() - 1) / lcores_.size();
        size_t got = 0;
        for (size_t i = 0; i < cap && got < want; ++i) {
            dp::FlowSample f{l->id, {}, {}, 0};
            if (!l->flows->slot((sample_from_ + i) % cap, f.entry, f.state, &f.expires)) continue;
            out.push_back(f);
            ++got;
        }
    }
    sample_from_ += 7919 * 64;
    return out;
}

std::vector<Heartbeat> LcoreSet::heartbeats() const {
    std::vector<Heartbeat> out;
    for (const auto& l : lcores_) out.push_back({l->id, l->counters->loops.get()});
    return out;
}

std::optional<std::string> LcoreSet::stall(unsigned lcore, unsigned seconds) {
    for (auto& l : lcores_) {
        if (l->id == lcore && running_) {
            l->worker->stall(static_cast<uint64_t>(seconds) * rte_get_tsc_hz());
            return std::nullopt;
        }
    }
    std::vector<unsigned> ids;
    for (const auto& l : lcores_) ids.push_back(l->id);
    return fmt::format("no worker lcore {}; the workers are {}", lcore, fmt::join(ids, ", "));
}

size_t LcoreSet::flow_capacity() const {
    size_t n = 0;
    for (const auto& l : lcores_) n += l->flows ? l->flows->capacity() : 0;
    return n;
}

}  // namespace tern::ctl
