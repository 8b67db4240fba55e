// The Boost.Asio transport over real loopback sockets: GTSM on the listening side;
// a peer that stops reading.
#include "bgp/asio_io.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>

using namespace tern::bgp;

namespace {

// Connects to 127.0.0.1:port sending with `ttl`; returns the socket (or -1).
int connect_with_ttl(uint16_t port, int ttl) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

TEST_CASE("bgp asio transport: a GTSM peer's connection is accepted only when its SYN had TTL >= 254", "[bgp]") {
    boost::asio::io_context io;
    AsioTransport transport(io);
    SocketOptions gtsm;
    gtsm.ttl_security = true;
    int accepted = 0;
    // A port of our own in a range the kernel does not hand out as ephemeral.
    uint16_t port = 0;
    std::string err = "not tried";
    for (uint16_t p = static_cast<uint16_t>(20000 + getpid() % 5000); p < 30000 && !err.empty(); p += 97) {
        err = transport.listen(*Address::parse("127.0.0.1"), p, {{*Address::parse("127.0.0.1"), gtsm}},
                               [&](std::unique_ptr<Connection>) { ++accepted; });
        port = p;
    }
    REQUIRE(err.empty());

    const int low = connect_with_ttl(port, 64);  // the kernel completes the handshake either way
    REQUIRE(low >= 0);
    io.run_for(std::chrono::milliseconds(200));
    CHECK(accepted == 0);
    char c = 0;
    CHECK(read(low, &c, 1) == 0);  // closed by us
    close(low);

    const int high = connect_with_ttl(port, 255);
    REQUIRE(high >= 0);
    io.run_for(std::chrono::milliseconds(200));
    CHECK(accepted == 1);
    close(high);
}

namespace {

// A listening socket on 127.0.0.1 (any port) whose connections have a tiny
// receive window; returns the fd and the port.
std::pair<int, uint16_t> tiny_window_listener() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);  // inherited by accepted sockets
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    listen(fd, 4);
    socklen_t len = sizeof sin;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
    return {fd, ntohs(sin.sin_port)};
}

// Connects the transport to a peer that never reads.
std::unique_ptr<Connection> connect_to_deaf_peer(boost::asio::io_context& io, AsioTransport& transport, int lfd,
                                                 uint16_t port, int& peer_fd) {
    std::unique_ptr<Connection> conn;
    auto attempt = transport.connect(*Address::parse("127.0.0.1"), port, {},
                                     [&](std::unique_ptr<Connection> c, const std::string&) { conn = std::move(c); });
    io.run_for(std::chrono::milliseconds(200));
    peer_fd = accept(lfd, nullptr, nullptr);
    return conn;
}

}  // namespace

TEST_CASE("bgp asio transport: a peer that stops reading never blocks us, and a close still ends the socket", "[bgp]") {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);  // run_for() must not stop when idle
    AsioTransport transport(io);
    auto [lfd, port] = tiny_window_listener();
    REQUIRE(lfd >= 0);
    int peer = -1;
    auto conn = connect_to_deaf_peer(io, transport, lfd, port, peer);
    REQUIRE(conn);
    REQUIRE(peer >= 0);
    std::string closed_why;
    conn->start({[](std::span<const uint8_t>) {}, [&](const std::string& why) { closed_why = why; }});
    // 2 MB of UPDATE-sized messages: far more than the socket buffers take
    // while the peer's window is shut. send() returns at once every time.
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 500; ++i) conn->send(Bytes(4096, 0xff));
    io.run_for(std::chrono::milliseconds(300));
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
    CHECK(closed_why.empty());
    CHECK(transport.open_connections() == 1);
    SECTION("close() with the write stuck: the socket is cut after the linger time") {
        // 14 MB more, past what the kernel takes (its send buffer is at most
        // 4 MB here), under a raised cap: a write stays pending.
        transport.set_max_unsent(64u << 20);
        for (int i = 0; i < 3500; ++i) conn->send(Bytes(4096, 0xff));
        io.run_for(std::chrono::milliseconds(200));
        CHECK(closed_why.empty());
        conn->close();
        conn.reset();  // as the session does: the handle goes, the flush goes on
        io.run_for(std::chrono::milliseconds(1500));
        CHECK(transport.open_connections() == 1);  // still giving the bytes a chance
        io.run_for(std::chrono::milliseconds(1000));
        CHECK(transport.open_connections() == 0);  // gone: before the fix, never
    }
    SECTION("more than 4 MB unsent: the connection is reported closed and cut") {
        for (int i = 0; i < 2000; ++i) conn->send(Bytes(4096, 0xff));  // 8 MB more: more than the kernel takes
        io.run_for(std::chrono::milliseconds(200));
        CHECK(closed_why.find("the peer is not reading") != std::string::npos);
        conn.reset();
        io.run_for(std::chrono::milliseconds(100));
        CHECK(transport.open_connections() == 0);
    }
    conn.reset();
    close(peer);
    close(lfd);
}
