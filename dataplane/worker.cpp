#include "dataplane/worker.h"

#include <algorithm>

#include "dataplane/encap.h"
#include "dataplane/hash.h"
#include "dataplane/maglev.h"
#include "dataplane/packet.h"
#include "dataplane/rte.h"
#include "dataplane/schedulers.h"

namespace tern::dp {
namespace {

inline void store_be16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

// Writes an Ethernet header (with an 802.1Q tag when vlan != 0) at `d`;
// returns its length.
inline uint16_t write_l2(uint8_t* d, const uint8_t dst[6], const uint8_t src[6], uint16_t vlan, uint16_t ethertype) {
    std::memcpy(d, dst, 6);
    std::memcpy(d + 6, src, 6);
    if (vlan != 0) {
        store_be16(d + 12, kEtherTypeVlan);
        store_be16(d + 14, vlan);
        store_be16(d + 16, ethertype);
        return 18;
    }
    store_be16(d + 12, ethertype);
    return 14;
}

// The inline path's copy of the server's next hop in a flow entry (see FlowEntry::mac).
inline void set_next_hop(FlowEntry& e, const ServerEntry& srv) {
    if (srv.inline_ok) {
        std::memcpy(e.mac, srv.mac, sizeof(e.mac));
    } else {
        std::memset(e.mac, 0, sizeof(e.mac));
    }
}

// Where in the service's ring `hash` falls (its ring must not be empty).
inline const uint16_t* ring_slot(const ServiceEntry& svc, uint32_t hash) {
    return svc.ring.begin() + hash_to_index(hash, static_cast<uint32_t>(svc.ring.size()));
}

// The ring entry of `hash` (an index into svc.servers), or kNoBackend.
inline uint16_t ring_pick(const ServiceEntry& svc, uint32_t hash) {
    return svc.ring.empty() ? kNoBackend : *ring_slot(svc, hash);
}

// The fast path's first look at a frame is_fast_v4 accepted: its service,
// and when it has one, its flow hash into `hash`.
__attribute__((always_inline)) inline const ServiceEntry* find_service_v4(const Table& t, const uint8_t* d,
                                                                          uint32_t& hash) {
    uint64_t addrs, dst_ports;  // source and destination; destination and ports
    std::memcpy(&addrs, d + 26, 8);
    std::memcpy(&dst_ports, d + 30, 8);
    const uint8_t proto = d[23];
    const ServiceEntry* svc = t.lookup_v4(Table::v4_key(dst_ports, proto));
    if (svc != nullptr) hash = flow_hash_v4(addrs, proto, static_cast<uint32_t>(dst_ports >> 32));
    return svc;
}

// Moves the start of the frame so that `new_l3` bytes precede the IP header
// that now sits at `old_l3`. Returns the new start, or nullptr without room.
inline uint8_t* reframe(rte_mbuf* m, uint16_t old_l3, uint16_t new_l3) {
    if (new_l3 > old_l3) return reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, new_l3 - old_l3));
    if (new_l3 < old_l3) return reinterpret_cast<uint8_t*>(rte_pktmbuf_adj(m, old_l3 - new_l3));
    return rte_pktmbuf_mtod(m, uint8_t*);
}

// next_state(s, tcp_event(flags)) for every state and TCP flags byte, so
// that a packet's transition is one load; kEstChange marks a transition
// into or out of ESTABLISHED (the connection counts move).
constexpr uint8_t kEstChange = 0x80;
struct TcpNext {
    uint8_t next[kConnStateCount][256];
    TcpNext() {
        static_assert(kConnStateCount < kEstChange);
        for (size_t st = 0; st < kConnStateCount; ++st) {
            for (unsigned f = 0; f < 256; ++f) {
                const ConnState s = static_cast<ConnState>(st);
                const ConnState n = next_state(s, tcp_event(static_cast<uint8_t>(f)));
                const bool change = (s == ConnState::established) != (n == ConnState::established);
                next[st][f] = static_cast<uint8_t>(static_cast<uint8_t>(n) | (change ? kEstChange : 0));
            }
        }
    }
};
const TcpNext kTcpNext;

inline ConnState tcp_next(ConnState s, uint8_t flags) {
    return static_cast<ConnState>(kTcpNext.next[static_cast<size_t>(s)][flags] & ~kEstChange);
}

}  // namespace

void release_flow_counts(void* ctx, const FlowEntry& e, ConnState state) {
    static_cast<LcoreCounters*>(ctx)->conns[e.server_slot].add(state == ConnState::established, -1);
}

uint32_t Worker::clock(const rte_mbuf* m) const {
    if (cfg_.timestamp_offset >= 0 && (m->ol_flags & cfg_.timestamp_flag)) {
        const uint64_t us = *RTE_MBUF_DYNFIELD(m, cfg_.timestamp_offset, const rte_mbuf_timestamp_t*);
        return static_cast<uint32_t>(us / 1000000);
    }
    return static_cast<uint32_t>(rte_get_tsc_cycles() / rte_get_tsc_hz());
}

bool Worker::event_due(const rte_mbuf* m) const {
    const EventBarrier* ev = cfg_.events;
    if (ev == nullptr || next_event_ >= ev->times_us.size()) return false;
    if (!(m->ol_flags & cfg_.timestamp_flag)) return false;
    const uint64_t us = *RTE_MBUF_DYNFIELD(m, cfg_.timestamp_offset, const rte_mbuf_timestamp_t*);
    return us >= ev->times_us[next_event_];
}

const Table* Worker::event_barrier(rte_mbuf* m, const Table* t, BurstOut& out) {
    EventBarrier& ev = *cfg_.events;
    const unsigned id = rte_lcore_id();
    while (event_due(m)) {
        const uint64_t before_us = ev.times_us[next_event_] - 1;
        ++next_event_;
        ev.reached[id].store(next_event_, std::memory_order_release);
        if (inbox_ == nullptr) {
            // This lcore drops its table reference while it waits: quiescent.
            while (ev.applied.load(std::memory_order_acquire) < next_event_) {
                if (qsbr_ != nullptr) rte_rcu_qsbr_quiescent(qsbr_, id);
                rte_pause();
            }
        } else {
            // Other lcores hand over what they received before the event
            // until they reach it themselves (and control applies it only
            // then): those are served with the table before the event. So
            // this lcore keeps `t` (no quiescent state) while it waits, and
            // serves its inbox once more after the event was applied.
            while (ev.applied.load(std::memory_order_acquire) < next_event_) {
                serve_inbox(t, before_us, out);
                rte_pause();
            }
            serve_inbox(t, before_us, out);
        }
        t = table_.load(std::memory_order_acquire);
    }
    return t;
}

