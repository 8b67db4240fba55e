// ctl::build_table's Maglev rings: reuse between builds (RingCache), parallel
// builds equal serial ones, and the per-server counter slot limit.
#include "control/state/table_builder.h"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "control/state/ring_cache.h"
#include "dataplane/counters.h"
#include "dataplane/maglev.h"

using namespace tern;

namespace {

// `services` services of `servers` servers each, every service its own
// window of hosts, weights 10/15/20.
conf::Config config_of(uint32_t services, uint32_t servers, uint32_t table_size = 1021) {
    conf::Config c;
    c.path = "<test>";
    c.node.name = "test";
    c.node.ipv4 = *conf::IpAddr::parse("192.0.2.1");
    for (uint32_t i = 0; i < services; ++i) {
        conf::Service s;
        s.name = fmt::format("svc{}", i);
        s.vip = *conf::IpAddr::parse(fmt::format("10.{}.{}.1", 1 + i / 250, i % 250));
        s.port = 80;
        s.protocol = conf::Protocol::tcp;
        s.table_size = table_size;
        for (uint32_t k = 0; k < servers; ++k) {
            const uint32_t h = (i * 7 + k) % 1000;
            conf::RealServer rs;
            rs.host = fmt::format("cp{:04}", h);
            rs.ip = *conf::IpAddr::parse(fmt::format("10.64.{}.{}", h / 250, 1 + h % 250));
            rs.weight = 10 + (h % 3) * 5;
            s.realservers.push_back(rs);
        }
        c.services.push_back(std::move(s));
    }
    return c;
}

std::vector<uint16_t> entries(const dp::SharedRing& r) { return {r.begin(), r.end()}; }

// The rings of a build without any cache, generated one by one.
std::vector<std::vector<uint16_t>> fresh_rings(const conf::Config& c,
                                               const std::set<std::pair<std::string, std::string>>& down = {}) {
    std::vector<std::vector<uint16_t>> out;
    for (const auto& s : c.services) {
        std::vector<dp::MaglevBackend> b;
        for (const auto& rs : s.realservers) {
            b.push_back({rs.host, rs.enabled && !down.count({s.name, rs.host}) ? rs.weight : 0});
        }
        out.push_back(dp::generate_ring(b, ctl::ring_size(s)));
    }
    return out;
}

}  // namespace

TEST_CASE("ring cache: unchanged services share their ring, changed ones get a new one", "[table_builder]") {
    conf::Config c = config_of(20, 30);
    ctl::CounterSlots slots;
    ctl::RingCache cache(2);
    auto first = ctl::build_table(c, slots, 1, {}, &cache);
    REQUIRE(first.table);
    CHECK(cache.last().built == 20);
    CHECK(cache.last().reused == 0);
    CHECK(cache.size() == 20);

    // Same inputs: the very same ring objects.
    auto second = ctl::build_table(c, slots, 2, {}, &cache);
    REQUIRE(second.table);
    CHECK(cache.last().built == 0);
    CHECK(cache.last().reused == 20);
    for (size_t i = 0; i < 20; ++i) {
        CHECK(second.table->service(i).ring.entries() == first.table->service(i).ring.entries());
        CHECK(second.table->service(i).ring.begin() == first.table->service(i).ring.begin());
    }

    // One weight changes in service 3, a server of service 7 is down, service
    // 11's ring size changes: those three get new rings, the others are shared.
    const uint32_t weight_before = c.services[3].realservers[5].weight;
    c.services[3].realservers[5].weight = 1;
    const std::set<std::pair<std::string, std::string>> down = {{"svc7", c.services[7].realservers[0].host}};
    c.services[11].table_size = 2053;
    auto third = ctl::build_table(c, slots, 3, down, &cache);
    REQUIRE(third.table);
    CHECK(cache.last().built == 3);
    CHECK(cache.last().reused == 17);
    CHECK(cache.size() == 20);  // the replaced rings are no longer cached
    const auto fresh = fresh_rings(c, down);
    for (size_t i = 0; i < 20; ++i) {
        INFO("service " << i);
        const bool changed = i == 3 || i == 7 || i == 11;
        CHECK((third.table->service(i).ring.entries() != second.table->service(i).ring.entries()) == changed);
        // Shared or not, every ring is exactly what a fresh build gives.
        CHECK(entries(third.table->service(i).ring) == fresh[i]);
    }
    CHECK(third.table->service(11).ring.size() == 2053);

    // Older tables and the cache can go in any order: a table's rings live as
    // long as the table.
    const auto kept = entries(third.table->service(0).ring);
    first.table.reset();
    second.table.reset();
    cache = ctl::RingCache(1);
    CHECK(entries(third.table->service(0).ring) == kept);

    // Reverting the weight builds the ring again (only the latest table's
    // rings are cached), equal to the first one.
    c.services[3].realservers[5].weight = weight_before;
    auto fourth = ctl::build_table(c, slots, 4, {}, nullptr);
    REQUIRE(fourth.table);
    CHECK(entries(fourth.table->service(3).ring) == fresh_rings(config_of(20, 30))[3]);
}

