#include "dataplane/flow_table.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <vector>

using namespace tern::dp;

namespace {

struct Fixture {
    FlowMemory mem;
    std::vector<FlowEntry> released;
    FlowTable table;
    explicit Fixture(size_t cap, FlowTimeouts t = {})
        : mem(cap), table(mem.data(), cap, t, &Fixture::on_release, this) {}
    static void on_release(void* ctx, const FlowEntry& e) { static_cast<Fixture*>(ctx)->released.push_back(e); }
};

FlowKey key(uint16_t sport) {
    FlowKey k{};
    k.family = 4;
    k.proto = kProtoTcp;
    k.src[0] = 198; k.src[3] = 7;
    k.dst[0] = 192; k.dst[3] = 10;
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
