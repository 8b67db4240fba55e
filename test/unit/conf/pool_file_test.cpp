#include <catch2/catch.hpp>

#include "conf/pool_file.h"

using namespace tern::conf;

TEST_CASE("pool files: PyBal's line form", "[conf][pool]") {
    auto r = parse_pool_file(
        "# the text cluster\n"
        "{ 'host': 'cp1001.eqiad.wmnet', 'weight': 10, 'enabled': True }\n"
        "\n"
        "  {\"host\": \"cp1002.eqiad.wmnet\", \"weight\": 0, \"enabled\": False,}  \n"
        "{'host':'cp1003','weight':1,'enabled':True, 'comment': 'ignored'}",
        false);
    for (const auto& e : r.errors) INFO(e);
    REQUIRE(r.errors.empty());
    REQUIRE(r.entries.size() == 3);
    CHECK(r.entries[0] == PoolEntry{"cp1001.eqiad.wmnet", 10, true});
    CHECK(r.entries[1] == PoolEntry{"cp1002.eqiad.wmnet", 0, false});
    CHECK(r.entries[2] == PoolEntry{"cp1003", 1, true});
}

TEST_CASE("pool files: every bad line is named and rejects the file", "[conf][pool]") {
    auto one = [](const std::string& line) {
        auto r = parse_pool_file("{ 'host': 'ok', 'weight': 1, 'enabled': True }\n" + line + "\n", false);
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].rfind("line 2: ", 0) == 0);
        return r.errors[0];
    };
    CHECK(one("{ 'host': 'a', 'weight': 1 }").find("'enabled' must be True or False") != std::string::npos);
    CHECK(one("{ 'host': 'a', 'enabled': True }").find("'weight' must be an integer") != std::string::npos);
    CHECK(one("{ 'weight': 1, 'enabled': True }").find("'host'") != std::string::npos);
    CHECK(one("{ 'host': 'a', 'weight': 70000, 'enabled': True }").find("between 0 and 65535") != std::string::npos);
    CHECK(one("{ 'host': 'a', 'weight': 1, 'enabled': true }").find("unexpected 't'") != std::string::npos);
    CHECK(one("{ 'host': 'a', 'weight': 1, 'enabled': True } x").find("after '}'") != std::string::npos);
    CHECK(one("{ 'host': 'a, 'weight': 1, 'enabled': True }").find("") != std::string::npos);
    CHECK(one("{ 'host': 'ok', 'weight': 1, 'enabled': True }").find("listed twice") != std::string::npos);
    CHECK(one("host=a").find("expected '{'") != std::string::npos);
}

TEST_CASE("pool files: PyBal's JSON form", "[conf][pool]") {
    auto r = parse_pool_file(
        R"({"a.wmnet": {"enabled": false, "weight": 10}, "b.wmnet": {"enabled": true, "weight": 5}})", true);
    REQUIRE(r.errors.empty());
    REQUIRE(r.entries.size() == 2);
    CHECK(r.entries[0] == PoolEntry{"a.wmnet", 10, false});
    CHECK(r.entries[1] == PoolEntry{"b.wmnet", 5, true});
    CHECK(parse_pool_file("[1, 2]", true).errors.size() == 1);
    CHECK(parse_pool_file("{not json", true).errors.size() == 1);
    CHECK(parse_pool_file(R"({"a": {"weight": "10"}})", true).errors.at(0) == "a: 'weight' must be an integer");
}

TEST_CASE("conftool values", "[conf][pool]") {
    auto v =
        parse_conftool("/conftool/v1/pools/eqiad/text/nginx/cp1001.eqiad.wmnet", R"({"pooled": "yes", "weight": 10})");
    REQUIRE(v.error.empty());
    REQUIRE(v.entry);
    CHECK(*v.entry == PoolEntry{"cp1001.eqiad.wmnet", 10, true});
    v = parse_conftool("/p/cp1002", R"({"pooled": "no", "weight": 3})");
    REQUIRE(v.entry);
    CHECK_FALSE(v.entry->enabled);
    v = parse_conftool("/p/cp1003", R"({"pooled": "inactive", "weight": 3})");
    CHECK(v.error.empty());
    CHECK_FALSE(v.entry);
    CHECK(parse_conftool("/p/x", R"({"pooled": "maybe"})").error == "/p/x: pooled 'maybe' is not yes, no or inactive");
    CHECK(parse_conftool("/p/x", "garbage").error == "/p/x: the value is not a JSON object");
    CHECK(parse_conftool("/p/x", R"({"pooled": "yes", "weight": -1})").error.find("between 0 and 65535") !=
          std::string::npos);
    CHECK(conftool_host("/a/b/c/") == "c");
}
