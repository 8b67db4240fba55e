// The speaker's boundaries: a clock with timers, and TCP connections. The real
// ones are in asio_io.h; unit tests use fakes. All callbacks run on the thread
// that runs the event loop (the control thread); none is called after the
// object that would call it (timer, connection, attempt) is destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bgp/message.h"

namespace tern::bgp {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

class Timer {
public:
    virtual ~Timer() = default;
    // (Re)starts the timer; a running one is cancelled first.
    virtual void arm(Duration after) = 0;
    virtual void cancel() = 0;
    virtual bool armed() const = 0;
};

class Clock {
public:
    virtual ~Clock() = default;
    virtual TimePoint now() const = 0;
    virtual std::unique_ptr<Timer> timer(std::function<void()> fire) = 0;
};

// One established TCP connection.
class Connection {
public:
    struct Handlers {
        std::function<void(std::span<const uint8_t>)> data;
        std::function<void(const std::string& why)> closed;  // by the peer or an error
    };
    virtual ~Connection() = default;  // closes (after flushing what was sent)
    // Starts delivering received bytes; called once.
    virtual void start(Handlers h) = 0;
    virtual void send(Bytes bytes) = 0;
    // Flushes what was sent, then closes; no callback after this.
    virtual void close() = 0;
    virtual Address remote() const = 0;
    virtual Address local() const = 0;
};

// Per-peer socket options (applied to outgoing sockets and to the listener).
struct SocketOptions {
    std::string md5_password;   // RFC 2385; empty = none
    bool ttl_security = false;  // RFC 5082 GTSM: send with TTL 255, accept only TTL >= 254
};

// An outgoing connection in progress; destroying it cancels it.
class ConnectAttempt {
public:
    virtual ~ConnectAttempt() = default;
};

class Transport {
public:
    using Connected = std::function<void(std::unique_ptr<Connection> conn, const std::string& error)>;
    using Accepted = std::function<void(std::unique_ptr<Connection> conn)>;
    virtual ~Transport() = default;
    virtual std::unique_ptr<ConnectAttempt> connect(const Address& remote, uint16_t port, const SocketOptions& opts,
                                                    Connected done) = 0;
    // Accepts on `port` for the listed peers (with their options); others are refused.
    // Returns an error message, or empty.
    virtual std::string listen(const Address& local, uint16_t port,
                               const std::vector<std::pair<Address, SocketOptions>>& peers, Accepted accepted) = 0;
    // Stops accepting (every listen() so far); connections already accepted stay.
    virtual void unlisten() = 0;
};

}  // namespace tern::bgp
