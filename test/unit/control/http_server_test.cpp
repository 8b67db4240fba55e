// The HTTP API's server under pressure (issue 16, part 6): a cap on open
// connections, and accept failing with EMFILE neither spins nor kills it.
#include "control/ops/http_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

using namespace tern;

namespace {

int connect_to(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    return fd;
}

// What the server sent so far, running its loop meanwhile; "" and closed=true once it closed.
std::string receive(boost::asio::io_context& io, int fd, bool& closed) {
    std::string got;
    closed = false;
    for (int i = 0; i < 20; ++i) {
        io.run_for(std::chrono::milliseconds(20));
        char buf[4096];
        const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0) {
            closed = true;
            break;
        }
        if (n > 0) got.append(buf, static_cast<size_t>(n));
        if (got.find("\r\n\r\nok") != std::string::npos) break;
    }
    return got;
}

void ask(int fd) {
    const std::string req = "GET /x HTTP/1.1\r\nHost: t\r\n\r\n";
    REQUIRE(::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
}

int highest_fd() {
    int top = 0;
    DIR* d = ::opendir("/proc/self/fd");
    REQUIRE(d != nullptr);
    while (dirent* e = ::readdir(d)) top = std::max(top, std::atoi(e->d_name));
    ::closedir(d);
    return top;
}

struct Server {
    boost::asio::io_context io;
    std::vector<std::string> log;
    ctl::HttpServer http;
    explicit Server(ctl::HttpServer::Limits limits)
        : http(
              io,
              [](const ctl::HttpRequest&) {
                  return ctl::HttpResponse{200, "text/plain", "ok"};
              },
              limits, [this](conf::LogLevel, const std::string& l) { log.push_back(l); }) {
        REQUIRE(http.listen(*conf::IpAddr::parse("127.0.0.1"), 0).empty());
    }
};

}  // namespace

TEST_CASE("http server: connections beyond the cap are closed at once", "[control]") {
    Server s({.max_connections = 2});
    const int a = connect_to(s.http.port()), b = connect_to(s.http.port());
    s.io.run_for(std::chrono::milliseconds(100));
    CHECK(s.http.open_connections() == 2);
    const int c = connect_to(s.http.port());
    bool closed = false;
    receive(s.io, c, closed);
    CHECK(closed);
    CHECK(s.http.refused() == 1);
    REQUIRE(s.log.size() == 1);
    CHECK(s.log[0].find("2 connections open, the most allowed (http.max_connections)") != std::string::npos);
    // The two within the cap are served.
    ask(a);
    CHECK(receive(s.io, a, closed).find("200 OK") != std::string::npos);
    // One leaves: a new one is served.
    ::close(b);
    s.io.run_for(std::chrono::milliseconds(100));
    CHECK(s.http.open_connections() == 1);
    const int d = connect_to(s.http.port());
    ask(d);
    CHECK(receive(s.io, d, closed).find("200 OK") != std::string::npos);
    ::close(a);
    ::close(c);
    ::close(d);
}

TEST_CASE("http server: accept failing with EMFILE backs off, then serves again", "[control]") {
    Server s({.max_connections = 64, .accept_backoff_s = 0.2});
    const int client = connect_to(s.http.port());  // waits in the backlog
    rlimit old{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
    rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(highest_fd() + 8);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::vector<int> hog;
    for (int fd; (fd = ::dup(0)) >= 0;) hog.push_back(fd);
    CHECK(errno == EMFILE);
    s.io.run_for(std::chrono::milliseconds(500));
    const uint64_t failures = s.http.accept_failures();
    for (int fd : hog) ::close(fd);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &old) == 0);
    // Failed, logged, and retried every 0.2 s: a handful, not a spin.
    CHECK(failures >= 1);
    CHECK(failures <= 4);
    REQUIRE_FALSE(s.log.empty());
    CHECK(s.log[0].find("accept: Too many open files; accepting again in 0.2 s") != std::string::npos);
    ask(client);
    bool closed = false;
    CHECK(receive(s.io, client, closed).find("200 OK") != std::string::npos);
    ::close(client);
}
