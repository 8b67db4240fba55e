// tern run's capability drop, in a child process (it cannot be undone):
// every thread, those started before and after, ends with the kept set.
#include "control/daemon/privileges.h"

#include <linux/capability.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

using namespace tern::ctl;

namespace {

uint64_t kept_mask() {
    uint64_t m = 0;
    for (const auto& k : run_capabilities()) m |= uint64_t{1} << k.cap;
    return m;
}

// In the child: 0 when every thread holds exactly `want` (effective,
// permitted, bounding) and nothing inheritable or ambient, with no_new_privs.
int check_threads(uint64_t want) {
    const auto threads = thread_privileges();
    if (threads.size() < 2) return 10;
    for (const auto& t : threads) {
        if (t.effective != want || t.permitted != want || t.bounding != want) return 11;
        if (t.inheritable != 0 || t.ambient != 0 || !t.no_new_privs) return 12;
    }
    return 0;
}

}  // namespace

TEST_CASE("privileges: names of a capability mask", "[control]") {
    CHECK(capability_names(0) == "none");
    CHECK(capability_names((uint64_t{1} << CAP_KILL) | (uint64_t{1} << CAP_NET_ADMIN)) == "cap_kill,cap_net_admin");
    CHECK(capability_names(kept_mask()) == "cap_kill,cap_setgid,cap_setuid,cap_net_bind_service,cap_net_admin");
}

TEST_CASE("privileges: every thread drops to the kept set, and new threads inherit it", "[control]") {
    // Needs the full set to start from: the tests run as root.
    REQUIRE(geteuid() == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        std::atomic<bool> stop{false};
        std::thread before([&] {
            while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        });
        const DropResult r = drop_privileges();
        int rc = r.ok && r.message.find("kept cap_kill,") != std::string::npos ? check_threads(kept_mask()) : 20;
        std::thread after([&] {
            while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        });
        if (rc == 0) rc = check_threads(kept_mask());
        // What is kept still works; what is dropped is refused.
        if (rc == 0 && setuid(0) != 0) rc = 30;    // still uid 0: allowed (cap_setuid kept)
        if (rc == 0 && chroot("/") == 0) rc = 31;  // cap_sys_chroot dropped
        stop.store(true);
        before.join();
        after.join();
        _exit(rc);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