uint64_t Worker::stamp_us(const rte_mbuf* m) const {
    if (cfg_.timestamp_offset < 0 || !(m->ol_flags & cfg_.timestamp_flag)) return 0;
    return *RTE_MBUF_DYNFIELD(m, cfg_.timestamp_offset, const rte_mbuf_timestamp_t*);
}

__attribute__((cold, noinline)) void Worker::hand_over(rte_mbuf* m, uint16_t q, uint16_t origin) {
    // The RSS hash field is not read after RX: it carries the origin.
    m->hash.usr = origin;
    if (rte_ring_mp_enqueue(cfg_.steering->inbox[q], m) != 0) return drop(m, Drop::inbox_full);
    counters_.handed_over.add(1);
}

void Worker::serve_inbox(const Table* t, uint64_t due_us, BurstOut& out, bool drain) {
    if (inbox_ == nullptr) return;
    const bool tsc = cfg_.timestamp_offset < 0;
    for (;;) {
        const unsigned got =
            rte_ring_sc_dequeue_burst(inbox_, reinterpret_cast<void**>(held_ + n_held_), kHeld - n_held_, nullptr);
        n_held_ = static_cast<uint16_t>(n_held_ + got);
        if (n_held_ == 0) return;
        uint16_t kept = 0;
        for (uint16_t i = 0; i < n_held_; ++i) {
            rte_mbuf* m = held_[i];
            if (!tsc && stamp_us(m) > due_us) {
                held_[kept++] = m;
                continue;
            }
            if (out.full()) transmit(out);
            if (tsc) now_ = clock(m);
            if (n_ports_ > 1) {
                // Punts and answers go back to the port it arrived on.
                const uint8_t arrived = port_index(m->port);
                if (arrived != out.punt_port && out.n_punt > 0) transmit(out);
                out.punt_port = arrived;
                set_rx_port(arrived);
            }
            handed_origin_ = static_cast<int32_t>(m->hash.usr);
            parse_and_handle(t, m, out);
            handed_origin_ = -1;
        }
        const bool served = kept < n_held_;
        n_held_ = kept;
        // Done when the inbox is empty or nothing held is due yet. With the
        // TSC one pass per loop iteration (the lcore's own queue comes
        // first) unless draining; with the capture clock every due packet
        // now, so what is served does not depend on how far behind this
        // lcore is.
        if (got == 0 || !served || (tsc && !drain)) return;
    }
}

uint16_t Worker::schedule(const ServiceEntry& svc, const FlowKey& key, uint32_t hash) {
    switch (svc.sched) {
        case Sched::maglev:
        case Sched::sh: return ring_pick(svc, svc.sched == Sched::sh ? source_hash(key) : hash);
        case Sched::rr: {
            const uint16_t i = pick_rr(static_cast<uint32_t>(svc.pool.size()), rr_[svc.counter].cursor);
            return i == kNoPick ? kNoBackend : svc.pool[i];
        }
        case Sched::wrr: {
            RoundRobin& st = rr_[svc.counter];
            const uint16_t i = pick_wrr(svc.pool_weights, st.cursor, st.current);
            return i == kNoPick ? kNoBackend : svc.pool[i];
        }
        case Sched::wlc: {
            const size_t n = svc.pool.size();
            for (size_t i = 0; i < n; ++i) {
                const uint32_t slot = svc.servers[svc.pool[i]].counter;
                uint64_t a = 0, in = 0;
                for (const LcoreCounters* c : *cfg_.peers) {
                    a += c->conns[slot].active.get();
                    in += c->conns[slot].inactive.get();
                }
                wlc_active_[i] = a;
                wlc_inactive_[i] = in;
            }
            const uint16_t i =
                pick_wlc(svc.pool_weights, std::span(wlc_active_.data(), n), std::span(wlc_inactive_.data(), n));
            return i == kNoPick ? kNoBackend : svc.pool[i];
        }
    }
    return kNoBackend;
}

uint16_t Worker::pick(const Table& t, const ServiceEntry& svc, const FlowKey& key, uint32_t hash, const uint8_t* l4,
                      bool create) {
    FlowTable* ft = cfg_.flows;
    // Fragments bypass the flow table and always hash (3-tuple) into the
    // Maglev ring, whatever the scheduler, so a datagram stays together.
    if (key.fragment) return ring_pick(svc, hash);
    if (ft == nullptr) return schedule(svc, key, hash);
    FlowEntry* e = ft->find(key, hash, now_);
    return pick_entry(static_cast<uint32_t>(t.generation()), svc, key, hash, l4, create, e);
}

uint16_t Worker::pick_entry(uint32_t gen, const ServiceEntry& svc, const FlowKey& key, uint32_t hash, const uint8_t* l4,
                            bool create, FlowEntry* e) {
    FlowTable* ft = cfg_.flows;
    uint16_t idx = kNoBackend;
    ConnState old;  // the flow's state before this packet
    if (e != nullptr) {
        old = ft->state(*e);
        // The flow's server, found again by slot after a table swap.
        if (e->generation != gen) {
            e->server_index = svc.find_slot(e->server_slot);
            e->generation = gen;
        }
        idx = e->server_index;
        if (idx == kNoBackend || !svc.servers[idx].keeps_flows) {
            // Its server is down or gone: reschedule at once.
            std::memset(e->mac, 0, sizeof(e->mac));
            idx = schedule(svc, key, hash);
            if (idx == kNoBackend) return kNoBackend;
            const bool active = old == ConnState::established;
            counters_.conns[e->server_slot].add(active, -1);
            e->server_slot = svc.servers[idx].counter;
            e->server_index = idx;
            counters_.conns[e->server_slot].add(active, 1);
            counters_.conns[e->server_slot].created.add(1);
            counters_.flows_rescheduled.add(1);
        }
    } else {
        idx = schedule(svc, key, hash);
        if (idx == kNoBackend || !create) return idx;
        const uint64_t before = ft->evictions();
        e = ft->insert(key, hash, now_);
        if (ft->evictions() != before) counters_.flows_evicted.add(1);
        e->server_slot = svc.servers[idx].counter;
        e->server_index = idx;
        e->generation = gen;
        old = key.proto == kProtoTcp ? ConnState::none : ConnState::udp;  // set_state below
        counters_.conns[e->server_slot].add(false, 1);
        counters_.conns[e->server_slot].created.add(1);
    }
    set_next_hop(*e, svc.servers[idx]);
    if (!create) return idx;  // an ICMP error neither refreshes nor advances the flow
    // IPVS state tracking from the client's packets.
    const ConnState next = key.proto == kProtoTcp && l4 != nullptr ? tcp_next(old, l4[13]) : old;
    ft->set_state(*e, next, now_);
    if ((old == ConnState::established) != (next == ConnState::established)) {
        counters_.conns[e->server_slot].add(old == ConnState::established, -1);
        counters_.conns[e->server_slot].add(next == ConnState::established, 1);
        if (next == ConnState::established) ft->set_unproven(ft->where(*e), now_);
    }
    return idx;
}

