#include "bgp/session.h"

#include <fmt/format.h>

#include <algorithm>

namespace tern::bgp {
namespace {

// RFC 4271 8.2.2: a large hold time while waiting for the peer's OPEN
// (4 minutes suggested); but never longer than the hold time we propose, as
// a peer that sends nothing for that long once Established is dropped too.
constexpr Duration kOpenHold = std::chrono::minutes(4);
constexpr AfiSafi kIpv4Unicast{kAfiIpv4, kSafiUnicast};
constexpr AfiSafi kIpv6Unicast{kAfiIpv6, kSafiUnicast};

Duration seconds(unsigned s) { return std::chrono::seconds(s); }

}  // namespace

struct Session::Conn {
    std::unique_ptr<Connection> link;
    bool inbound = false;
    State state = State::open_sent;
    Framer framer;
    std::unique_ptr<Timer> hold;
    std::unique_ptr<Timer> keepalive;
    Open peer;  // valid from OpenConfirm on
    uint16_t hold_time = 0;
    Codec codec;
};

const char* to_string(State s) {
    switch (s) {
        case State::idle: return "Idle";
        case State::connect: return "Connect";
        case State::active: return "Active";
        case State::open_sent: return "OpenSent";
        case State::open_confirm: return "OpenConfirm";
        case State::established: return "Established";
    }
    return "?";
}

Session::Session(PeerSettings settings, Transport& transport, Clock& clock, Events events)
    : settings_(std::move(settings)), transport_(transport), clock_(clock), events_(std::move(events)) {
    status_.since = clock_.now();
    retry_ = clock_.timer([this] {
        bury();
        // ConnectRetryTimer expiry (Connect, Active) or the end of the idle hold
        // after an error: try again.
        if (!running_ || !conns_.empty()) return;
        if (settings_.passive) {
            base_ = State::active;
            settle("waiting for the peer to connect");
        } else {
            connect_now();
        }
    });
}

Session::~Session() {
    for (auto& c : conns_) c->link->close();
}

void Session::start() {
    bury();
    if (running_) return;
    running_ = true;
    if (settings_.passive) {
        base_ = State::active;
        settle("started, waiting for the peer to connect");
    } else {
        connect_now();
    }
}

void Session::stop(const Notification& cease) {
    bury();
    running_ = false;
    attempt_.reset();
    retry_->cancel();
    while (!conns_.empty()) drop(conns_.front().get(), cease, "stopped: sent " + cease.str());
    base_ = State::idle;
    settle("stopped");
}

void Session::set_timers(uint16_t hold_time, uint16_t connect_retry) {
    settings_.hold_time = hold_time;
    settings_.connect_retry = connect_retry;
}

void Session::connect_now() {
    base_ = State::connect;
    attempt_.reset();
    attempt_ = transport_.connect(
        settings_.address, settings_.port, settings_.socket,
        [this](std::unique_ptr<Connection> c, const std::string& error) { on_connected(std::move(c), error); });
    retry_->arm(seconds(settings_.connect_retry));
    settle(fmt::format("connecting to {} port {}", settings_.address.str(), settings_.port));
}

void Session::on_connected(std::unique_ptr<Connection> c, const std::string& error) {
    bury();
    attempt_.reset();
    if (!c) {
        status_.last_error = error;
        base_ = State::active;
        back_off();
        settle(fmt::format("connect failed: {}; next attempt in {} s", error, status_.idle_hold.count() / 1000));
        return;
    }
    if (!running_ || conns_.size() >= 2) {
        c->close();
        return;
    }
    retry_->cancel();
    add(std::move(c), false);
}

void Session::accept(std::unique_ptr<Connection> c) {
    bury();
    if (!running_ || conns_.size() >= 2) {
        c->close();
        return;
    }
    if (Conn* e = established()) {
        (void)e;
        // Section 6.8: a connection colliding with an Established one is closed.
        c->send(encode(Notification{err::kCease, err::kCollision, {}}));
        c->close();
        return;
    }
    attempt_.reset();
    retry_->cancel();
    add(std::move(c), true);
}

void Session::note_endpoints(const Conn& c) {
    status_.local_ip = c.link->local().str();
    status_.remote_ip = c.link->remote().str();
    status_.inbound = c.inbound;
}

void Session::add(std::unique_ptr<Connection> link, bool inbound) {
    auto conn = std::make_unique<Conn>();
    Conn* c = conn.get();
    c->link = std::move(link);
    c->inbound = inbound;
    note_endpoints(*c);
    c->hold = clock_.timer([this, c] {
        bury();
        drop(c, Notification{err::kHoldExpired, 0, {}}, "hold timer expired");
    });
    c->keepalive = clock_.timer([this, c] {
        bury();
        send_to(c, encode(Keepalive{}));
        c->keepalive->arm(seconds(c->hold_time / 3));
    });
    conns_.push_back(std::move(conn));
    c->link->start({[this, c](std::span<const uint8_t> b) { on_data(c, b); },
                    [this, c](const std::string& why) {
                        bury();
                        drop(c, std::nullopt, why);
                    }});
    Open o;
    o.asn = settings_.local_asn;
    o.hold_time = settings_.hold_time;
    o.router_id = settings_.router_id;
    o.caps.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
    o.caps.route_refresh = true;
    o.caps.as4 = settings_.local_asn;
    send_to(c, encode(o));
    c->hold->arm(settings_.hold_time == 0 ? kOpenHold : std::min<Duration>(kOpenHold, seconds(settings_.hold_time)));
    settle(fmt::format("{} connection, OPEN sent", inbound ? "incoming" : "outgoing"));
}

void Session::on_data(Conn* c, std::span<const uint8_t> bytes) {
    bury();
    c->framer.feed(bytes);
    // Stop as soon as the connection is dropped (it moves to the graveyard).
    auto alive = [&] { return std::any_of(conns_.begin(), conns_.end(), [c](const auto& p) { return p.get() == c; }); };
    while (alive()) {
        auto next = c->framer.next();
        if (next.error) {
            drop(c, *next.error, "bad message header: sent " + next.error->str());
            return;
        }
        if (!next.message) return;
        ++status_.messages_in;
        auto d = decode(*next.message, c->codec);
        if (auto* n = std::get_if<Notification>(&d)) {
            drop(c, *n, "bad message: sent " + n->str());
            return;
        }
        on_message(c, std::get<Message>(d));
    }
}

void Session::on_message(Conn* c, const Message& m) {
    const uint8_t fsm_sub = c->state == State::open_sent      ? err::kUnexpectedInOpenSent
                            : c->state == State::open_confirm ? err::kUnexpectedInOpenConfirm
                                                              : err::kUnexpectedInEstablished;
    const Notification fsm_error{err::kFsm, fsm_sub, {}};
    if (auto* n = std::get_if<Notification>(&m)) {
        status_.last_error = "received NOTIFICATION " + n->str();
        drop(c, std::nullopt, status_.last_error);
        return;
    }
    if (auto* o = std::get_if<Open>(&m)) {
        if (c->state != State::open_sent) {
            drop(c, fsm_error, "unexpected OPEN");
            return;
        }
        on_open(c, *o);
        return;
    }
    if (std::holds_alternative<Keepalive>(m)) {
        if (c->state == State::open_sent) {
            drop(c, fsm_error, "KEEPALIVE before OPEN");
            return;
        }
        restart_hold(c);
        if (c->state == State::open_confirm) {
            c->state = State::established;
            status_.established_at = clock_.now();
            ++status_.established_count;
            status_.idle_hold = {};
            status_.hold_time = c->hold_time;
            note_endpoints(*c);
            settle(fmt::format("hold time {} s", c->hold_time));
            if (events_.established) events_.established(*this);
        }
        return;
    }
    if (c->state != State::established) {
        drop(c, fsm_error, fmt::format("unexpected message in {}", to_string(c->state)));
        return;
    }
    restart_hold(c);
    if (std::holds_alternative<Update>(m)) {
        ++status_.updates_in;  // routes we are sent are not used: nothing is kept
    } else if (auto* rr = std::get_if<RouteRefresh>(&m)) {
        if (events_.route_refresh) events_.route_refresh(*this, rr->family);
    }
}

void Session::on_open(Conn* c, const Open& o) {
    if (o.asn != settings_.remote_asn) {
        Bytes data{static_cast<uint8_t>(o.my_as_field >> 8), static_cast<uint8_t>(o.my_as_field)};
        drop(c, Notification{err::kOpen, err::kBadPeerAs, data},
             fmt::format("peer says AS {}, configured {}", o.asn, settings_.remote_asn));
        return;
    }
    if (o.router_id == settings_.router_id) {
        drop(c, Notification{err::kOpen, err::kBadIdentifier, {}}, "peer has our router id");
        return;
    }
    // Section 6.8: an OPEN on one connection while the other has seen one.
    for (auto& other : conns_) {
        Conn* y = other.get();
        if (y == c || y->state == State::open_sent) continue;
        const Notification collision{err::kCease, err::kCollision, {}};
        if (y->state == State::established) {
            drop(c, collision, "connection collision with the established session");
            return;
        }
        // The connection opened by the speaker with the higher identifier survives.
        const bool keep_outbound = settings_.router_id > o.router_id;
        Conn* loser = (c->inbound == keep_outbound) ? c : y;
        const bool self = loser == c;
        drop(loser, collision, "connection collision resolved");
        if (self) return;
        break;
    }
    c->peer = o;
    c->codec.as4 = o.caps.as4.has_value();
    c->hold_time = std::min(settings_.hold_time, o.hold_time);
    c->state = State::open_confirm;
    send_to(c, encode(Keepalive{}));
    restart_hold(c);
    if (c->hold_time > 0) c->keepalive->arm(seconds(c->hold_time / 3));
    settle(fmt::format("OPEN from AS {} router id {}.{}.{}.{}", o.asn, o.router_id >> 24, (o.router_id >> 16) & 255,
                       (o.router_id >> 8) & 255, o.router_id & 255));
}

void Session::restart_hold(Conn* c) {
    if (c->state == State::open_sent) return;
    if (c->hold_time == 0) {
        c->hold->cancel();
    } else {
        c->hold->arm(seconds(c->hold_time));
    }
}

void Session::send_to(Conn* c, Bytes bytes) {
    ++status_.messages_out;
    c->link->send(std::move(bytes));
}

bool Session::send(const Update& u) {
    bury();
    Conn* c = established();
    if (c == nullptr) return false;
    ++status_.updates_out;
    send_to(c, encode(u, c->codec));
    // Sending resets the keepalive interval (RFC 4271 4.4).
    if (c->hold_time > 0) c->keepalive->arm(seconds(c->hold_time / 3));
    return true;
}

bool Session::carries(AfiSafi f) const {
    Conn* c = established();
    if (c == nullptr) return false;
    // No multiprotocol capability at all means IPv4 unicast only (RFC 4760 8).
    if (c->peer.caps.multiprotocol.empty()) return f == kIpv4Unicast;
    const auto& mp = c->peer.caps.multiprotocol;
    return std::find(mp.begin(), mp.end(), f) != mp.end();
}

void Session::drop(Conn* c, std::optional<Notification> n, const std::string& why) {
    auto it = std::find_if(conns_.begin(), conns_.end(), [c](const auto& p) { return p.get() == c; });
    if (it == conns_.end()) return;
    if (n) send_to(c, encode(*n));
    const bool was_up = c->state == State::established;
    if (was_up && running_) ++status_.flaps;
    if (was_up && status_.established_at && clock_.now() - *status_.established_at >= kStableTime) {
        status_.failures = 0;
    }
    c->hold->cancel();
    c->keepalive->cancel();
    c->link->close();
    graveyard_.push_back(std::move(*it));
    conns_.erase(it);
    if (n && n->code != err::kCease) status_.last_error = why;
    if (!n && status_.last_error.empty()) status_.last_error = why;
    if (conns_.empty() && running_) {
        // Idle, then start again after the idle hold (backed off).
        base_ = State::idle;
        back_off();
        settle(fmt::format("{}; {} {} s", why, settings_.passive ? "back to Active in" : "next attempt in",
                           status_.idle_hold.count() / 1000));
        return;
    }
    settle(why);
}

Session::Conn* Session::established() const {
    for (const auto& c : conns_) {
        if (c->state == State::established) return c.get();
    }
    return nullptr;
}

void Session::settle(const std::string& why) {
    State s = base_;
    for (const auto& c : conns_)
        s = std::max(s, c->state, [](State a, State b) { return static_cast<int>(a) < static_cast<int>(b); });
    if (conns_.empty()) s = base_;
    if (s == status_.state) return;
    const State from = status_.state;
    status_.state = s;
    status_.since = clock_.now();
    if (s != State::established && s != State::open_confirm) status_.hold_time = 0;
    if (s != State::established) status_.established_at.reset();
    if (events_.state_changed) events_.state_changed(*this, from, s, why);
}

void Session::back_off() {
    ++status_.failures;
    const Duration base = seconds(settings_.connect_retry);
    const Duration cap = std::max(base, kMaxIdleHold);
    Duration wait = base;
    for (uint32_t i = 1; i < status_.failures && wait < cap; ++i) wait *= 2;
    status_.idle_hold = std::min(wait, cap);
    retry_->arm(status_.idle_hold);
}

void Session::bury() { graveyard_.clear(); }

}  // namespace tern::bgp
