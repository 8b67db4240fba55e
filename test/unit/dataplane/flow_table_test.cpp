#include "dataplane/flow_table.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "test/unit/xorshift.h"

using namespace tern::dp;

namespace {

struct Fixture {
    FlowMemory mem;
    std::vector<FlowEntry> released;
    std::vector<ConnState> released_states;
    FlowTable table;
    explicit Fixture(size_t cap, FlowTimeouts t = {})
        : mem(cap), table(mem.data(), cap, t, &Fixture::on_release, this) {}
    static void on_release(void* ctx, const FlowEntry& e, ConnState state) {
        static_cast<Fixture*>(ctx)->released.push_back(e);
        static_cast<Fixture*>(ctx)->released_states.push_back(state);
    }
};

FlowKey key(uint16_t sport) {
    FlowKey k{};
    k.family = 4;
    k.proto = kProtoTcp;
    k.src[0] = 198;
    k.src[3] = 7;
    k.dst[0] = 192;
    k.dst[3] = 10;
    k.sport = sport;
    k.dport = 443;
    return k;
}

}  // namespace

TEST_CASE("flow table: IPVS input-only TCP transitions", "[flow]") {
    using S = ConnState;
    CHECK(next_state(S::none, TcpEvent::syn) == S::syn_recv);
    CHECK(next_state(S::syn_recv, TcpEvent::ack) == S::established);
    CHECK(next_state(S::established, TcpEvent::fin) == S::fin_wait);
    CHECK(next_state(S::fin_wait, TcpEvent::ack) == S::fin_wait);
    CHECK(next_state(S::established, TcpEvent::rst) == S::close);
    CHECK(next_state(S::syn_recv, TcpEvent::rst) == S::syn_recv);
    CHECK(next_state(S::syn_recv, TcpEvent::fin) == S::time_wait);
    CHECK(next_state(S::none, TcpEvent::ack) == S::close);  // mid-stream pick-up, as IPVS
    CHECK(next_state(S::close, TcpEvent::syn) == S::syn_recv);
    CHECK(next_state(S::established, TcpEvent::syn) == S::established);
    CHECK(tcp_event(0x12) == TcpEvent::syn);  // SYN+ACK counts as SYN
    CHECK(tcp_event(0x14) == TcpEvent::rst);
    CHECK(tcp_event(0x11) == TcpEvent::fin);
    CHECK(tcp_event(0x10) == TcpEvent::ack);
    CHECK(std::string(conn_state_name(S::established)) == "ESTABLISHED");
}

TEST_CASE("flow table: insert, find, age out on the timeouts", "[flow]") {
    Fixture f(1024);
    const FlowKey k = key(1000);
    CHECK(f.table.find(k, 77, 100) == nullptr);
    FlowEntry* e = f.table.insert(k, 77, 100);
    e->server_slot = 5;
    f.table.set_state(*e, ConnState::syn_recv, 100);
    CHECK(f.table.size() == 1);
    REQUIRE(f.table.find(k, 77, 130) == e);  // SYN_RECV lasts 30 s
    CHECK(f.table.find(k, 77, 131) == nullptr);
    REQUIRE(f.released.size() == 1);
    CHECK(f.released[0].server_slot == 5);
    CHECK(f.table.size() == 0);
    e = f.table.insert(k, 77, 200);
    f.table.set_state(*e, ConnState::established, 200);
    CHECK(f.table.find(k, 77, 1100) == e);  // 900 s
    f.table.sweep(1101, 1024);
    CHECK(f.table.size() == 0);
    CHECK(f.released.size() == 2);
}

TEST_CASE("flow table: new timeouts apply from a flow's next state change", "[flow]") {
    Fixture f(1024);
    FlowEntry* a = f.table.insert(key(1000), 77, 100);
    f.table.set_state(*a, ConnState::established, 100);  // expires at 1000
    FlowEntry* b = f.table.insert(key(1001), 78, 100);
    f.table.set_state(*b, ConnState::established, 100);
    FlowTimeouts t;
    t.seconds[static_cast<size_t>(ConnState::established)] = 300;
    f.table.set_timeouts(t);
    CHECK(f.table.timeouts().seconds[static_cast<size_t>(ConnState::established)] == 300);
    f.table.set_state(*a, ConnState::established, 150);  // its next packet: 150 + 300
    CHECK(f.table.expires(*a) == 450);
    CHECK(f.table.expires(*b) == 1000);  // untouched: keeps the expiry it had
    CHECK(f.table.find(key(1000), 77, 451) == nullptr);
    CHECK(f.table.find(key(1001), 78, 451) == b);
}