TEST_CASE("table_size auto: the ring follows the pool's length, not its health or weights", "[table_builder]") {
    conf::Config c = config_of(3, 100, 0);
    c.services[1].realservers.resize(16);
    c.services[2].table_size = 65537;
    ctl::CounterSlots slots;
    ctl::RingCache cache(1);
    auto first = ctl::build_table(c, slots, 1, {}, &cache);
    REQUIRE(first.table);
    CHECK(first.table->service(0).ring.size() == 8209);  // 100 servers: 64 x 100 <= 8209
    CHECK(first.table->service(1).ring.size() == 1031);
    CHECK(first.table->service(2).ring.size() == 65537);  // explicit sizes stay
    CHECK(ctl::max_servers(c.services[0]) == dp::kNoBackend - 1u);
    CHECK(ctl::table_size_text(c.services[0]) == "table_size auto");

    // Drained, weight 0 and down servers still count: the size stays, the ring is rebuilt.
    for (size_t k = 0; k < 60; ++k) c.services[0].realservers[k].enabled = false;
    c.services[0].realservers[60].weight = 0;
    std::set<std::pair<std::string, std::string>> down;
    for (size_t k = 61; k < 90; ++k) down.insert({"svc0", c.services[0].realservers[k].host});
    auto second = ctl::build_table(c, slots, 2, down, &cache);
    REQUIRE(second.table);
    CHECK(second.table->service(0).ring.size() == 8209);
    CHECK(entries(second.table->service(0).ring) == fresh_rings(c, down)[0]);

    // A pool that grows past 128 servers moves up one step; back to 128, down again.
    conf::Config grown = config_of(1, 129, 0);
    auto third = ctl::build_table(grown, slots, 3, {}, &cache);
    REQUIRE(third.table);
    CHECK(third.table->service(0).ring.size() == 16411);
    grown.services[0].realservers.pop_back();
    auto fourth = ctl::build_table(grown, slots, 4, {}, &cache);
    REQUIRE(fourth.table);
    CHECK(fourth.table->service(0).ring.size() == 8209);
    CHECK(entries(fourth.table->service(0).ring) == fresh_rings(grown)[0]);
}

TEST_CASE("ring cache: services with identical inputs share one ring", "[table_builder]") {
    conf::Config c = config_of(2, 10);
    c.services[1].realservers = c.services[0].realservers;  // e.g. the same pool on 80 and 443
    ctl::CounterSlots slots;
    ctl::RingCache cache;
    auto built = ctl::build_table(c, slots, 1, {}, &cache);
    REQUIRE(built.table);
    CHECK(cache.last().built == 1);
    CHECK(built.table->service(0).ring.entries() == built.table->service(1).ring.entries());
}

TEST_CASE("ring cache: no server with weight gives an all-kNoBackend ring", "[table_builder]") {
    conf::Config c = config_of(1, 3, 13);
    for (auto& rs : c.services[0].realservers) rs.enabled = false;
    ctl::CounterSlots slots;
    ctl::RingCache cache;
    auto built = ctl::build_table(c, slots, 1, {}, &cache);
    REQUIRE(built.table);
    CHECK(entries(built.table->service(0).ring) == std::vector<uint16_t>(13, dp::kNoBackend));
}

