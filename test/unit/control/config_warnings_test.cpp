// `tern check`'s warnings (issue 16, part 6): secrets in a file every user
// can read, an HTTP API bound beyond loopback.
#include "control/config/config_warnings.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

using namespace tern;

namespace {

struct File {
    std::string path = "/tmp/tern-warn-" + std::to_string(::getpid()) + ".yaml";
    conf::Config config;
    File(const std::string& yaml, mode_t mode) {
        std::ofstream(path) << yaml;
        ::chmod(path.c_str(), mode);
        auto r = conf::load_file(path);
        REQUIRE(r.config);
        config = *r.config;
    }
    ~File() { std::remove(path.c_str()); }
};

const std::string kBase =
    "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
    "services: [{name: web, vip: 192.0.2.1, port: 80, realservers: [{host: a, ip: 10.0.0.2}]}]\n";
const std::string kBgp = "bgp: {local_asn: 64600, peers: [{address: 10.0.0.9, asn: 64601, password: s3cret}]}\n";

}  // namespace

TEST_CASE("config warnings: a world-readable file with a BGP password", "[control]") {
    {
        File f(kBase + kBgp, 0644);
        const auto w = ctl::config_warnings(f.config, f.path);
        REQUIRE(w.size() == 1);
        CHECK(w[0].find("readable by every user (mode 0644) and holds secrets (bgp.peers[0].password)") !=
              std::string::npos);
    }
    {
        File f(kBase + kBgp, 0640);
        CHECK(ctl::config_warnings(f.config, f.path).empty());
    }
    {
        File f(kBase, 0644);  // no secret: nothing to hide
        CHECK(ctl::config_warnings(f.config, f.path).empty());
    }
}

TEST_CASE("config warnings: an HTTP API beyond loopback", "[control]") {
    {
        File f(kBase + "http: {address: 0.0.0.0, port: 9090}\n", 0600);
        const auto w = ctl::config_warnings(f.config, f.path);
        REQUIRE(w.size() == 1);
        CHECK(w[0].find("http.address 0.0.0.0") != std::string::npos);
    }
    for (const char* ok : {"127.0.0.1", "127.1.2.3", "::1"}) {
        File f(kBase + "http: {address: '" + ok + "'}\n", 0600);
        CHECK(ctl::config_warnings(f.config, f.path).empty());
    }
    File off(kBase + "http: {enabled: false, address: 10.0.0.1}\n", 0600);
    CHECK(ctl::config_warnings(off.config, off.path).empty());
}

TEST_CASE("config warnings: a RunCommand as root", "[control]") {
    const std::string svc =
        "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p, device: net_null0}]\n"
        "services: [{name: web, vip: 192.0.2.1, port: 80, realservers: [{host: a, ip: 10.0.0.2}],\n"
        "  monitors: {RunCommand: {command: /bin/true";
    {
        File f(svc + ", user: root}}}]\n", 0600);
        const auto w = ctl::config_warnings(f.config, f.path);
        REQUIRE(w.size() == 1);
        CHECK(w[0].find("services[0].monitors.RunCommand.user root: the command runs as root") != std::string::npos);
    }
    for (const char* ok : {"}}}]\n", ", user: nobody}}}]\n"}) {
        File f(svc + ok, 0600);
        CHECK(ctl::config_warnings(f.config, f.path).empty());
    }
}