TEST_CASE("flow table: full buckets evict half-open flows before established ones", "[flow]") {
    Fixture f(8);  // 2 buckets of 4: both choices of every hash cover the whole table
    const uint32_t h = 3;
    for (uint16_t i = 0; i < 4; ++i) {
        FlowEntry* e = f.table.insert(key(i), h, 10 + i);
        f.table.set_state(*e, i == 0 ? ConnState::established : ConnState::syn_recv, 10 + i);
    }
    // A flood of new SYNs in the same bucket never evicts the established flow.
    for (uint16_t i = 100; i < 200; ++i) {
        FlowEntry* e = f.table.insert(key(i), h, 20);
        f.table.set_state(*e, ConnState::syn_recv, 20);
        REQUIRE(f.table.find(key(0), h, 20) != nullptr);
    }
    CHECK(f.table.size() == 8);
    CHECK(f.table.evictions() == 96);  // the first 4 new flows found free slots
}

TEST_CASE("flow table: unproven ESTABLISHED flows expire early and go first; pressure shortens them", "[flow]") {
    Fixture f(8);  // 2 buckets of 4: every flow competes with every other
    const uint32_t h = 3;
    // A: a real connection (handshake, then a packet); B: a SYN then ACK only.
    for (uint16_t i : {0, 1}) {
        FlowEntry* e = f.table.insert(key(i), h, 100);
        f.table.set_state(*e, ConnState::syn_recv, 100);
        f.table.set_state(*e, ConnState::established, 100);
        f.table.set_unproven(f.table.where(*e), 100);
        CHECK(f.table.expires(*e) == 160);  // timeouts.unproven
    }
    f.table.set_state(*f.table.find(key(0), h, 100), ConnState::established, 100);
    CHECK(f.table.expires(*f.table.find(key(0), h, 100)) == 1000);  // proven: ESTABLISHED's 900 s
    CHECK_FALSE(f.table.under_pressure());
    // Six more established (proven) flows fill the table; all used at 150,
    // later than B: the eviction still takes B, the unproven one.
    for (uint16_t i = 2; i < 8; ++i) {
        FlowEntry* e = f.table.insert(key(i), h, 150);
        f.table.set_state(*e, ConnState::established, 150);
    }
    FlowEntry* n = f.table.insert(key(100), h, 151);
    f.table.set_state(*n, ConnState::syn_recv, 151);
    CHECK(f.table.find(key(1), h, 151) == nullptr);
    REQUIRE(f.released.size() == 1);
    CHECK(f.released[0].key.sport == 1);
    CHECK(f.table.find(key(0), h, 151) != nullptr);
    // That eviction of a live flow: under pressure, SYN_RECV and unproven
    // flows get timeouts.under_pressure (5 s).
    CHECK(f.table.under_pressure());
    f.table.set_state(*n, ConnState::syn_recv, 152);
    CHECK(f.table.expires(*n) == 157);
    f.table.set_state(*n, ConnState::established, 153);
    f.table.set_unproven(f.table.where(*n), 153);
    CHECK(f.table.expires(*n) == 158);
    CHECK(f.table.timeouts().seconds[static_cast<size_t>(ConnState::syn_recv)] == 30);  // as configured
    // 10 s without an eviction: a sweep ends the pressure.
    f.table.sweep(160, 1);
    CHECK(f.table.under_pressure());
    f.table.sweep(162, 1);
    CHECK_FALSE(f.table.under_pressure());
    f.table.set_state(*f.table.find(key(0), h, 162), ConnState::syn_recv, 162);
    CHECK(f.table.expires(*f.table.find(key(0), h, 162)) == 192);
}