TEST_CASE("parallel ring builds equal serial ones", "[table_builder]") {
    std::vector<std::string> names;
    for (int i = 0; i < 400; ++i) names.push_back(fmt::format("host{:03}.example", i));
    std::vector<ctl::RingInput> inputs;
    for (int s = 0; s < 24; ++s) {
        ctl::RingInput in;
        in.size = s % 3 == 0 ? 65537 : 4093;
        for (int k = 0; k < 50; ++k) {
            in.backends.push_back({names[(s * 13 + k) % names.size()], static_cast<uint32_t>(1 + (s + k) % 7)});
        }
        if (s % 5 == 0) in.backends[0].weight = 1000;  // skewed: the heap order
        inputs.push_back(std::move(in));
    }
    std::vector<const ctl::RingInput*> ptrs;
    for (const auto& in : inputs) ptrs.push_back(&in);
    const auto serial = ctl::generate_rings(ptrs, 1);
    for (unsigned threads : {2u, 3u, 8u}) {
        INFO(threads << " threads");
        CHECK(ctl::generate_rings(ptrs, threads) == serial);
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
        CHECK(serial[i] == dp::generate_ring(inputs[i].backends, inputs[i].size));
    }
    CHECK(ctl::generate_rings(std::span<const ctl::RingInput* const>{}, 4).empty());
}

TEST_CASE("1000 services x 100 servers fit the counter slots", "[table_builder]") {
    const conf::Config c = config_of(1000, 100, 101);
    ctl::CounterSlots slots;
    ctl::RingCache cache(2);
    auto built = ctl::build_table(c, slots, 1, {}, &cache);
    INFO(built.error);
    REQUIRE(built.table);
    CHECK(built.table->size() == 1000);
}

TEST_CASE("server counter slots: exhausting them is an error that names the limit", "[table_builder]") {
    ctl::CounterSlots slots;
    uint32_t slot = 0;
    // Servers seen earlier keep their slots, even when gone from the config.
    for (uint32_t i = 0; i < dp::kMaxServerSlots; ++i) {
        REQUIRE(slots.server("gone", std::to_string(i), slot));
    }
    CHECK(slot == dp::kMaxServerSlots - 1);
    REQUIRE(slots.server("gone", "17", slot));  // the same slot again
    CHECK(slot == 17);
    CHECK(slots.server_of(17) == std::make_pair(std::string("gone"), std::string("17")));
    CHECK_FALSE(slots.server_of(dp::kMaxServerSlots));
    CHECK_FALSE(slots.server("gone", "one more", slot));
    const conf::Config c = config_of(1, 3);
    auto built = ctl::build_table(c, slots, 1);
    CHECK_FALSE(built.table);
    CHECK(built.error ==
          fmt::format("service svc0: server cp0000: more than {} servers in all (the limit of per-server "
                      "counter slots, kMaxServerSlots; a service's server keeps its slot until restart)",
                      dp::kMaxServerSlots));
}

TEST_CASE("server slots follow the host, whatever the list's order or changes", "[table_builder]") {
    conf::Config c = config_of(2, 5);
    ctl::CounterSlots slots;
    auto slot_of = [&](const dp::Table& t, size_t svc, const std::string& host) {
        const auto& servers = c.services[svc].realservers;
        for (size_t k = 0; k < servers.size(); ++k) {
            if (servers[k].host == host) return t.service(svc).servers[k].counter;
        }
        return uint32_t{0xFFFFFFFF};
    };
    auto first = ctl::build_table(c, slots, 1);
    REQUIRE(first.table);
    std::map<std::string, uint32_t> before;
    for (const auto& rs : c.services[1].realservers) before[rs.host] = slot_of(*first.table, 1, rs.host);
    // Reversed, one removed, one added: the others keep their slots, the new one gets a new slot.
    auto& rs = c.services[1].realservers;
    std::reverse(rs.begin(), rs.end());
    rs.erase(rs.begin() + 2);
    conf::RealServer added = rs[0];
    added.host = "new-host";
    rs.push_back(added);
    auto second = ctl::build_table(c, slots, 2);
    REQUIRE(second.table);
    for (const auto& r : rs) {
        INFO(r.host);
        if (r.host == "new-host") {
            CHECK(slot_of(*second.table, 1, r.host) == 10);  // 2 x 5 given out before
            CHECK(slots.server_of(10) == std::make_pair(std::string("svc1"), std::string("new-host")));
        } else {
            CHECK(slot_of(*second.table, 1, r.host) == before.at(r.host));
        }
    }
}

