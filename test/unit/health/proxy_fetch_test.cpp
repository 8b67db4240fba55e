// ProxyFetch's pure piece: how a monitor URL becomes the Host header, the
// SNI name and the request target. (The fetching itself is tested against
// real servers in test/integration/health/test_proxyfetch.py.)
#include <catch2/catch.hpp>
#include <string>

#include "health/http_client.h"

using tern::health::parse_http_url;

TEST_CASE("parse_http_url: host, port, target", "[health]") {
    struct Case {
        const char* url;
        bool tls;
        const char* host;
        const char* authority;
        uint16_t port;
        const char* target;
    };
    const Case cases[] = {
        {"http://en.wikipedia.org/wiki/Main_Page", false, "en.wikipedia.org", "en.wikipedia.org", 80,
         "/wiki/Main_Page"},
        {"https://test.example", true, "test.example", "test.example", 443, "/"},
        {"http://test.example:8080", false, "test.example", "test.example:8080", 8080, "/"},
        {"http://test.example?x=1", false, "test.example", "test.example", 80, "/?x=1"},
        {"http://test.example/a?b=c#frag", false, "test.example", "test.example", 80, "/a?b=c"},
        {"http://test.example#frag", false, "test.example", "test.example", 80, "/"},
        {"https://[2001:db8::1]:8443/health", true, "2001:db8::1", "[2001:db8::1]:8443", 8443, "/health"},
        {"http://[::1]/", false, "::1", "[::1]", 80, "/"},
        {"http://10.0.0.1:65535/x", false, "10.0.0.1", "10.0.0.1:65535", 65535, "/x"},
    };
    for (const auto& c : cases) {
        INFO(c.url);
        std::string error;
        auto u = parse_http_url(c.url, &error);
        REQUIRE(u);
        CHECK(error.empty());
        CHECK(u->tls == c.tls);
        CHECK(u->host == c.host);
        CHECK(u->authority == c.authority);
        CHECK(u->port == c.port);
        CHECK(u->target == c.target);
    }
}

TEST_CASE("parse_http_url: bad URLs say why", "[health]") {
    const std::pair<const char*, const char*> cases[] = {
        {"ftp://test.example/", "is not an http:// or https:// URL"},
        {"HTTP://test.example/", "is not an http:// or https:// URL"},
        {"http:///path", "has no host"},
        {"http://:80/", "has no host"},
        {"http://user@test.example/", "user information"},
        {"http://test.example:/", "empty port"},
        {"http://test.example:0/", "bad port"},
        {"http://test.example:65536/", "bad port"},
        {"http://test.example:99999999999999999999/", "bad port"},
        {"http://test.example:8x/", "bad port"},
        {"http://[::1/", "bad IPv6 address"},
        {"http://[]/", "bad IPv6 address"},
        {"http://[not-v6]/", "bad IPv6 address"},
        {"http://[::1]x/", "text after the IPv6 address"},
        {"http://test.example/a b", "space or control character in its path"},
        {"http://test.example/a\r\nX-Injected: 1", "space or control character in its path"},
        {"http://te\tst.example/", "space or control character in its host"},
    };
    for (const auto& [url, why] : cases) {
        INFO(url);
        std::string error;
        CHECK_FALSE(parse_http_url(url, &error));
        CHECK_THAT(error, Catch::Contains(why) && Catch::Contains(url));
    }
}
