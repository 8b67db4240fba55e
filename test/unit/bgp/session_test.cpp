// The session state machine over a fake clock and transport.
#include "bgp/session.h"

#include <catch2/catch.hpp>

#include "test/unit/bgp/fakes.h"

using namespace tern::bgp;
using namespace tern::bgp::fake;
using namespace std::chrono_literals;

namespace {

struct Rig {
    FakeClock clock;
    FakeTransport transport;
    std::vector<std::string> log;  // "From->To"
    int established = 0;
    std::vector<AfiSafi> refreshes;
    std::unique_ptr<Session> session;

    explicit Rig(bool passive = false, uint32_t router_id = 0x0a000002) {
        PeerSettings s;
        s.address = *Address::parse("10.0.0.1");
        s.remote_asn = 65001;
        s.local_asn = 64600;
        s.router_id = router_id;
        s.hold_time = 9;
        s.connect_retry = 5;
        s.passive = passive;
        Session::Events ev;
        ev.established = [this](Session&) { ++established; };
        ev.route_refresh = [this](Session&, AfiSafi f) { refreshes.push_back(f); };
        ev.state_changed = [this](Session&, State from, State to, const std::string&) {
            log.push_back(std::string(to_string(from)) + "->" + to_string(to));
        };
        session = std::make_unique<Session>(s, transport, clock, ev);
    }
};

Open peer_open(uint32_t asn = 65001, uint16_t hold = 30, uint32_t id = 0x0a000001) {
    Open o;
    o.asn = asn;
    o.hold_time = hold;
    o.router_id = id;
    o.caps.multiprotocol = {{kAfiIpv4, kSafiUnicast}};
    o.caps.as4 = asn;
    return o;
}

template <typename T>
T expect(Link& l) {
    auto m = l.take();
    REQUIRE(m.has_value());
    REQUIRE(std::holds_alternative<T>(*m));
    return std::get<T>(*m);
}

// Brings the rig to Established over an outgoing connection.
std::shared_ptr<Link> establish(Rig& r) {
    r.session->start();
    auto l = r.transport.complete(true);
    REQUIRE(l);
    Open ours = expect<Open>(*l);
    CHECK(ours.asn == 64600);
    CHECK(ours.hold_time == 9);
    CHECK(ours.caps.as4 == 64600u);
    CHECK(ours.caps.route_refresh);
    l->feed(encode(peer_open()));
    expect<Keepalive>(*l);
    REQUIRE(r.session->state() == State::open_confirm);
    l->feed(encode(Keepalive{}));
    REQUIRE(r.session->state() == State::established);
    return l;
}

}  // namespace

TEST_CASE("bgp session: connect, OPEN, KEEPALIVE, Established", "[bgp]") {
    Rig r;
    auto l = establish(r);
    CHECK(r.log == std::vector<std::string>{"Idle->Connect", "Connect->OpenSent", "OpenSent->OpenConfirm",
                                            "OpenConfirm->Established"});
    CHECK(r.established == 1);
    CHECK(r.session->status().hold_time == 9);  // min(9, 30)
    CHECK(r.session->carries({kAfiIpv4, kSafiUnicast}));
    CHECK_FALSE(r.session->carries({kAfiIpv6, kSafiUnicast}));  // the peer did not offer IPv6
    // The connection's endpoints and side (PyBal's session_state_count labels).
    CHECK(r.session->status().remote_ip == "10.0.0.1");
    CHECK(r.session->status().local_ip == l->local.str());
    CHECK_FALSE(r.session->status().inbound);
}

TEST_CASE("bgp session: keepalives every hold/3, hold expiry drops and reconnects", "[bgp]") {
    Rig r;
    auto l = establish(r);
    r.clock.advance(3s);
    expect<Keepalive>(*l);
    l->feed(encode(Keepalive{}));  // restarts the hold timer at t=3
    r.clock.advance(3s);
    expect<Keepalive>(*l);
    r.clock.advance(5s);  // t=11: 8 s since the last message, under 9
    CHECK(r.session->state() == State::established);
    expect<Keepalive>(*l);
    r.clock.advance(1s);  // t=12: hold expires
    CHECK(r.session->state() == State::idle);
    auto n = expect<Notification>(*l);
    CHECK(n.code == err::kHoldExpired);
    CHECK(l->closed);
    CHECK(r.session->status().last_error == "hold timer expired");
    r.clock.advance(5s);  // idle hold, then a new attempt
    CHECK(r.session->state() == State::connect);
    CHECK(r.transport.live_attempts() == 1);
}