TEST_CASE("flow table: bounded under a flood of random flows", "[flow]") {
    Fixture f(1024);
    std::srand(1);
    for (int i = 0; i < 100000; ++i) {
        FlowKey k = key(static_cast<uint16_t>(i));
        k.src[1] = static_cast<uint8_t>(i >> 16);
        const uint32_t h = static_cast<uint32_t>(std::rand());
        if (f.table.find(k, h, 5) == nullptr) f.table.set_state(*f.table.insert(k, h, 5), ConnState::syn_recv, 5);
    }
    CHECK(f.table.size() <= 1024);
    CHECK(f.table.size() + f.released.size() == 100000);
}

TEST_CASE("flow table: 64 bytes a flow, one line a bucket", "[flow]") {
    CHECK(sizeof(FlowBucket) == 64);
    CHECK(FlowTable::bytes_for(1024) == 1024 * 64);
    CHECK(FlowTable::bytes_for(1u << 20) / (1u << 20) <= 64);
}

TEST_CASE("flow table: keys with the same hash (same signature) stay apart", "[flow]") {
    Fixture f(1024);
    const uint32_t h = 0xABCD0005;
    FlowEntry* a = f.table.insert(key(1), h, 10);
    a->server_slot = 1;
    f.table.set_state(*a, ConnState::established, 10);
    FlowEntry* b = f.table.insert(key(2), h, 10);
    b->server_slot = 2;
    f.table.set_state(*b, ConnState::syn_recv, 10);
    REQUIRE(a != b);
    CHECK(f.table.find(key(1), h, 11) == a);
    CHECK(f.table.find(key(2), h, 11) == b);
    CHECK(f.table.find(key(3), h, 11) == nullptr);  // signature match, other key
    // Another hash of the same bucket, other signature: not a match either.
    CHECK(f.table.find(key(1), 0x12340005, 11) == nullptr);
    // b expires (SYN_RECV, 30 s); a does not; only b is released.
    CHECK(f.table.find(key(2), h, 41) == nullptr);
    REQUIRE(f.released.size() == 1);
    CHECK(f.released[0].server_slot == 2);
    CHECK(f.table.find(key(1), h, 41) == a);
    CHECK(f.table.size() == 1);
}

TEST_CASE("flow table: a full bucket overflows into its alternate, then evicts", "[flow]") {
    Fixture f(1024);                // 128 buckets
    const uint32_t h = 0x77770042;  // every key in the same two buckets
    std::vector<FlowEntry*> es;
    for (uint16_t i = 0; i < 16; ++i) {
        FlowEntry* e = f.table.insert(key(i), h, 100 + i);
        e->server_slot = i;
        f.table.set_state(*e, i % 2 ? ConnState::established : ConnState::syn_recv, 100 + i);
        es.push_back(e);
    }
    CHECK(f.table.size() == 16);
    CHECK(f.table.evictions() == 0);
    for (uint16_t i = 0; i < 16; ++i) REQUIRE(f.table.find(key(i), h, 120) == es[i]);
    // Refreshing a flow in the alternate bucket refreshes its expiry there.
    f.table.set_state(*es[15], ConnState::established, 125);
    CHECK(f.table.expires(*es[15]) == 125 + 900);
    // The 17th: both buckets full of live flows, and their flows have no
    // other bucket: the oldest non-established one (key 0) goes.
    FlowEntry* e = f.table.insert(key(100), h, 126);
    f.table.set_state(*e, ConnState::syn_recv, 126);
    CHECK(f.table.evictions() == 1);
    REQUIRE(f.released.size() == 1);
    CHECK(f.released[0].server_slot == 0);
    CHECK(f.table.find(key(0), h, 126) == nullptr);
    CHECK(f.table.find(key(100), h, 126) == e);
    CHECK(f.table.size() == 16);
    // The flows of the alternate bucket age out and are released, moved
    // or not; the table empties.
    f.table.sweep(100000, 128);
    CHECK(f.table.size() == 0);
    CHECK(f.released.size() == 17);
    for (uint16_t i = 0; i < 16; ++i) CHECK(f.table.find(key(i), h, 100000) == nullptr);
    // And fills again.
    for (uint16_t i = 0; i < 16; ++i) f.table.set_state(*f.table.insert(key(i), h, 200000), ConnState::udp, 200000);
    CHECK(f.table.size() == 16);
    CHECK(f.table.evictions() == 1);
}