Worker::Worker(const WorkerConfig& cfg, const std::atomic<const Table*>& table, rte_rcu_qsbr* qsbr,
               LcoreCounters& counters)
    : cfg_(cfg),
      table_(table),
      qsbr_(qsbr),
      counters_(counters),
      rr_(kMaxServiceSlots),
      wlc_active_(kNoBackend),
      wlc_inactive_(kNoBackend) {
    ports_[0].port_id = cfg_.port_id;
    ports_[0].exc_port_id = cfg_.exc_port_id;
    std::memcpy(ports_[0].mac, cfg_.port_mac, 6);
    ports_[0].mtu = cfg_.mtu;
    for (const WorkerPort& wp : cfg_.more_ports) {
        if (n_ports_ == kMaxPorts) break;
        ports_[n_ports_++] = wp;
    }
    mac_lo16_ = uint64_t{cfg_.port_mac[0]} << 48 | uint64_t{cfg_.port_mac[1]} << 56;
    std::memcpy(&mac_hi32_, cfg_.port_mac + 2, 4);
    set_rx_port(0);
    if (cfg_.peers == nullptr) {
        own_peers_.push_back(&counters_);
        cfg_.peers = &own_peers_;
    }
    if (cfg_.steering != nullptr && cfg_.steering->active()) {
        inbox_ = cfg_.steering->inbox[cfg_.queue_id];
    } else {
        cfg_.steering = nullptr;
    }
}

void Worker::set_rx_port(uint8_t i) {
    rx_index_ = i;
    rx_mac_ = ports_[i].mac;
    // is_fast_v4 needs a unicast address; with any other every frame takes parse_frame.
    mac48_ = 0;
    std::memcpy(&mac48_, rx_mac_, 6);
    fast_ok_ = !(rx_mac_[0] & 0x01);
}

uint8_t Worker::port_index(uint16_t port_id) const {
    for (uint8_t i = 0; i < n_ports_; ++i) {
        if (ports_[i].port_id == port_id) return i;
    }
    return 0;
}

__attribute__((cold, noinline)) void Worker::drop(rte_mbuf* m, Drop reason) {
    counters_.drop(reason);
    rte_pktmbuf_free(m);
}

bool Worker::icmp_allowed() {
    // A token bucket of one second's worth, refilled from the TSC.
    const uint64_t hz = rte_get_tsc_hz();
    const uint64_t now = rte_get_tsc_cycles();
    const uint64_t cap = uint64_t{cfg_.icmp_rate_limit} * hz;
    if (icmp_last_tsc_ == 0) icmp_tokens_ = cap;
    const uint64_t elapsed = now - icmp_last_tsc_;
    icmp_last_tsc_ = now;
    const uint64_t refill = elapsed > hz ? cap : elapsed * cfg_.icmp_rate_limit;
    icmp_tokens_ = icmp_tokens_ + refill > cap ? cap : icmp_tokens_ + refill;
    if (icmp_tokens_ < hz) return false;
    icmp_tokens_ -= hz;
    return true;
}

bool Worker::forward(const Table& t, rte_mbuf* m, const Parsed& p, const ServiceEntry& svc, const ServerEntry& srv,
                     uint32_t hash, BurstOut& out) {
    // No MAC, or a port this worker does not drive (a reload that added a
    // port takes effect at the next start): no neighbour to send to.
    if (unlikely(!srv.has_mac || srv.port >= n_ports_)) {
        drop(m, Drop::no_neighbor);
        return false;
    }
    const uint32_t pkt_len = rte_pktmbuf_pkt_len(m);
    const uint16_t ethertype = p.key.family == 4 ? kEtherTypeIpv4 : kEtherTypeIpv6;
    const uint16_t l2 = srv.vlan != 0 ? 18 : 14;
    switch (svc.fwd) {
        case Fwd::dr: {
            // Direct routing: a new Ethernet header (VLAN of the server); the
            // IP packet and any Ethernet padding stay as they are.
            uint8_t* d = reframe(m, p.l3_offset, l2);
            if (unlikely(d == nullptr)) {
                drop(m, Drop::tx_full);
                return false;
            }
            write_l2(d, srv.mac, ports_[srv.port].mac, srv.vlan, ethertype);
            break;
        }
        case Fwd::ipip: {
            const uint16_t outer = p.key.family == 4 ? 20 : 40;
            if (unlikely(p.l3_len + outer > ports_[srv.port].mtu)) {
                // Never answer an ICMP error with an ICMP error (RFC 1122 3.2.2, RFC 4443 2.4).
                if (p.key.proto == kProtoIcmp || p.key.proto == kProtoIcmp6) {
                    drop(m, Drop::too_big_icmp_error);
                    return false;
                }
                too_big(m, p, ports_[srv.port].mtu, outer, out);
                return false;
            }
            // Ethernet padding must not end up inside the tunnel.
            const uint32_t trailing = pkt_len - p.l3_offset - p.l3_len;
            if (trailing != 0 && rte_pktmbuf_trim(m, static_cast<uint16_t>(trailing)) != 0) {
                drop(m, Drop::bad_ip_length);
                return false;
            }
            uint8_t* d = reframe(m, p.l3_offset, l2 + outer);
            if (unlikely(d == nullptr)) {
                drop(m, Drop::tx_full);
                return false;
            }
            write_l2(d, srv.mac, ports_[srv.port].mac, srv.vlan, ethertype);
            const uint8_t* inner = d + l2 + outer;
            const TableParams& tp = t.params();
            // The outer source spreads flows over the server's RX queues; an
            // independent mix of the flow hash keeps it from tracking the ring slot.
            const uint32_t src_hash = mix32(hash ^ 0x9E3779B9u);
            uint8_t src[16];
            if (p.key.family == 4) {
                pick_in_prefix(tp.src4, tp.src4_len, 4, src_hash, src);
                write_outer_ipv4(d + l2, inner, p.l3_len, src, srv.ip);
            } else {
                if (unlikely(!tp.has_src6)) {
                    drop(m, Drop::no_server);
                    return false;
                }
                pick_in_prefix(tp.src6, tp.src6_len, 6, src_hash, src);
                write_outer_ipv6(d + l2, inner, p.l3_len, src, srv.ip, hash);
            }
            break;
        }
    }
    counters_.services[svc.counter].add(pkt_len);
    counters_.servers[srv.counter].add(pkt_len);
    queue_tx(out, m, srv.port);
    return true;
}

