// The speaker over fake I/O: what each peer is sent, and when.
#include "bgp/speaker.h"

#include <catch2/catch.hpp>

#include "test/unit/bgp/fakes.h"

using namespace tern::bgp;
using namespace tern::bgp::fake;
using namespace std::chrono_literals;

namespace {

Prefix host(const char* a) { return Prefix::host(*Address::parse(a)); }

SpeakerSettings settings() {
    SpeakerSettings s;
    s.local_asn = 64600;
    s.router_id = 0x0a40000a;
    s.next_hop_v4 = *Address::parse("10.64.0.10");
    s.next_hop_v6 = *Address::parse("2620:0:860:101::10");
    s.communities = {(14907u << 16) | 7};
    s.large_communities = {{64600, 1, 2}};
    s.as_path_prepend = 1;
    s.listen_port = 1179;
    PeerSettings a;
    a.address = *Address::parse("10.64.0.1");
    a.remote_asn = 14907;
    PeerSettings b;
    b.address = *Address::parse("10.64.0.2");
    b.remote_asn = 64600;  // iBGP
    b.passive = true;
    s.peers = {a, b};
    return s;
}

std::shared_ptr<Link> bring_up(Link& l, uint32_t asn, bool v6) {
    (void)l;
    Open o;
    o.asn = asn;
    o.hold_time = 90;
    o.router_id = 0x0a400001 + asn;
    o.caps.multiprotocol = {{kAfiIpv4, kSafiUnicast}};
    if (v6) o.caps.multiprotocol.push_back({kAfiIpv6, kSafiUnicast});
    o.caps.as4 = asn;
    l.feed(encode(o));
    l.feed(encode(Keepalive{}));
    return nullptr;
}

std::vector<Update> updates(Link& l) {
    std::vector<Update> out;
    while (auto m = l.take()) {
        if (auto* u = std::get_if<Update>(&*m)) out.push_back(*u);
    }
    return out;
}

}  // namespace