TEST_CASE("flow table: eviction takes the least recently used, whatever the states' timeouts", "[flow]") {
    Fixture f(8);  // one bucket
    const uint32_t h = 9;
    // Key 0: last packet at 10 in FIN_WAIT (expires 130); key 1: at 15 in
    // SYN_RECV (expires 45); keys 2..7 ESTABLISHED later.
    f.table.set_state(*f.table.insert(key(0), h, 10), ConnState::fin_wait, 10);
    f.table.set_state(*f.table.insert(key(1), h, 15), ConnState::syn_recv, 15);
    for (uint16_t i = 2; i < 8; ++i)
        f.table.set_state(*f.table.insert(key(i), h, 1 + i), ConnState::established, 1 + i);
    f.table.insert(key(50), h, 20);  // evicts key 0 (oldest non-established), not key 1 (expires first)
    CHECK(f.table.find(key(0), h, 20) == nullptr);
    CHECK(f.table.find(key(1), h, 20) != nullptr);
    CHECK(f.table.evictions() == 1);
    // All ESTABLISHED: the oldest of them goes.
    Fixture g(8);
    for (uint16_t i = 0; i < 8; ++i)
        g.table.set_state(*g.table.insert(key(i), h, 50 - i), ConnState::established, 50 - i);
    g.table.insert(key(50), h, 60);
    CHECK(g.table.find(key(7), h, 60) == nullptr);  // last packet at 43
    for (uint16_t i = 0; i < 7; ++i) CHECK(g.table.find(key(i), h, 60) != nullptr);
    // An expired flow is reused before anything is evicted.
    g.table.insert(key(51), h, 60 + 901);
    CHECK(g.table.evictions() == 1);
}

TEST_CASE("flow table: sweep releases what expired, bucket by bucket", "[flow]") {
    Fixture f(64);  // 8 buckets
    for (uint16_t i = 0; i < 40; ++i) {
        FlowEntry* e = f.table.insert(key(i), i * 0x9E3779B1u, 100);
        f.table.set_state(*e, i < 20 ? ConnState::syn_recv : ConnState::established, 100);
    }
    CHECK(f.table.size() == 40);
    f.table.sweep(200, 4);  // half the buckets
    const size_t half = f.released.size();
    CHECK(half < 20);
    f.table.sweep(200, 4);  // the other half
    CHECK(f.released.size() == 20);
    CHECK(f.table.size() == 20);
    f.table.sweep(200, 8);
    CHECK(f.released.size() == 20);  // nothing more expired
    for (const ConnState st : f.released_states) CHECK(st == ConnState::syn_recv);
    f.table.sweep(100 + 901, 8);
    CHECK(f.table.size() == 0);
}

TEST_CASE("flow table: fills to 85% of its capacity before the first eviction", "[flow]") {
    Fixture f(1u << 14);
    std::srand(7);
    size_t n = 0;
    while (f.table.evictions() == 0) {
        FlowKey k = key(static_cast<uint16_t>(n));
        k.src[1] = static_cast<uint8_t>(n >> 16);
        f.table.set_state(*f.table.insert(k, static_cast<uint32_t>(std::rand()) * 2654435761u, 1),
                          ConnState::established, 1);
        ++n;
    }
    CHECK(n > f.table.capacity() * 85 / 100);
}

TEST_CASE("flow table: slot() samples the used entries", "[flow]") {
    Fixture f(64);
    FlowEntry* e = f.table.insert(key(5), 3, 1);
    e->server_slot = 42;
    size_t used = 0;
    FlowEntry out;
    ConnState state;
    for (size_t i = 0; i < f.table.capacity(); ++i) {
        if (!f.table.slot(i, out, state)) continue;
        ++used;
        CHECK(out.server_slot == 42);
    }
    CHECK(used == 1);
}