Worker::Hot Worker::hot(const Table* t) const {
    Hot h{t, cfg_.flows, counters_.services.data(), counters_.servers.data(), 0, 0, 0};
    if (t == nullptr) return h;
    h.generation = static_cast<uint32_t>(t->generation());
    const TableParams& tp = t->params();
    std::memcpy(&h.src4, tp.src4, 4);
    // pick_in_prefix's host part: the low bits of the hash, byte-swapped into the last word.
    const unsigned host_bits = tp.src4_len <= 32 ? 32u - tp.src4_len : 32u;
    h.src4_host = host_bits == 0 ? 0 : host_bits == 32 ? ~0u : (1u << host_bits) - 1;
    return h;
}

__attribute__((always_inline)) inline void Worker::forward_v4_flow(const Hot& h, FlowTable* ft, rte_mbuf* m, uint8_t* d,
                                                                   const ServiceEntry& svc, uint32_t hash,
                                                                   BurstOut& out) {
    // The key's words as the frame holds them (FlowKey's layout: find_v4).
    uint32_t src, dst, ports;
    std::memcpy(&src, d + 26, 4);
    std::memcpy(&dst, d + 30, 4);
    std::memcpy(&ports, d + 34, 4);
    const uint8_t proto = d[23];
    const uint64_t tail = uint64_t{ports} | uint64_t{proto} << 32 | uint64_t{4} << 40;
    FlowTable::Where at;
    FlowEntry* e = ft->find_v4(src, dst, tail, hash, now_, at);
    uint16_t idx;
    // The common cases inline: a hit on a flow resolved in this table whose
    // server keeps its flows and is sent to inline, and a new flow of a
    // Maglev service. The rest (a table swap, a server gone, other
    // schedulers, a VLAN or unknown next hop) is forward_v4_uncommon's.
    uint64_t hop;  // server_index, then the next hop's MAC (FlowEntry::mac)
    ConnState old;
    if (likely(e != nullptr)) {
        std::memcpy(&hop, &e->server_index, 8);
        if (unlikely(e->generation != h.generation || (hop >> 16) == 0)) {
            return forward_v4_uncommon(h, m, svc, hash, e, out);
        }
        idx = static_cast<uint16_t>(hop);
        old = FlowTable::state(at);
    } else {
        if (unlikely(svc.sched != Sched::maglev)) return forward_v4_uncommon(h, m, svc, hash, nullptr, out);
        idx = ring_pick(svc, hash);
        if (unlikely(idx == kNoBackend)) return drop(m, Drop::no_server);
        // A ring's server keeps flows; one behind a VLAN or not yet resolved is forward_v4_uncommon's.
        const ServerEntry& srv = svc.servers[idx];
        if (unlikely(!srv.inline_ok)) return forward_v4_uncommon(h, m, svc, hash, nullptr, out);
        FlowKey key;
        fast_v4_key(d, key);
        const uint64_t before = ft->evictions();
        e = ft->insert(key, hash, now_);
        if (unlikely(ft->evictions() != before)) counters_.flows_evicted.add(1);
        e->server_slot = srv.counter;
        e->generation = h.generation;
        hop = uint64_t{idx};
        std::memcpy(reinterpret_cast<uint8_t*>(&hop) + 2, srv.mac, 6);
        std::memcpy(&e->server_index, &hop, 8);
        counters_.conns[e->server_slot].add(false, 1);
        counters_.conns[e->server_slot].created.add(1);
        at = ft->where(*e);
        old = proto == kProtoTcp ? ConnState::none : ConnState::udp;
    }
    // IPVS state tracking from the client's packets: the TCP flags byte (a
    // UDP flow's state stays udp whatever its byte 13 holds).
    const uint8_t n = kTcpNext.next[static_cast<size_t>(old)][d[47]];
    const ConnState next = static_cast<ConnState>(n & ~kEstChange);
    if (unlikely(n & kEstChange)) {
        established_change(ft, at, e->server_slot, old, next);
    } else {
        ft->set_state(at, next, now_);
    }
    write_next_hop_inline(h, m, d, svc, hop, e->server_slot, hash, out);
}

// A flow's move into or out of ESTABLISHED: its server's connection counts,
// its state; one that has just become ESTABLISHED is unproven until its
// next packet (a spoofed SYN+ACK pair has none). Out of line: the inline
// path's registers stay its own.
__attribute__((noinline)) void Worker::established_change(FlowTable* ft, FlowTable::Where at, uint32_t slot,
                                                          ConnState old, ConnState next) {
    counters_.conns[slot].add(old == ConnState::established, -1);
    counters_.conns[slot].add(next == ConnState::established, 1);
    ft->set_state(at, next, now_);
    if (next == ConnState::established) ft->set_unproven(at, now_);
}