TEST_CASE("bgp session: a failed connect waits in Active and retries", "[bgp]") {
    Rig r;
    r.session->start();
    r.transport.complete(false);
    CHECK(r.session->state() == State::active);
    CHECK(r.session->status().last_error == "connection refused");
    r.clock.advance(4s);
    CHECK(r.transport.live_attempts() == 0);
    r.clock.advance(1s);
    CHECK(r.session->state() == State::connect);
    CHECK(r.transport.live_attempts() == 1);
    // A connect that hangs is abandoned at the next retry.
    r.clock.advance(5s);
    CHECK(r.transport.live_attempts() == 1);
}

TEST_CASE("bgp session: OPEN checks", "[bgp]") {
    Rig r;
    r.session->start();
    auto l = r.transport.complete(true);
    expect<Open>(*l);
    SECTION("wrong peer AS") {
        l->feed(encode(peer_open(65002)));
        auto n = expect<Notification>(*l);
        CHECK(n.code == err::kOpen);
        CHECK(n.subcode == err::kBadPeerAs);
        CHECK(r.session->state() == State::idle);
    }
    SECTION("our own router id") {
        l->feed(encode(peer_open(65001, 30, 0x0a000002)));
        CHECK(expect<Notification>(*l).subcode == err::kBadIdentifier);
    }
    SECTION("KEEPALIVE before OPEN is an FSM error") {
        l->feed(encode(Keepalive{}));
        auto n = expect<Notification>(*l);
        CHECK(n.code == err::kFsm);
        CHECK(n.subcode == err::kUnexpectedInOpenSent);
    }
    SECTION("garbage gives a header error") {
        l->feed(Bytes(19, 0));
        CHECK(expect<Notification>(*l).subcode == err::kNotSynchronized);
    }
    SECTION("hold time 0 negotiates no keepalives") {
        l->feed(encode(peer_open(65001, 0)));
        expect<Keepalive>(*l);
        l->feed(encode(Keepalive{}));
        r.clock.advance(1h);
        CHECK(r.session->state() == State::established);
        CHECK(l->sent.empty());
    }
}

TEST_CASE("bgp session: UPDATEs are ignored, ROUTE-REFRESH is reported, OPEN in Established is an error", "[bgp]") {
    Rig r;
    auto l = establish(r);
    Update u;
    u.attrs.origin = 0;
    u.attrs.as_path = {{kAsSequence, {65001}}};
    u.attrs.next_hop = std::array<uint8_t, 4>{10, 0, 0, 1};
    u.nlri = {{*Address::parse("0.0.0.0"), 0}};
    l->feed(encode(u, {}));
    CHECK(r.session->status().updates_in == 1);
    l->feed(encode(RouteRefresh{{kAfiIpv4, kSafiUnicast}}));
    REQUIRE(r.refreshes.size() == 1);
    l->feed(encode(peer_open()));
    auto n = expect<Notification>(*l);
    CHECK(n.code == err::kFsm);
    CHECK(n.subcode == err::kUnexpectedInEstablished);
}

TEST_CASE("bgp session: stop sends CEASE and stays Idle", "[bgp]") {
    Rig r;
    auto l = establish(r);
    r.session->stop({err::kCease, err::kAdminShutdown, {}});
    auto n = expect<Notification>(*l);
    CHECK(n.code == err::kCease);
    CHECK(n.subcode == err::kAdminShutdown);
    CHECK(l->closed);
    CHECK(r.session->state() == State::idle);
    r.clock.advance(1min);
    CHECK(r.transport.live_attempts() == 0);
}