TEST_CASE("flow table: find_v4 answers as find does, moved and expired flows and IPv6 look-alikes included", "[flow]") {
    // A small table whose flows crowd four primary buckets, so that many
    // live in their alternate bucket (and some are evicted); IPv6 keys whose
    // first address bytes equal an IPv4 key's must never be taken for it.
    Fixture f(256);
    tern::test::XorShift64 next(0x2545F4914F6CDD1Dull);
    struct Flow {
        FlowKey key;
        uint32_t hash;
    };
    std::vector<Flow> v4, v6;
    for (int i = 0; i < 300; ++i) {
        Flow fl{};
        fl.key.family = 4;
        fl.key.proto = i % 3 ? kProtoTcp : kProtoUdp;
        const uint64_t r = next();
        std::memcpy(fl.key.src, &r, 4);
        std::memcpy(fl.key.dst, reinterpret_cast<const uint8_t*>(&r) + 4, 4);
        fl.key.sport = static_cast<uint16_t>(next());
        fl.key.dport = static_cast<uint16_t>(next() | 1);
        fl.hash = static_cast<uint32_t>(next() & 0xFFFF0003u);  // 4 primary buckets, random signatures
        v4.push_back(fl);
        if (i % 4 == 0) {
            Flow six = fl;
            six.key.family = 6;
            v6.push_back(six);
        }
    }
    uint32_t now = 1000;
    for (size_t i = 0; i < v4.size(); ++i) {
        if (i % 5 == 4) continue;  // never inserted
        FlowEntry* e = f.table.insert(v4[i].key, v4[i].hash, now);
        e->server_slot = static_cast<uint32_t>(i);
        f.table.set_state(*e, i % 2 ? ConnState::established : ConnState::syn_recv, now);
    }
    for (size_t i = 0; i < v6.size(); ++i) {
        if (f.table.find(v6[i].key, v6[i].hash, now) == nullptr) {
            FlowEntry* e = f.table.insert(v6[i].key, v6[i].hash, now);
            e->server_slot = 100000 + static_cast<uint32_t>(i);
            f.table.set_state(*e, ConnState::established, now);
        }
    }
    const auto words = [](const FlowKey& k, uint64_t& src, uint64_t& dst, uint64_t& tail) {
        uint32_t s, d;
        std::memcpy(&s, k.src, 4);
        std::memcpy(&d, k.dst, 4);
        src = s;
        dst = d;
        std::memcpy(&tail, reinterpret_cast<const uint8_t*>(&k) + 32, 8);
    };
    const auto check_all = [&](uint32_t at_time, size_t& found) {
        found = 0;
        for (const Flow& fl : v4) {
            uint64_t src, dst, tail;
            words(fl.key, src, dst, tail);
            // prefetch_entry only reads.
            const size_t before = f.table.size();
            f.table.prefetch_entry(fl.hash, at_time);
            REQUIRE(f.table.size() == before);
            FlowTable::Where where{};
            FlowEntry* a = f.table.find_v4(src, dst, tail, fl.hash, at_time, where);
            FlowEntry* b = f.table.find(fl.key, fl.hash, at_time);
            REQUIRE(a == b);
            if (a != nullptr) {
                ++found;
                CHECK(std::memcmp(&a->key, &fl.key, sizeof(FlowKey)) == 0);
                CHECK(a->key.family == 4);
                CHECK(where.b == f.table.where(*a).b);
                CHECK(where.w == f.table.where(*a).w);
                CHECK(FlowTable::state(where) == f.table.state(*a));
            }
        }
    };
    size_t found = 0;
    check_all(now, found);
    CHECK(found > 100);              // most of those inserted are there (some were evicted)
    CHECK(f.table.evictions() > 0);  // the four buckets and their alternates overflowed
    // SYN_RECV flows (30 s) expire before ESTABLISHED ones (900 s): both
    // lookups release them alike.
    size_t later = 0;
    check_all(now + 60, later);
    CHECK(later < found);
    CHECK(later > 0);
    // The IPv6 look-alikes are still there and found by find().
    size_t six = 0;
    for (const Flow& fl : v6) six += f.table.find(fl.key, fl.hash, now + 60) != nullptr;
    CHECK(six > 0);
}