__attribute__((always_inline)) inline void Worker::write_next_hop_inline(const Hot& h, rte_mbuf* m, uint8_t* d,
                                                                         const ServiceEntry& svc, uint64_t hop,
                                                                         uint32_t slot, uint32_t hash, BurstOut& out) {
    const uint32_t pkt_len = rte_pktmbuf_pkt_len(m);
    // The first 8 bytes of the Ethernet header: the server's MAC, then the
    // first two bytes of the port's.
    const uint64_t l2 = hop >> 16 | mac_lo16_;
    const auto queue = [&] {
        h.services[svc.counter].add(pkt_len);
        h.servers[slot].add(pkt_len);
        out.tx[out.n_tx++] = m;
    };
    switch (svc.fwd) {
        case Fwd::dr:
            // Direct routing: the MACs in an 8- and a 4-byte store; the
            // EtherType stays 0x0800.
            std::memcpy(d, &l2, 8);
            std::memcpy(d + 8, &mac_hi32_, 4);
            return queue();
        case Fwd::ipip: {
            const ServerEntry& srv = svc.servers[static_cast<uint16_t>(hop)];
            const uint32_t l3_len = uint32_t{d[16]} << 8 | d[17];
            // IPv4 in IPv4: forward()'s, with the outer header built from words.
            if (unlikely(l3_len + 20u > cfg_.mtu)) {
                return forward_v4_too_big(h, m, svc, srv, hash, out);  // too big: ICMP, or DF clear
            }
            // Ethernet padding must not end up inside the tunnel: trim it, and
            // prepend the outer header; one segment with the headroom (the
            // usual case) in three stores, else rte_pktmbuf_trim and _prepend.
            const uint32_t trailing = pkt_len - 14 - l3_len;
            if (likely(m->nb_segs == 1 && rte_pktmbuf_headroom(m) >= 20)) {
                const uint16_t grow = static_cast<uint16_t>(20 - trailing);
                m->data_off = static_cast<uint16_t>(m->data_off - 20);
                m->data_len = static_cast<uint16_t>(m->data_len + grow);
                m->pkt_len += static_cast<uint32_t>(static_cast<int32_t>(20 - trailing));
                d -= 20;
            } else {
                if (trailing != 0 && rte_pktmbuf_trim(m, static_cast<uint16_t>(trailing)) != 0) {
                    return drop(m, Drop::bad_ip_length);
                }
                d = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, 20));
                if (unlikely(d == nullptr)) return drop(m, Drop::tx_full);
            }
            // The MACs as DR's; the second store also writes EtherType 0x0800
            // and two bytes that the outer header's first store rewrites.
            const uint64_t l2_8 = mac_hi32_ | uint64_t{0x0008} << 32;
            std::memcpy(d, &l2, 8);
            std::memcpy(d + 8, &l2_8, 8);
            const uint8_t* inner = d + 34;
            uint32_t i0, i1, dst;
            std::memcpy(&i0, inner, 4);
            std::memcpy(&i1, inner + 4, 4);
            std::memcpy(&dst, srv.ip, 4);
            // Words as they lie in memory (little-endian): version/IHL, the inner
            // TOS, the length; the inner ID, its DF alone; TTL 64, protocol 4,
            // checksum; source; destination. The checksum as write_outer_ipv4's.
            const uint32_t w0 =
                0x45u | (i0 & 0xFF00u) | uint32_t{__builtin_bswap16(static_cast<uint16_t>(l3_len + 20))} << 16;
            const uint32_t w1 = i1 & 0x0040FFFFu;
            const uint32_t w2 = 0x0440u;
            const uint32_t w3 = h.src4 | __builtin_bswap32(mix32(hash ^ 0x9E3779B9u) & h.src4_host);
            // The ones'-complement sum, folded 64 -> 32 -> 16 bits with the carries added back.
            const uint64_t sum = uint64_t{w0} + w1 + w2 + w3 + dst;
            uint32_t f = static_cast<uint32_t>(sum);
            const uint32_t hi = static_cast<uint32_t>(sum >> 32);
            f += hi;
            f += f < hi;
            f = (f & 0xFFFF) + (f >> 16);
            f += f >> 16;
            const uint64_t lo = uint64_t{w0} | uint64_t{w1} << 32;
            const uint64_t mid = uint64_t{w2 | (~f & 0xFFFFu) << 16} | uint64_t{w3} << 32;
            std::memcpy(d + 14, &lo, 8);
            std::memcpy(d + 22, &mid, 8);
            std::memcpy(d + 30, &dst, 4);
            return queue();
        }
    }
    // Each method returned above, and a table holds no other: so a switch
    // of two cases is one branch, as an if-else was.
    __builtin_unreachable();
}

__attribute__((noinline)) void Worker::forward_v4_uncommon(const Hot& h, rte_mbuf* m, const ServiceEntry& svc,
                                                           uint32_t hash, FlowEntry* e, BurstOut& out) {
    const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
    Parsed p;
    fast_v4_parsed(d, p);
    const uint16_t idx =
        h.flows == nullptr ? schedule(svc, p.key, hash) : pick_entry(h.generation, svc, p.key, hash, d + 34, true, e);
    if (unlikely(idx == kNoBackend)) return drop(m, Drop::no_server);
    forward(*h.t, m, p, svc, svc.servers[idx], hash, out);
}

__attribute__((noinline)) void Worker::forward_v4_too_big(const Hot& h, rte_mbuf* m, const ServiceEntry& svc,
                                                          const ServerEntry& srv, uint32_t hash, BurstOut& out) {
    Parsed p;
    fast_v4_parsed(rte_pktmbuf_mtod(m, const uint8_t*), p);
    forward(*h.t, m, p, svc, srv, hash, out);
}

__attribute__((cold, noinline)) void Worker::too_big(rte_mbuf* m, const Parsed& p, uint32_t mtu, uint32_t overhead,
                                                     BurstOut& out) {
    uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
    uint8_t* ip = d + p.l3_offset;
    if (p.key.family == 4 && !(ip[6] & 0x40)) return drop(m, Drop::too_big_no_df);
    if (!icmp_allowed()) return drop(m, Drop::icmp_rate_limited);
    // Answer from the VIP to the client, back through the router it came from.
    uint8_t vip[16];
    std::memcpy(vip, p.key.dst, 16);
    uint8_t router[6];
    std::memcpy(router, d + 6, 6);
    const size_t avail = rte_pktmbuf_data_len(m) - p.l3_offset;
    const size_t quoted = avail < p.l3_len ? avail : p.l3_len;
    size_t len;
    if (p.key.family == 4) {
        len = write_icmp4_frag_needed(ip, ip, quoted, static_cast<uint16_t>(mtu - overhead), vip);
    } else {
        len = write_icmp6_packet_too_big(ip, ip, quoted, mtu - overhead, vip);
    }
    // One segment of exactly the answer.
    if (m->next != nullptr) {
        rte_pktmbuf_free(m->next);
        m->next = nullptr;
        m->nb_segs = 1;
    }
    m->data_len = static_cast<uint16_t>(p.l3_offset + len);
    m->pkt_len = m->data_len;
    // Back the way it came: on the VLAN it arrived on (untagged when it
    // came untagged or only priority-tagged), to the router that sent it.
    const bool vlan = p.l3_offset == 18 && ((d[14] << 8 | d[15]) & 0x0FFF) != 0;
    if (p.l3_offset == 18 && !vlan) {
        d = reinterpret_cast<uint8_t*>(rte_pktmbuf_adj(m, 4));
        write_l2(d, router, rx_mac_, 0, p.key.family == 4 ? kEtherTypeIpv4 : kEtherTypeIpv6);
    } else {
        std::memcpy(d, router, 6);
        std::memcpy(d + 6, rx_mac_, 6);
    }
    counters_.too_big_sent.add(1);
    queue_tx(out, m, rx_index_);
}