TEST_CASE("bgp session: a peer NOTIFICATION or a reset goes Idle, then reconnects", "[bgp]") {
    Rig r;
    auto l = establish(r);
    SECTION("notification") {
        l->feed(encode(Notification{err::kCease, err::kAdminShutdown, {}}));
        CHECK(r.session->status().last_error.find("received NOTIFICATION 6/2") == 0);
    }
    SECTION("reset") { l->peer_close(); }
    CHECK(r.session->state() == State::idle);
    CHECK(l->sent.empty());
    r.clock.advance(5s);
    auto l2 = r.transport.complete(true);
    REQUIRE(l2);
    CHECK(r.session->state() == State::open_sent);
}

TEST_CASE("bgp session: passive waits in Active and accepts", "[bgp]") {
    Rig r(true);
    r.session->start();
    CHECK(r.session->state() == State::active);
    CHECK(r.transport.live_attempts() == 0);
    auto [conn, l] = FakeTransport::incoming(*Address::parse("10.0.0.1"));
    r.session->accept(std::move(conn));
    expect<Open>(*l);
    l->feed(encode(peer_open()));
    expect<Keepalive>(*l);
    l->feed(encode(Keepalive{}));
    CHECK(r.session->state() == State::established);
    CHECK(r.session->status().inbound);
    CHECK(r.session->status().remote_ip == "10.0.0.1");
    SECTION("a second connection collides with Established and is closed") {
        auto [c2, l2] = FakeTransport::incoming(*Address::parse("10.0.0.1"));
        r.session->accept(std::move(c2));
        auto n = expect<Notification>(*l2);
        CHECK(n.subcode == err::kCollision);
        CHECK(l2->closed);
        CHECK(r.session->state() == State::established);
    }
    SECTION("a reset goes back to Active for the peer to reconnect") {
        l->peer_close();
        CHECK(r.session->state() == State::idle);
        r.clock.advance(5s);
        CHECK(r.session->state() == State::active);
    }
}

TEST_CASE("bgp session: collision detection keeps the higher router id's connection (RFC 4271 6.8)", "[bgp]") {
    // Ours 10.0.0.2 vs peer 10.0.0.1: we are higher, so our outgoing connection survives.
    // With ours 10.0.0.0/any lower: the peer's (incoming) one survives.
    const bool we_are_higher = GENERATE(true, false);
    Rig r(false, we_are_higher ? 0x0a000002 : 0x09000000);
    r.session->start();
    auto out = r.transport.complete(true);
    expect<Open>(*out);
    auto [conn, in] = FakeTransport::incoming(*Address::parse("10.0.0.1"));
    r.session->accept(std::move(conn));
    expect<Open>(*in);
    out->feed(encode(peer_open()));
    expect<Keepalive>(*out);
    CHECK(r.session->state() == State::open_confirm);
    in->feed(encode(peer_open()));  // the second OPEN: resolve
    auto& loser = we_are_higher ? *in : *out;
    auto& winner = we_are_higher ? *out : *in;
    auto n = expect<Notification>(loser);
    CHECK(n.code == err::kCease);
    CHECK(n.subcode == err::kCollision);
    CHECK(loser.closed);
    CHECK_FALSE(winner.closed);
    if (!we_are_higher) expect<Keepalive>(winner);
    winner.feed(encode(Keepalive{}));
    CHECK(r.session->state() == State::established);
}