TEST_CASE("bgp speaker: announces VIPs with the configured attributes, per peer", "[bgp]") {
    FakeClock clock;
    FakeTransport transport;
    std::vector<std::string> log;
    Speaker sp(settings(), transport, clock, [&](const std::string& s) { log.push_back(s); });
    CHECK(sp.start().empty());
    CHECK(transport.listen_port == 1179);
    CHECK(transport.listen_peers.size() == 2);
    sp.announce({{host("198.35.26.96"), 0}, {host("198.35.26.97"), 100}, {host("2620:0:862:ed1a::1"), 0}});

    auto ebgp = transport.complete(true);  // peer a connects actively; b is passive
    REQUIRE(ebgp);
    CHECK(transport.live_attempts() == 0);
    bring_up(*ebgp, 14907, true);
    CHECK(sp.sessions()[0]->state() == State::established);
    auto ups = updates(*ebgp);
    REQUIRE(ups.size() == 3);  // v4 MED 0, v4 MED 100, v6 MED 0
    const Update& u = ups[0];
    CHECK(u.nlri == std::vector<Prefix>{host("198.35.26.96")});
    CHECK(u.attrs.origin == kOriginIgp);
    REQUIRE(u.attrs.as_path.size() == 1);
    CHECK(u.attrs.as_path[0].asns == std::vector<uint32_t>{64600, 64600});  // one prepend
    CHECK(u.attrs.next_hop == std::array<uint8_t, 4>{10, 64, 0, 10});
    CHECK(u.attrs.med == 0u);
    CHECK(u.attrs.communities == std::vector<uint32_t>{(14907u << 16) | 7});
    CHECK(u.attrs.large_communities.size() == 1);
    CHECK_FALSE(u.attrs.local_pref);
    CHECK(ups[1].attrs.med == 100u);
    REQUIRE(ups[2].mp_reach);
    CHECK(ups[2].mp_reach->nlri == std::vector<Prefix>{host("2620:0:862:ed1a::1")});
    CHECK(ups[2].mp_reach->next_hop.size() == 16);

    // The iBGP peer connects to us, offers IPv4 only.
    auto [conn, ibgp] = FakeTransport::incoming(*Address::parse("10.64.0.2"));
    transport.on_accept(std::move(conn));
    ibgp->take();  // our OPEN
    bring_up(*ibgp, 64600, false);
    auto iu = updates(*ibgp);
    REQUIRE(iu.size() == 2);
    CHECK(iu[0].attrs.as_path.empty());
    CHECK(iu[0].attrs.local_pref == 100u);

    SECTION("a change sends the difference") {
        sp.announce({{host("198.35.26.96"), 0}, {host("2620:0:862:ed1a::1"), 0}});
        auto d = updates(*ebgp);
        REQUIRE(d.size() == 1);
        CHECK(d[0].withdrawn == std::vector<Prefix>{host("198.35.26.97")});
        CHECK(d[0].nlri.empty());
    }
    SECTION("route refresh re-sends that family") {
        ebgp->feed(encode(RouteRefresh{{kAfiIpv6, kSafiUnicast}}));
        auto d = updates(*ebgp);
        REQUIRE(d.size() == 1);
        CHECK(d[0].mp_reach);
    }
    SECTION("stop withdraws everything, then CEASE") {
        sp.stop();
        auto d = ebgp->take();
        REQUIRE(std::holds_alternative<Update>(*d));
        CHECK(std::get<Update>(*d).withdrawn.size() == 2);
        d = ebgp->take();
        REQUIRE(std::holds_alternative<Update>(*d));
        CHECK(std::get<Update>(*d).mp_unreach->withdrawn.size() == 1);
        d = ebgp->take();
        REQUIRE(std::holds_alternative<Notification>(*d));
        CHECK(std::get<Notification>(*d).subcode == err::kAdminShutdown);
        CHECK(ebgp->closed);
        CHECK(sp.sessions()[0]->state() == State::idle);
    }
    SECTION("reconfigure: a peer added and the MED changed; the other sessions are untouched") {
        SpeakerSettings next = settings();
        PeerSettings c;
        c.address = *Address::parse("10.64.0.3");
        c.remote_asn = 64700;
        next.peers.push_back(c);
        const auto done = sp.reconfigure(next);
        REQUIRE(done.size() == 1);
        CHECK(done[0] == "bgp peer 10.64.0.3: added");
        REQUIRE(sp.sessions().size() == 3);
        CHECK(sp.sessions()[0]->state() == State::established);
        CHECK(sp.sessions()[0]->status().established_count == 1);
        CHECK(sp.sessions()[1]->state() == State::established);
        CHECK_FALSE(ebgp->closed);
        CHECK(ebgp->sent.empty());             // nothing sent: the attributes did not change
        CHECK(transport.unlisten_calls == 1);  // the listener knows the new peer
        CHECK(transport.listen_peers.size() == 3);
        auto third = transport.complete(true);
        REQUIRE(third);
        third->take();  // our OPEN
        bring_up(*third, 64700, false);
        CHECK(sp.sessions()[2]->state() == State::established);
        CHECK(updates(*third).size() == 2);  // the IPv4 routes
        // The MED is the routes' business: announce() sends the changed one.
        sp.announce({{host("198.35.26.96"), 50}, {host("198.35.26.97"), 100}, {host("2620:0:862:ed1a::1"), 0}});
        auto d = updates(*ebgp);
        REQUIRE(d.size() == 1);
        CHECK(d[0].nlri == std::vector<Prefix>{host("198.35.26.96")});
        CHECK(d[0].attrs.med == 50u);
    }
    SECTION("reconfigure: a peer removed gets its withdrawals and CEASE; the other stays") {
        SpeakerSettings next = settings();
        next.peers.erase(next.peers.begin());
        const auto done = sp.reconfigure(next);
        REQUIRE(done.size() == 1);
        CHECK(done[0] == "bgp peer 10.64.0.1: removed, session closed");
        REQUIRE(sp.sessions().size() == 1);
        CHECK(sp.sessions()[0]->settings().address.str() == "10.64.0.2");
        CHECK(sp.sessions()[0]->state() == State::established);
        CHECK(std::holds_alternative<Update>(*ebgp->take()));
        CHECK(std::holds_alternative<Update>(*ebgp->take()));
        auto n = ebgp->take();
        REQUIRE(std::holds_alternative<Notification>(*n));
        CHECK(std::get<Notification>(*n).subcode == err::kPeerDeconfigured);
        CHECK(ebgp->closed);
        CHECK_FALSE(ibgp->closed);
    }
    SECTION("reconfigure: new communities are announced again; timers wait for the next connection") {
        SpeakerSettings next = settings();
        next.communities = {(14907u << 16) | 8};
        next.peers[0].hold_time = 30;
        const auto done = sp.reconfigure(next);
        REQUIRE(done.size() == 2);
        CHECK(done[0] == "bgp peer 10.64.0.1: hold time 30 s, connect retry 5 s from its next connection");
        CHECK(sp.sessions()[0]->state() == State::established);
        CHECK(sp.sessions()[0]->status().hold_time == 90);  // negotiated, kept
        CHECK(sp.sessions()[0]->settings().hold_time == 30);
        auto d = updates(*ebgp);
        REQUIRE(d.size() == 3);
        CHECK(d[0].attrs.communities == std::vector<uint32_t>{(14907u << 16) | 8});
        CHECK(transport.unlisten_calls == 0);
    }
    SECTION("reconfigure: a peer's AS changed re-establishes that session only") {
        SpeakerSettings next = settings();
        next.peers[0].remote_asn = 14908;
        const auto done = sp.reconfigure(next);
        REQUIRE(done.size() == 1);
        CHECK(done[0] == "bgp peer 10.64.0.1: settings changed, session re-established");
        CHECK(ebgp->closed);
        CHECK_FALSE(ibgp->closed);
        CHECK(sp.sessions()[0]->settings().remote_asn == 14908);
        CHECK(sp.sessions()[0]->state() == State::connect);
        CHECK(sp.sessions()[1]->state() == State::established);
    }
    SECTION("reconfigure: a new local AS re-establishes every session") {
        SpeakerSettings next = settings();
        next.local_asn = 64700;
        const auto done = sp.reconfigure(next);
        REQUIRE(done.size() == 3);  // both peers, and the attributes (the AS_PATH) for sessions to come
        CHECK(ebgp->closed);
        CHECK(ibgp->closed);
        for (const auto& s : sp.sessions()) CHECK(s->settings().local_asn == 64700);
        CHECK(sp.sessions()[0]->state() == State::connect);
        CHECK(sp.sessions()[1]->state() == State::active);  // passive: waits for the router
    }
    SECTION("connections from strangers are refused, logged once a minute per address") {
        auto refused_lines = [&] {
            return std::count_if(log.begin(), log.end(),
                                 [](const std::string& l) { return l.find("bgp: refused a connection") == 0; });
        };
        for (int i = 0; i < 100; ++i) {
            auto [c3, l3] = FakeTransport::incoming(*Address::parse("10.64.0.99"));
            transport.on_accept(std::move(c3));
            CHECK(l3->closed);
            CHECK(l3->sent.empty());
        }
        CHECK(refused_lines() == 1);
        auto [c4, l4] = FakeTransport::incoming(*Address::parse("10.64.0.98"));
        transport.on_accept(std::move(c4));
        CHECK(refused_lines() == 2);  // another address: its own line
        clock.advance(std::chrono::minutes(1));
        auto [c5, l5] = FakeTransport::incoming(*Address::parse("10.64.0.99"));
        transport.on_accept(std::move(c5));
        CHECK(refused_lines() == 3);
        CHECK(log.back() ==
              "bgp: refused a connection from 10.64.0.99: not a peer (99 more refused in the last minute, not logged)");
    }
}