__attribute__((cold, noinline)) void Worker::handle_icmp(const Table& t, rte_mbuf* m, const Parsed& p, BurstOut& out) {
    if (t.vip(p.key) == nullptr) {
        out.punt[out.n_punt++] = m;
        return;
    }
    uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
    const uint8_t* icmp = d + p.l4_offset;
    const uint8_t type = icmp[0];
    const bool v4 = p.key.family == 4;
    if ((v4 && type == 8) || (!v4 && type == 128)) {
        if (!t.params().answer_echo || (!v4 && p.l4_offset != p.l3_offset + 40)) {
            out.punt[out.n_punt++] = m;
            return;
        }
        if (!icmp_allowed()) return drop(m, Drop::icmp_rate_limited);
        uint8_t sender[6];
        std::memcpy(sender, d + 6, 6);
        std::memcpy(d, sender, 6);
        std::memcpy(d + 6, rx_mac_, 6);
        const size_t len = rte_pktmbuf_data_len(m) - p.l3_offset;
        if (v4) {
            icmp4_echo_to_reply(d + p.l3_offset, len);
        } else {
            icmp6_echo_to_reply(d + p.l3_offset, len);
        }
        counters_.echo_replies.add(1);
        queue_tx(out, m, rx_index_);
        return;
    }
    // An error about a packet of one of our flows (PMTU discovery, unreachable,
    // time exceeded): the quoted packet went from the VIP to the client, so
    // the reversed quote is the flow's key and its server the owner.
    const bool error = v4 ? (type == 3 || type == 11) : (type == 1 || type == 2 || type == 3);
    const uint8_t* end = d + rte_pktmbuf_data_len(m);
    const uint8_t* q = icmp + 8;
    FlowKey k;
    std::memset(&k, 0, sizeof(k));
    k.family = p.key.family;
    const uint8_t* l4 = nullptr;
    if (error && v4 && end - q >= 20 && (q[0] >> 4) == 4) {
        const unsigned ihl = (q[0] & 0x0F) * 4u;
        k.proto = q[9];
        std::memcpy(k.src, q + 16, 4);
        std::memcpy(k.dst, q + 12, 4);
        if (ihl >= 20 && end - q >= static_cast<long>(ihl) + 4 && !(((q[6] << 8) | q[7]) & 0x1FFF)) l4 = q + ihl;
    } else if (error && !v4 && end - q >= 40 && (q[0] >> 4) == 6) {
        std::memcpy(k.src, q + 24, 16);
        std::memcpy(k.dst, q + 8, 16);
        // Skip the quoted packet's extension headers; a first fragment
        // (offset 0) still carries the ports, a later one does not.
        uint8_t next = q[6];
        const uint8_t* h = q + 40;
        for (int i = 0; i < 8 && h != nullptr; ++i) {
            if (next == 0 || next == 43 || next == 60) {
                if (end - h < 8 || end - h < (h[1] + 1) * 8) {
                    h = nullptr;
                    break;
                }
                next = h[0];
                h += (h[1] + 1) * 8;
            } else if (next == 44) {
                if (end - h < 8 || (((h[2] << 8) | h[3]) & 0xFFF8) != 0) {
                    h = nullptr;
                    break;
                }
                next = h[0];
                h += 8;
            } else {
                break;
            }
        }
        k.proto = next;
        if (h != nullptr && end - h >= 4) l4 = h;
    }
    const ServiceEntry* svc = nullptr;
    if (l4 != nullptr && (k.proto == kProtoTcp || k.proto == kProtoUdp) &&
        std::memcmp(k.dst, p.key.dst, v4 ? 4 : 16) == 0) {
        std::memcpy(&k.sport, l4 + 2, 2);
        std::memcpy(&k.dport, l4, 2);
        svc = t.lookup(k);
    }
    if (svc == nullptr) {
        out.punt[out.n_punt++] = m;
        return;
    }
    // The flow's own server (its flow-table entry when there is one); an
    // ICMP error never creates a flow nor changes its state.
    const uint32_t h = flow_hash(k);
    // RSS chose this lcore by the error's outer header; the flow may live
    // on another lcore. Where RSS is Toeplitz with Tern's key and table,
    // its owner is computed; elsewhere the error is offered to each lcore
    // in turn until one knows the flow, and the last one schedules it.
    const Steering* st = cfg_.steering;
    if (st != nullptr && cfg_.flows != nullptr) {
        const uint16_t self = cfg_.queue_id;
        if (st->rss.toeplitz) {
            const uint16_t owner = st->owner(k);
            if (owner != self) return hand_over(m, owner, self);
        } else if (cfg_.flows->find(k, h, now_) == nullptr) {
            const uint16_t origin = handed_origin_ >= 0 ? static_cast<uint16_t>(handed_origin_) : self;
            const uint16_t next = static_cast<uint16_t>((self + 1) % st->rss.queues);
            if (next != origin) return hand_over(m, next, origin);
        }
    }
    const uint16_t idx = pick(t, *svc, k, h, nullptr, false);
    if (unlikely(idx == kNoBackend)) return drop(m, Drop::no_server);
    if (forward(t, m, p, *svc, svc->servers[idx], h, out)) counters_.icmp_errors_forwarded.add(1);
}

void Worker::handle_flow(const Table& t, rte_mbuf* m, const Parsed& p, BurstOut& out) {
    if (p.key.proto == kProtoIcmp || p.key.proto == kProtoIcmp6) return handle_icmp(t, m, p, out);
    const ServiceEntry* svc = t.lookup(p.key);
    handle_flow(t, m, p, svc, svc != nullptr ? flow_hash(p.key) : 0, out);
}

void Worker::handle_flow(const Table& t, rte_mbuf* m, const Parsed& p, const ServiceEntry* svc, uint32_t h,
                         BurstOut& out) {
    if (svc == nullptr) {
        out.punt[out.n_punt++] = m;
        return;
    }
    const uint8_t* l4 = p.key.fragment ? nullptr : rte_pktmbuf_mtod(m, const uint8_t*) + p.l4_offset;
    const uint16_t idx = pick(t, *svc, p.key, h, l4, true);
    if (unlikely(idx == kNoBackend)) return drop(m, Drop::no_server);
    forward(t, m, p, *svc, svc->servers[idx], h, out);
}

__attribute__((noinline)) void Worker::parse_and_handle(const Table* t, rte_mbuf* m, BurstOut& out) {
    const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
    Parsed p;
    parse_frame(data, rte_pktmbuf_data_len(m), rte_pktmbuf_pkt_len(m), rx_mac_, p);
    if (likely(p.action == Action::lookup)) {
        if (unlikely(t == nullptr)) {
            out.punt[out.n_punt++] = m;
        } else {
            handle_flow(*t, m, p, out);
        }
    } else if (p.action == Action::punt) {
        out.punt[out.n_punt++] = m;
    } else {
        drop(m, p.drop);
    }
}

