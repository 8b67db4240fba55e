// One BGP peer: the RFC 4271 section 8 state machine (Idle, Connect, Active,
// OpenSent, OpenConfirm, Established) with the connect-retry, hold and keepalive
// timers, active connect and passive accept, and connection collision detection
// (section 6.8). Received UPDATEs are checked (RFC 7606) and counted, never stored.
// Control thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bgp/io.h"
#include "bgp/message.h"

namespace tern::bgp {

enum class State { idle, connect, active, open_sent, open_confirm, established };
const char* to_string(State s);

struct PeerSettings {
    Address address;
    uint16_t port = 179;
    uint32_t remote_asn = 0;
    uint32_t local_asn = 0;
    uint32_t router_id = 0;      // host order
    uint16_t hold_time = 90;     // proposed; 0 or 3..65535 seconds
    uint16_t connect_retry = 5;  // seconds between connection attempts (and idle hold after an error)
    bool passive = false;        // never connect; wait for the peer
    SocketOptions socket;
};

// The connect-retry backoff (RFC 4271's DampPeerOscillations): after the n-th
// failure in a row the next attempt waits connect_retry x 2^(n-1), at most
// max(connect_retry, kMaxIdleHold). A session that stays Established for
// kStableTime clears the count. A peer that connects to us is accepted
// whenever it does, backoff or not.
constexpr Duration kMaxIdleHold = std::chrono::seconds(60);
constexpr Duration kStableTime = std::chrono::seconds(60);

struct PeerStatus {
    State state = State::idle;
    TimePoint since{};  // of the current state
    std::optional<TimePoint> established_at;
    uint64_t messages_in = 0, messages_out = 0;
    uint64_t updates_in = 0, updates_out = 0;
    uint64_t established_count = 0;  // times the session came up
    uint64_t flaps = 0;              // times an Established session ended other than by stop()
    // Connection failures (attempts that failed, connections lost before the
    // session stayed Established for kStableTime) since the last stable one;
    // each doubles the wait before the next attempt (idle hold backoff).
    uint32_t failures = 0;
    Duration idle_hold{};    // the wait before the next attempt, while there is one
    uint16_t hold_time = 0;  // negotiated, while OpenConfirm or Established
    std::string last_error;  // the last reason a connection ended
    // The endpoints of the latest TCP connection (the Established one once
    // there is one) and whether the peer opened it; empty before the first.
    std::string local_ip, remote_ip;
    bool inbound = false;
};

class Session {
public:
    struct Events {
        std::function<void(Session&)> established;
        std::function<void(Session&, AfiSafi)> route_refresh;
        std::function<void(Session&, State from, State to, const std::string& why)> state_changed;
    };

    Session(PeerSettings settings, Transport& transport, Clock& clock, Events events);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Starts (again): connects, or waits for the peer when passive.
    void start();
    // Sends `cease` on every open connection, closes them and stays Idle.
    void stop(const Notification& cease);
    // A connection the listener accepted from this peer's address.
    void accept(std::unique_ptr<Connection> conn);
    // Sends an UPDATE when Established, encoded as negotiated. False otherwise.
    bool send(const Update& update);
    // Whether the Established session carries this address family.
    bool carries(AfiSafi family) const;
    // New timers (a reload): the hold time is proposed by the next OPEN (an
    // established session keeps the one it negotiated), the connect-retry
    // time is used from the next attempt.
    void set_timers(uint16_t hold_time, uint16_t connect_retry);

    State state() const { return status_.state; }
    const PeerStatus& status() const { return status_; }
    const PeerSettings& settings() const { return settings_; }

private:
    struct Conn;
    void connect_now();
    void on_connected(std::unique_ptr<Connection> c, const std::string& error);
    void add(std::unique_ptr<Connection> c, bool inbound);
    void note_endpoints(const Conn& c);
    void on_data(Conn* c, std::span<const uint8_t> bytes);
    void on_message(Conn* c, const Message& m);
    void on_open(Conn* c, const Open& o);
    void send_to(Conn* c, Bytes bytes);
    // Sends `n` (when given) and drops the connection.
    void drop(Conn* c, std::optional<Notification> n, const std::string& why);
    void restart_hold(Conn* c);
    void settle(const std::string& why);
    // Counts a failure and arms the retry timer for the backed-off wait.
    void back_off();
    void bury();
    Conn* established() const;

    PeerSettings settings_;
    Transport& transport_;
    Clock& clock_;
    Events events_;
    PeerStatus status_;
    bool running_ = false;
    State base_ = State::idle;                      // the state when there is no connection
    std::vector<std::unique_ptr<Conn>> conns_;      // at most two (a collision)
    std::vector<std::unique_ptr<Conn>> graveyard_;  // dropped, freed at the next event
    std::unique_ptr<ConnectAttempt> attempt_;
    std::unique_ptr<Timer> retry_;
};

}  // namespace tern::bgp