TEST_CASE("limits are checked where the config enters: servers per ring, counter slots", "[table_builder]") {
    // Issue 16: ~65,000 servers passed `tern check` and then failed an assertion in the ring build.
    conf::Config c;
    c.path = "t.yaml";
    conf::Service s;
    s.name = "big";
    s.table_size = 1000003;
    s.mark = {"t.yaml", 7, 5};
    for (uint32_t i = 0; i < dp::kNoBackend; ++i) {
        conf::RealServer rs;
        rs.host = fmt::format("h{}", i);
        s.realservers.push_back(rs);
    }
    c.services.push_back(s);
    CHECK(ctl::max_servers(s) == dp::kNoBackend - 1u);
    auto errors = ctl::unsupported(c);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].path == "services[0].realservers");
    CHECK(errors[0].line == 7);
    CHECK(errors[0].message.find("65535 servers; at most 65534") != std::string::npos);
    c.services[0].realservers.pop_back();
    CHECK(ctl::unsupported(c).empty());

    conf::Service small;
    small.table_size = 1021;
    CHECK(ctl::max_servers(small) == 1020u);

    // More servers in all than the counter slots, each service within its ring.
    c.services.clear();
    for (uint32_t k = 0; k * (dp::kNoBackend - 1u) <= dp::kMaxServerSlots; ++k) {
        s.name = fmt::format("s{}", k);
        s.realservers.resize(dp::kNoBackend - 1u);
        c.services.push_back(s);
    }
    errors = ctl::unsupported(c);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message.find("servers in all; at most 262144") != std::string::npos);

    c.services.assign(dp::kMaxServiceSlots + 1, small);
    errors = ctl::unsupported(c);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message == "4097 services; at most 4096 (the per-service counter slots)");
}

TEST_CASE("table builder: the exception path's policy from the config", "[table_builder]") {
    conf::Config c = config_of(1, 3);
    c.dataplane.exception = {1234, 56, 7890};
    c.gateway_v4 = *conf::IpAddr::parse("10.64.9.1");
    c.neighbors.push_back({*conf::IpAddr::parse("10.64.9.2"), {2, 0, 0, 0, 0, 2}});
    conf::Bgp bgp;
    bgp.listen_port = 1179;
    conf::BgpPeer peer;
    peer.address = *conf::IpAddr::parse("2001:db8::1");
    bgp.peers.push_back(peer);
    c.bgp = bgp;
    ctl::CounterSlots slots;
    auto built = ctl::build_table(c, slots, 1);
    REQUIRE(built.table);
    const dp::PuntPolicy& p = built.table->params().punt;
    CHECK(p.budget_pps == 1234);
    CHECK(p.burst == 56);
    CHECK(p.priority_pps == 7890);
    CHECK(p.bgp_ports == std::vector<uint16_t>{1179, 179});
    auto has = [](const dp::AddressSet& set, const char* text) {
        const conf::IpAddr a = *conf::IpAddr::parse(text);
        return a.is_v4() ? set.contains_v4(a.bytes.data()) : set.contains_v6(a.bytes.data());
    };
    CHECK(has(p.peers, "2001:db8::1"));
    CHECK_FALSE(has(p.peers, "10.64.9.1"));
    for (const auto& rs : c.services[0].realservers) CHECK(has(p.trusted, rs.ip.str().c_str()));
    for (const char* a : {"10.64.9.1", "10.64.9.2", "2001:db8::1"}) CHECK(has(p.trusted, a));
    CHECK_FALSE(has(p.trusted, "192.0.2.1"));  // the node itself
    CHECK(p.trusted.size() == 3 + 3);
}
