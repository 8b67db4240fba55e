#include "dataplane/schedulers.h"

#include <catch2/catch.hpp>
#include <map>
#include <vector>

using namespace tern::dp;

TEST_CASE("rr: every candidate in turn", "[sched]") {
    uint32_t c = 0;
    std::vector<uint16_t> got;
    for (int i = 0; i < 6; ++i) got.push_back(pick_rr(3, c));
    CHECK(got == std::vector<uint16_t>{1, 2, 0, 1, 2, 0});
    CHECK(pick_rr(0, c) == kNoPick);
}

TEST_CASE("wrr: IPVS's sequence for weights 4, 3, 2", "[sched]") {
    const std::vector<uint16_t> w = {4, 3, 2};
    uint32_t cursor = 2;  // IPVS starts at the list head: the next step wraps
    int32_t current = 0;
    std::vector<uint16_t> got;
    for (int i = 0; i < 9; ++i) got.push_back(pick_wrr(w, cursor, current));
    // cw 4: A; cw 3: A B; cw 2: A B C; cw 1: A B C
    CHECK(got == std::vector<uint16_t>{0, 0, 1, 0, 1, 2, 0, 1, 2});
    std::vector<uint16_t> zero = {0, 0};
    CHECK(pick_wrr(zero, cursor, current) == kNoPick);
}

TEST_CASE("wrr: shares follow weights", "[sched]") {
    const std::vector<uint16_t> w = {10, 0, 5, 1};
    uint32_t cursor = 3;
    int32_t current = 0;
    std::map<uint16_t, int> n;
    for (int i = 0; i < 1600; ++i) ++n[pick_wrr(w, cursor, current)];
    CHECK(n[0] == 1000);
    CHECK(n[1] == 0);
    CHECK(n[2] == 500);
    CHECK(n[3] == 100);
}

TEST_CASE("wlc: least (active*256 + inactive) / weight", "[sched]") {
    const std::vector<uint16_t> w = {1, 2, 0};
    // overheads: 256*2+0 = 512 (/1), 256*3+10 = 778 (/2 = 389): the second wins
    CHECK(pick_wlc(w, std::vector<uint64_t>{2, 3, 0}, std::vector<uint64_t>{0, 10, 0}) == 1);
    // equal ratios: the first
    CHECK(pick_wlc(w, std::vector<uint64_t>{1, 2, 0}, std::vector<uint64_t>{0, 0, 0}) == 0);
    // inactive connections count 1/256 of an active one
    CHECK(pick_wlc(std::vector<uint16_t>{1, 1}, std::vector<uint64_t>{0, 0}, std::vector<uint64_t>{300, 200}) == 1);
    CHECK(pick_wlc(std::vector<uint16_t>{0}, std::vector<uint64_t>{0}, std::vector<uint64_t>{0}) == kNoPick);
}