template <bool kFlowTable>
__attribute__((always_inline)) inline uint64_t Worker::classify_run(const Table* t, rte_mbuf** pkts, uint16_t n,
                                                                    BurstOut& out) {
    constexpr unsigned kPrefetch = 4;
    // Taken from `t` for every run, never carried over from another: a
    // table an event published may sit where the one it replaced was freed
    // (the lcore is quiescent while it waits), and a stale generation would
    // keep flow entries' next hops from the old table.
    const Hot h = hot(t);
    const ServiceEntry* svcs[kBurst];
    uint32_t hashes[kBurst];
    uint32_t uncommon = 0;  // bit i: packet i is not of is_fast_v4's shape
    uint64_t bytes = 0;
    for (unsigned i = 0; i < kPrefetch && i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    // Pass 1: shape, service, flow hash; ask for the flow's bucket line.
    if (likely(fast_ok_ && t != nullptr)) {
        const uint64_t mac48 = mac48_;
        for (unsigned i = 0; i < n; ++i) {
            if (i + kPrefetch < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetch], void*));
            rte_mbuf* m = pkts[i];
            uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
            const uint32_t pkt_len = rte_pktmbuf_pkt_len(m);
            bytes += pkt_len;
            if (unlikely(!is_fast_v4(d, rte_pktmbuf_data_len(m), pkt_len, mac48))) {
                svcs[i] = nullptr;
                uncommon |= 1u << i;
                continue;
            }
            const ServiceEntry* svc = find_service_v4(*t, d, hashes[i]);
            svcs[i] = svc;
            if constexpr (kFlowTable) {
                if (svc != nullptr) h.flows->prefetch(hashes[i]);
            }
        }
    } else {
        // No table yet, or a port MAC is_fast_v4 cannot serve: every packet is parse_frame's.
        for (unsigned i = 0; i < n; ++i) {
            bytes += rte_pktmbuf_pkt_len(pkts[i]);
            svcs[i] = nullptr;
        }
        uncommon = ~0u >> (32 - n);
    }
    // Pass 2: the bucket lines asked for first have arrived by now: find
    // each flow's way and ask for its entry line too; a new flow's Maglev
    // ring entry instead (a ring is 128 KiB: rarely in cache).
    if constexpr (kFlowTable) {
        for (unsigned i = 0; i < n; ++i) {
            const ServiceEntry* svc = svcs[i];
            if (likely(svc != nullptr) && !h.flows->prefetch_entry(hashes[i], now_) && !svc->ring.empty()) {
                rte_prefetch0(ring_slot(*svc, hashes[i]));
            }
        }
    }
    // Pass 3: forward, punt or drop each packet, its lines (mostly) in cache.
    for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        if (likely(svcs[i] != nullptr)) {
            if constexpr (kFlowTable) {
                forward_v4_flow(h, h.flows, m, rte_pktmbuf_mtod(m, uint8_t*), *svcs[i], hashes[i], out);
            } else {
                forward_v4_uncommon(h, m, *svcs[i], hashes[i], nullptr, out);
            }
        } else if (!(uncommon >> i & 1)) {
            out.punt[out.n_punt++] = m;  // not a service's
        } else {
            parse_and_handle(t, m, out);
        }
    }
    return bytes;
}

// A stateless lcore's passes (tern run and replay always give their lcores
// a flow table; unit tests run it), out of line so that this copy does not
// change how classify_burst's own is compiled: inlined too, it cost the DR
// pipeline ~0.3 ns a packet at the burst median.
__attribute__((noinline)) uint64_t Worker::classify_stateless(const Table* t, rte_mbuf** pkts, uint16_t n,
                                                              BurstOut& out) {
    return classify_run<false>(t, pkts, n, out);
}

// Replay's flow clock and events cut a burst into runs. Waits at the event
// barrier when an event is due by pkts[0] (`t` becomes the event's table,
// and the tunables its reload published are taken),
// sets the flow clock from pkts[0] and returns the length of the run that
// starts there: the packets while the clock's second stays the same and no
// event is due, at most kBurst.
__attribute__((noinline)) uint16_t Worker::start_run(const Table*& t, rte_mbuf** pkts, uint16_t n, BurstOut& out) {
    if (event_due(pkts[0])) {
        t = event_barrier(pkts[0], t, out);
        take_tunables();  // a reload event's, from its first packet on
    }
    now_ = clock(pkts[0]);
    uint16_t end = 1;
    while (end < n && end < kBurst && clock(pkts[end]) == now_ && !event_due(pkts[end])) ++end;
    return end;
}

// noipa: one function, never split into a tail-called clone, so that
// callgrind (scripts/bench) counts the whole burst. clang (the fuzz build)
// has no noipa; there noinline keeps the one function.
#if defined(__clang__)
__attribute__((noinline))
#else
__attribute__((noipa))
#endif
void Worker::classify_burst(const Table* t, rte_mbuf** pkts, uint16_t n, BurstOut& out) {
    if (n == 0) return;
    if (likely(cfg_.timestamp_offset < 0 && n <= kBurst)) {
        now_ = clock(pkts[0]);  // the TSC once per burst is enough
    } else {
        // Replay (or more than kBurst packets): each run but the last is
        // classified as a burst of its own, in which start_run finds one
        // run; the last here. rx is counted per run.
        for (uint16_t len; (len = start_run(t, pkts, n, out)) < n; pkts += len, n = static_cast<uint16_t>(n - len)) {
            classify_burst(t, pkts, len, out);
        }
    }
    const uint64_t rx_bytes =
        likely(cfg_.flows != nullptr) ? classify_run<true>(t, pkts, n, out) : classify_stateless(t, pkts, n, out);
    counters_.rx.add(n);
    counters_.rx_bytes.add(rx_bytes);
}

// The packets for the other ports: one burst per port, in their order.
__attribute__((noinline)) void Worker::transmit_side(BurstOut& out) {
    rte_mbuf* burst[kBurst];
    for (uint8_t port = 1; port < n_ports_; ++port) {
        uint16_t n = 0;
        for (uint16_t i = 0; i < out.n_side; ++i) {
            if (out.side_port[i] == port) burst[n++] = out.side[i];
        }
        if (n == 0) continue;
        const uint16_t sent = rte_eth_tx_burst(ports_[port].port_id, cfg_.queue_id, burst, n);
        counters_.tx.add(sent);
        if (unlikely(sent < n)) {
            counters_.drop(Drop::tx_full, n - sent);
            rte_pktmbuf_free_bulk(burst + sent, n - sent);
        }
    }
    out.n_side = 0;
}