TEST_CASE("bgp session: failures in a row double the wait before the next attempt, up to 60 s", "[bgp]") {
    Rig r;  // connect_retry 5 s
    auto l = establish(r);
    l->peer_close();  // a router restarting: failure 1, the next attempt in 5 s
    CHECK(r.session->status().flaps == 1);
    CHECK(r.session->status().failures == 1);
    CHECK(r.session->status().idle_hold == 5s);
    // Still down: every refused attempt doubles the wait, 10, 20, 40, then 60 s.
    for (auto wait : {5s, 10s, 20s, 40s, 60s, 60s}) {
        r.clock.advance(wait - 1s);
        CHECK(r.transport.live_attempts() == 0);
        r.clock.advance(1s);
        REQUIRE(r.transport.live_attempts() == 1);
        r.transport.complete(false);
        CHECK(r.session->state() == State::active);
    }
    CHECK(r.session->status().failures == 7);
    CHECK(r.session->status().last_error == "connection refused");
    // A router that connects to us is accepted during the wait.
    auto [conn, in] = FakeTransport::incoming(*Address::parse("10.0.0.1"));
    r.session->accept(std::move(conn));
    expect<Open>(*in);
    in->feed(encode(peer_open()));
    expect<Keepalive>(*in);
    in->feed(encode(Keepalive{}));
    REQUIRE(r.session->state() == State::established);
    CHECK(r.session->status().idle_hold == 0s);
    SECTION("a session that drops before it was stable keeps backing off") {
        for (int i = 0; i < 19; ++i) {  // 57 s
            r.clock.advance(3s);
            in->feed(encode(Keepalive{}));
        }
        in->peer_close();
        CHECK(r.session->status().failures == 8);
        CHECK(r.session->status().idle_hold == 60s);
    }
    SECTION("a session that stayed up 60 s starts the count again") {
        for (int i = 0; i < 20; ++i) {
            r.clock.advance(3s);
            in->feed(encode(Keepalive{}));
        }
        in->peer_close();
        CHECK(r.session->status().flaps == 2);
        CHECK(r.session->status().failures == 1);
        CHECK(r.session->status().idle_hold == 5s);
        r.clock.advance(5s);
        CHECK(r.transport.live_attempts() == 1);
    }
    SECTION("stop is not a flap") {
        r.session->stop({err::kCease, err::kAdminShutdown, {}});
        CHECK(r.session->status().flaps == 1);
    }
}

TEST_CASE("bgp session: a peer that never sends OPEN is dropped after the proposed hold time", "[bgp]") {
    Rig r;  // hold time 9 s
    r.session->start();
    auto l = r.transport.complete(true);
    expect<Open>(*l);
    r.clock.advance(8s);
    CHECK(r.session->state() == State::open_sent);
    r.clock.advance(1s);
    auto n = expect<Notification>(*l);
    CHECK(n.code == err::kHoldExpired);
    CHECK(l->closed);
    CHECK(r.session->state() == State::idle);
    CHECK(r.session->status().flaps == 0);  // it never came up
    r.clock.advance(5s);
    CHECK(r.transport.live_attempts() == 1);
}

TEST_CASE("bgp session: a peer that comes back with other capabilities is negotiated again", "[bgp]") {
    Rig r;
    auto l = establish(r);  // the peer offered 4-octet AS and hold 30: hold 9
    CHECK(r.session->status().hold_time == 9);
    l->peer_close();
    r.clock.advance(5s);
    auto l2 = r.transport.complete(true);
    REQUIRE(l2);
    expect<Open>(*l2);
    // Now an old router: no capabilities at all (2-octet AS, IPv4 only), hold 3 s, another identifier.
    Open o;
    o.asn = 65001;
    o.hold_time = 3;
    o.router_id = 0x0a0000fe;
    l2->feed(encode(o));
    expect<Keepalive>(*l2);
    l2->feed(encode(Keepalive{}));
    REQUIRE(r.session->state() == State::established);
    CHECK(r.session->status().hold_time == 3);
    CHECK(r.session->carries({kAfiIpv4, kSafiUnicast}));
    CHECK_FALSE(r.session->carries({kAfiIpv6, kSafiUnicast}));
    Update u;
    u.attrs.origin = 0;
    u.attrs.as_path = {{kAsSequence, {64600, 4200000000u}}};
    u.attrs.next_hop = std::array<uint8_t, 4>{10, 0, 0, 2};
    u.nlri = {{*Address::parse("198.51.100.10"), 32}};
    REQUIRE(r.session->send(u));
    // Encoded for a 2-octet peer: AS_TRANS in AS_PATH (decoded as such with 2-octet ASes).
    auto sent = l2->take(Codec{false});
    REQUIRE(sent);
    auto& got = std::get<Update>(*sent);
    REQUIRE(got.attrs.as_path.size() == 1);
    CHECK(got.attrs.as_path[0].asns == std::vector<uint32_t>{64600, kAsTrans});
    r.clock.advance(1s);  // keepalives every second now
    expect<Keepalive>(*l2);
    r.clock.advance(2s);
    expect<Keepalive>(*l2);
    CHECK(r.session->state() == State::idle);  // nothing from the peer for 3 s
    CHECK(expect<Notification>(*l2).code == err::kHoldExpired);
}
