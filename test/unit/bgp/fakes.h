// A fake clock and transport for the BGP session and speaker tests: time moves
// only when the test says, connections are byte queues the test reads and feeds.
#pragma once

#include <algorithm>
#include <deque>
#include <memory>
#include <vector>

#include "bgp/io.h"
#include "bgp/message.h"

namespace tern::bgp::fake {

class FakeClock : public Clock {
public:
    struct Slot {
        TimePoint deadline{};
        bool armed = false;
        std::function<void()> fire;
        bool alive = true;
    };
    class FakeTimer : public Timer {
    public:
        FakeTimer(FakeClock& c, std::shared_ptr<Slot> s) : c_(c), s_(std::move(s)) {}
        ~FakeTimer() override { s_->alive = false; }
        void arm(Duration after) override {
            s_->armed = true;
            s_->deadline = c_.now_ + after;
        }
        void cancel() override { s_->armed = false; }
        bool armed() const override { return s_->armed; }

    private:
        FakeClock& c_;
        std::shared_ptr<Slot> s_;
    };

    TimePoint now() const override { return now_; }
    std::unique_ptr<Timer> timer(std::function<void()> fire) override {
        auto s = std::make_shared<Slot>();
        s->fire = std::move(fire);
        slots_.push_back(s);
        return std::make_unique<FakeTimer>(*this, s);
    }
    // Moves time forward, firing every timer that comes due, in order.
    void advance(Duration d) {
        const TimePoint end = now_ + d;
        for (;;) {
            std::erase_if(slots_, [](const auto& s) { return !s->alive; });
            std::shared_ptr<Slot> next;
            for (auto& s : slots_) {
                if (s->alive && s->armed && s->deadline <= end && (!next || s->deadline < next->deadline)) next = s;
            }
            if (!next) break;
            now_ = next->deadline;
            next->armed = false;
            auto fire = next->fire;  // the timer may be destroyed while firing
            fire();
        }
        now_ = end;
    }

private:
    TimePoint now_{std::chrono::hours(1)};
    std::vector<std::shared_ptr<Slot>> slots_;
};

// The test's end of one connection.
struct Link {
    Address remote, local;
    std::deque<Bytes> sent;  // framed messages the session sent
    Framer framer;
    bool closed = false;  // by the session
    Connection::Handlers handlers;
    bool started = false;

    void feed(const Bytes& b) {
        if (!closed && handlers.data) handlers.data(b);
    }
    void peer_close() {
        if (!closed && handlers.closed) handlers.closed("connection reset by peer");
    }
    // Next message the session sent, decoded (4-octet AS assumed).
    std::optional<Message> take(Codec codec = {}) {
        if (sent.empty()) return std::nullopt;
        Bytes b = std::move(sent.front());
        sent.pop_front();
        auto d = decode(b, codec);
        if (auto* m = std::get_if<Message>(&d)) return *m;
        return Message{std::get<Notification>(d)};  // unreachable for our own messages
    }
};

class FakeConnection : public Connection {
public:
    explicit FakeConnection(std::shared_ptr<Link> l) : l_(std::move(l)) {}
    ~FakeConnection() override { l_->closed = true; }
    void start(Handlers h) override {
        l_->handlers = std::move(h);
        l_->started = true;
    }
    void send(Bytes bytes) override {
        if (l_->closed) return;
        l_->framer.feed(bytes);
        while (auto m = l_->framer.next().message) l_->sent.push_back(std::move(*m));
    }
    void close() override { l_->closed = true; }
    Address remote() const override { return l_->remote; }
    Address local() const override { return l_->local; }

private:
    std::shared_ptr<Link> l_;
};

class FakeTransport : public Transport {
public:
    struct Pending {
        Address remote;
        uint16_t port = 0;
        SocketOptions opts;
        Connected done;
        bool cancelled = false;
    };
    class Attempt : public ConnectAttempt {
    public:
        explicit Attempt(std::shared_ptr<Pending> p) : p_(std::move(p)) {}
        ~Attempt() override { p_->cancelled = true; }

    private:
        std::shared_ptr<Pending> p_;
    };

    std::unique_ptr<ConnectAttempt> connect(const Address& remote, uint16_t port, const SocketOptions& opts,
                                            Connected done) override {
        auto p = std::make_shared<Pending>(Pending{remote, port, opts, std::move(done), false});
        pending.push_back(p);
        return std::make_unique<Attempt>(p);
    }
    std::string listen(const Address&, uint16_t port, const std::vector<std::pair<Address, SocketOptions>>& peers,
                       Accepted accepted) override {
        ++listen_calls;
        listen_port = port;
        listen_peers = peers;
        on_accept = std::move(accepted);
        return listen_error;
    }
    void unlisten() override {
        ++unlisten_calls;
        on_accept = nullptr;
    }
    // Completes the oldest live connection attempt; returns the link, or null on failure.
    std::shared_ptr<Link> complete(bool ok) {
        std::erase_if(pending, [](const auto& p) { return p->cancelled; });
        if (pending.empty()) return nullptr;
        auto p = pending.front();
        pending.erase(pending.begin());
        if (!ok) {
            p->done(nullptr, "connection refused");
            return nullptr;
        }
        auto l = std::make_shared<Link>();
        l->remote = p->remote;
        p->done(std::make_unique<FakeConnection>(l), "");
        return l;
    }
    size_t live_attempts() {
        std::erase_if(pending, [](const auto& p) { return p->cancelled; });
        return pending.size();
    }
    static std::pair<std::unique_ptr<Connection>, std::shared_ptr<Link>> incoming(const Address& from) {
        auto l = std::make_shared<Link>();
        l->remote = from;
        return {std::make_unique<FakeConnection>(l), l};
    }

    std::vector<std::shared_ptr<Pending>> pending;
    uint16_t listen_port = 0;
    int listen_calls = 0;
    int unlisten_calls = 0;
    std::string listen_error;  // what listen() returns
    std::vector<std::pair<Address, SocketOptions>> listen_peers;
    Accepted on_accept;
};

}  // namespace tern::bgp::fake