void Worker::transmit(BurstOut& out) {
    if (out.n_tx > 0) {
        const uint16_t sent = rte_eth_tx_burst(cfg_.port_id, cfg_.queue_id, out.tx, out.n_tx);
        counters_.tx.add(sent);
        if (unlikely(sent < out.n_tx)) {
            counters_.drop(Drop::tx_full, out.n_tx - sent);
            rte_pktmbuf_free_bulk(out.tx + sent, out.n_tx - sent);
        }
    }
    if (out.n_side > 0) transmit_side(out);
    if (out.n_punt > 0) police_punts(out);
    if (out.n_punt > 0) {
        const uint16_t sent =
            rte_eth_tx_burst(ports_[out.punt_port].exc_port_id, cfg_.exc_queue_id, out.punt, out.n_punt);
        counters_.punt.add(sent);
        if (unlikely(sent < out.n_punt)) {
            counters_.drop(Drop::punt_full, out.n_punt - sent);
            rte_pktmbuf_free_bulk(out.punt + sent, out.n_punt - sent);
        }
    }
    out.n_tx = 0;
    out.n_punt = 0;
}

__attribute__((noinline)) void Worker::police_punts(BurstOut& out) {
    // Any table this lcore loads before its next quiescent report stays valid until then.
    // Before the first table: the default budgets, nobody trusted.
    const Table* t = table_.load(std::memory_order_acquire);
    const PuntPolicy& policy = likely(t != nullptr) ? t->params().punt : no_table_policy_;
    // The TSC once per call, or replay's capture time per packet (the
    // newest seen: stamps need not ascend across queues' hand-overs).
    const bool tsc = cfg_.timestamp_offset < 0;
    const uint64_t hz = tsc ? rte_get_tsc_hz() : 1000000;
    const uint64_t tsc_now = tsc ? rte_get_tsc_cycles() : 0;
    uint16_t kept = 0;
    for (uint16_t i = 0; i < out.n_punt; ++i) {
        rte_mbuf* m = out.punt[i];
        if (!tsc) punt_clock_us_ = std::max(punt_clock_us_, stamp_us(m));
        const PuntClass c = classify_punt(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), policy);
        const size_t k = static_cast<size_t>(c);
        if (likely(punt_buckets_[k].take(tsc ? tsc_now : punt_clock_us_, hz, policy.rate(c), policy.depth(c)))) {
            counters_.punt_passed[k].add(1);
            out.punt[kept++] = m;
        } else {
            counters_.punt_policed[k].add(1);
            drop(m, Drop::punt_policed);
        }
    }
    out.n_punt = kept;
}

void Worker::take_tunables() {
    if (cfg_.tunables == nullptr) return;
    const WorkerTunables* now = cfg_.tunables->load(std::memory_order_acquire);
    if (likely(now == tunables_)) return;
    tunables_ = now;
    if (now == nullptr) return;
    if (cfg_.flows != nullptr) cfg_.flows->set_timeouts(now->timeouts);
    cfg_.icmp_rate_limit = now->icmp_rate_limit;
}

__attribute__((noinline, cold)) void Worker::stall_now() {
    const uint64_t until = rte_get_tsc_cycles() + stall_cycles_.exchange(0, std::memory_order_relaxed);
    while (rte_get_tsc_cycles() < until) rte_pause();
}

void Worker::run(const std::atomic<bool>& stop) {
    const unsigned tid = rte_lcore_id();
    rte_rcu_qsbr_thread_register(qsbr_, tid);
    rte_rcu_qsbr_thread_online(qsbr_, tid);
    rte_mbuf* pkts[kBurst];
    BurstOut out;
    take_tunables();
    while (!stop.load(std::memory_order_relaxed)) {
        counters_.loops.add(1);
        if (unlikely(stall_cycles_.load(std::memory_order_relaxed) != 0)) stall_now();
        // One table per iteration; it stays valid until the quiescent report below.
        const Table* t = table_.load(std::memory_order_acquire);
        uint64_t due_us = UINT64_MAX;
        for (uint8_t i = 0; i < n_ports_; ++i) {
            // With several ports each port's burst is sent before the next
            // port's is received: punts go to the exception path of the
            // port they arrived on.
            if (n_ports_ > 1) {
                set_rx_port(i);
                out.punt_port = i;
            }
            const uint16_t n = rte_eth_rx_burst(ports_[i].port_id, cfg_.queue_id, pkts, kBurst);
            // With the capture clock a hand-over is served once this lcore has
            // received its own packets up to the hand-over's time (replay's rx
            // comes back empty only at the end of the input).
            if (n > 0 && cfg_.timestamp_offset >= 0) due_us = std::min(due_us, stamp_us(pkts[n - 1]));
            if (n > 0) classify_burst(t, pkts, n, out);
            if (n_ports_ > 1) transmit(out);
        }
        if (inbox_ != nullptr) serve_inbox(t, due_us, out);
        transmit(out);
        // Packets from each port's kernel interface leave through that port untouched.
        for (uint8_t i = 0; i < n_ports_; ++i) {
            const uint16_t k = rte_eth_rx_burst(ports_[i].exc_port_id, cfg_.exc_queue_id, pkts, kBurst);
            if (k > 0) {
                const uint16_t sent = rte_eth_tx_burst(ports_[i].port_id, cfg_.queue_id, pkts, k);
                counters_.from_kernel.add(sent);
                if (unlikely(sent < k)) {
                    counters_.drop(Drop::tx_full, k - sent);
                    rte_pktmbuf_free_bulk(pkts + sent, k - sent);
                }
            }
        }
        // Age flows a few buckets at a time (clock of the last burst).
        if (cfg_.flows != nullptr) cfg_.flows->sweep(now_, 8);
        take_tunables();
        rte_rcu_qsbr_quiescent(qsbr_, tid);
    }
    // What other lcores handed over before they stopped (replay stops once
    // every input packet was received, so all its hand-overs are queued).
    if (inbox_ != nullptr) {
        serve_inbox(table_.load(std::memory_order_acquire), UINT64_MAX, out, true);
        transmit(out);
    }
    // Leave the connection counts as of the last packet: every flow that
    // has expired by then is gone (deterministic at the end of a replay).
    if (cfg_.flows != nullptr) cfg_.flows->sweep(now_, cfg_.flows->capacity() / FlowTable::kWays);
    rte_rcu_qsbr_thread_offline(qsbr_, tid);
    rte_rcu_qsbr_thread_unregister(qsbr_, tid);
}

}  // namespace tern::dp
