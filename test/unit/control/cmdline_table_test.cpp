// The rte_cmdline table generated from the console's descriptors, driven
// through a real cmdline on a pipe (no EAL): the words each line hands on,
// the catch-all for what no instance takes whole, TAB completion of names.
#include "control/ops/cmdline_table.h"

#include <fcntl.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <cmdline.h>
#include "control/ops/console_commands.h"

using namespace tern;

namespace {

struct Session {
    std::vector<std::vector<std::string>> lines;  // the words of each line run
    ctl::CmdlineTable table{ctl::console_commands(),
                            [this](cmdline*, const std::vector<std::string>& w) { lines.push_back(w); },
                            [](ctl::Token::Names kind) {
                                return kind == ctl::Token::Names::service ? std::vector<std::string>{"web", "dns"}
                                                                          : std::vector<std::string>{"rs1", "rs2"};
                            }};
    int fds[2] = {-1, -1};
    cmdline* cl = nullptr;

    Session() {
        REQUIRE(::pipe(fds) == 0);
        cl = cmdline_new(table.context(), "tern> ", fds[0], fds[1]);  // echo goes into the pipe
        REQUIRE(cl != nullptr);
    }
    ~Session() { cmdline_free(cl); }  // closes both ends
    void type(const std::string& keys) { cmdline_in(cl, keys.data(), static_cast<int>(keys.size())); }
    // What the cmdline wrote so far (echo, completions, '?' help).
    std::string screen() {
        ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
        std::string out;
        char buf[4096];
        for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
        return out;
    }
};

using Words = std::vector<std::string>;

}  // namespace

TEST_CASE("cmdline table: each command's line reaches exec as its words", "[control]") {
    Session s;
    s.type("show pools\n");
    s.type("set weight web rs1 7\n");
    s.type("pool rs2\n");
    s.type("add realserver web rs3 10.0.0.23 4\n");
    REQUIRE(s.lines.size() == 4);
    CHECK(s.lines[0] == Words{"show", "pools"});
    CHECK(s.lines[1] == Words{"set", "weight", "web", "rs1", "7"});
    CHECK(s.lines[2] == Words{"pool", "rs2"});
    CHECK(s.lines[3] == Words{"add", "realserver", "web", "rs3", "10.0.0.23", "4"});
}

TEST_CASE("cmdline table: what no instance takes whole goes to the catch-all", "[control]") {
    Session s;
    s.type("show servicez\n");
    s.type("frobnicate now\n");
    s.type("capture start p0 /tmp/x.pcapng 5 tcp port 80\n");
    s.type("show pools now\n");
    REQUIRE(s.lines.size() == 4);
    CHECK(s.lines[0] == Words{"show", "servicez"});
    CHECK(s.lines[1] == Words{"frobnicate", "now"});
    CHECK(s.lines[2] == Words{"capture", "start", "p0", "/tmp/x.pcapng", "5", "tcp", "port", "80"});
    CHECK(s.lines[3] == Words{"show", "pools", "now"});
}

TEST_CASE("cmdline table: TAB completes commands and the daemon's names", "[control]") {
    Session s;
    s.type("set weight w\t rs\t2 9\n");  // rs1/rs2: TAB stops at the common "rs"
    s.type("sh\tpoo\t\n");               // "po" alone is pools or port
    REQUIRE(s.lines.size() == 2);
    CHECK(s.lines[0] == Words{"set", "weight", "web", "rs2", "9"});
    CHECK(s.lines[1] == Words{"show", "pools"});
}

TEST_CASE("cmdline table: '?' lists the commands that fit, with their help", "[control]") {
    Session s;
    s.screen();
    s.type("set weight ?");
    const std::string help = s.screen();
    CHECK(help.find("set weight SERVICE HOST N: a server's weight (0..65535)") != std::string::npos);
    CHECK(help.find("SERVICE") != std::string::npos);
    CHECK(help.find("show pools") == std::string::npos);
}