TEST_CASE("bgp speaker: listen() before start() listens once and connects nowhere yet", "[bgp]") {
    FakeClock clock;
    FakeTransport transport;
    transport.listen_error = "listen on [0.0.0.0]:1179: Address already in use";
    Speaker sp(settings(), transport, clock, [](const std::string&) {});
    CHECK(sp.listen() == transport.listen_error);
    CHECK(transport.listen_calls == 1);
    CHECK(transport.live_attempts() == 0);
    // An accepted connection before start() is closed: the sessions are not running.
    auto [conn, link] = FakeTransport::incoming(*Address::parse("10.64.0.2"));
    transport.on_accept(std::move(conn));
    CHECK(link->closed);
    CHECK(sp.start().empty());  // the error was listen()'s to report
    CHECK(transport.listen_calls == 1);
    CHECK(transport.live_attempts() == 1);  // peer a connects; b is passive
}

TEST_CASE("bgp speaker: many VIPs are split into UPDATEs that fit", "[bgp]") {
    SpeakerSettings s = settings();
    std::vector<Route> reach;
    for (int i = 0; i < 1000; ++i) {
        Address a = *Address::parse("2001:db8::");
        a.bytes[14] = static_cast<uint8_t>(i >> 8);
        a.bytes[15] = static_cast<uint8_t>(i);
        reach.push_back({Prefix::host(a), 0});
    }
    auto ups = build_updates(s, {false, true, true}, reach, {});
    CHECK(ups.size() == 10);
    size_t n = 0;
    for (const auto& u : ups) {
        CHECK(encode(u, {}).size() <= kMaxMessageLen);
        n += u.mp_reach->nlri.size();
    }
    CHECK(n == 1000);
}
