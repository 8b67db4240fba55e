// etcd's answers from a hostile or broken etcd: every surprise is a reason,
// never an exception (issue 16: a number where a string is expected, a list
// of numbers where objects are, missing keys, huge values).
#include "control/sources/etcd_answer.h"

#include <catch2/catch.hpp>

#include <string>

using namespace tern::ctl::etcd;

namespace {

const std::string kDir = "/conftool/v1/pools/eqiad/text/nginx";

std::string v2_listing(const std::string& nodes) {
    return R"({"action":"get","node":{"key":")" + kDir + R"(","dir":true,"nodes":)" + nodes + "}}";
}

std::string good_node(const std::string& host, const std::string& value = R"({\"pooled\":\"yes\",\"weight\":10})") {
    return R"({"key":")" + kDir + "/" + host + R"(","value":")" + value + R"(","modifiedIndex":7,"createdIndex":7})";
}

}  // namespace

TEST_CASE("etcd v2 read: a good listing") {
    const V2Read r = parse_v2_read(
        v2_listing("[" + good_node("cp1") + "," + good_node("cp2", R"({\"pooled\":\"no\",\"weight\":3})") + "," +
                   good_node("cp3", R"({\"pooled\":\"inactive\"})") + "]"),
        200, kDir);
    REQUIRE(r.error.empty());
    REQUIRE(r.pool.size() == 2);
    CHECK(r.pool.at("cp1").enabled);
    CHECK(r.pool.at("cp2").weight == 3);
    CHECK_FALSE(r.pool.at("cp2").enabled);
    CHECK(parse_v2_read(R"({"action":"get","node":{"key":"/d","dir":true}})", 200, kDir).error.empty());
}

TEST_CASE("etcd v2 read: hostile answers are reasons, not exceptions") {
    struct Case {
        const char* what;
        std::string body;
        unsigned status;
        const char* says;
    };
    const Case cases[] = {
        {"an error whose message is a number", R"({"errorCode":100,"message":12345})", 404, "HTTP status 404"},
        {"an error whose message is a list", R"({"message":[1,2]})", 500, "HTTP status 500"},
        {"not JSON", "<html>", 200, "not a JSON object"},
        {"a list at the top", "[1,2,3]", 200, "not a JSON object"},
        {"no node", R"({"action":"get"})", 200, "'node' is missing"},
        {"node a number", R"({"node":42})", 200, "'node' must be an object"},
        {"dir a string", R"({"node":{"dir":"yes","nodes":[]}})", 200, "'dir' must be true or false"},
        {"not a directory", R"({"node":{"key":"/d","value":"x"}})", 200, "is a key, not a directory"},
        {"nodes a string", R"({"node":{"dir":true,"nodes":"cp1"}})", 200, "'nodes' must be a list"},
        {"nodes a list of numbers", R"({"node":{"dir":true,"nodes":[1,2,3]}})", 200, "must be an object"},
        {"a child's value a number", v2_listing(R"([{"key":"/d/cp1","value":7}])"), 200, "'value' must be a string"},
        {"a child's value an object", v2_listing(R"([{"key":"/d/cp1","value":{"pooled":"yes"}}])"), 200,
         "'value' must be a string"},
        {"a child's key a number", v2_listing(R"([{"key":17,"value":"{}"}])"), 200, "'key' must be a string"},
        {"a child without a key", v2_listing(R"([{"value":"{}"}])"), 200, "'key' is missing"},
        {"a child without a value", v2_listing(R"([{"key":"/d/cp1"}])"), 200, "'value' is missing"},
        {"a child's dir a number", v2_listing(R"([{"key":"/d/cp1","dir":1}])"), 200, "'dir' must be true or false"},
        {"a huge weight", v2_listing("[" + good_node("cp1", R"({\"pooled\":\"yes\",\"weight\":1e300})") + "]"), 200,
         "'weight' must be an integer"},
        {"a weight beyond 65535",
         v2_listing("[" + good_node("cp1", R"({\"pooled\":\"yes\",\"weight\":18446744073709551615})") + "]"), 200,
         "weight"},
        {"pooled a number", v2_listing("[" + good_node("cp1", R"({\"pooled\":1})") + "]"), 200, "'pooled' must be"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        V2Read r;
        REQUIRE_NOTHROW(r = parse_v2_read(c.body, c.status, kDir));
        CHECK(r.error.find(c.says) != std::string::npos);
        CHECK(r.pool.empty());
    }
}

TEST_CASE("etcd v2 watch: events and hostile answers") {
    const std::string set = R"({"action":"set","node":{"key":")" + kDir +
                            R"(/cp9","value":"{\"pooled\":\"yes\",\"weight\":4}","modifiedIndex":2005}})";
    V2Event e = parse_v2_event(set, 200, 2001);
    REQUIRE(e.kind == V2Event::Kind::set);
    CHECK(e.host == "cp9");
    CHECK(e.entry->weight == 4);
    CHECK(e.next == 2006);
    e = parse_v2_event(R"({"action":"delete","node":{"key":"/d/cp9","modifiedIndex":2007}})", 200, 2006);
    CHECK(e.kind == V2Event::Kind::remove);
    CHECK(e.next == 2008);
    CHECK(parse_v2_event("", 200, 5).kind == V2Event::Kind::idle);
    CHECK(parse_v2_event(R"({"errorCode":401,"message":"outdated"})", 400, 5).kind == V2Event::Kind::outdated);
    CHECK(parse_v2_event(R"({"action":"set","node":{"key":"/d","dir":true,"modifiedIndex":9}})", 200, 5).kind ==
          V2Event::Kind::reread);

    struct Case {
        const char* what;
        const char* body;
        unsigned status;
        V2Event::Kind kind;
        const char* says;
    };
    using K = V2Event::Kind;
    const Case cases[] = {
        {"errorCode a string", R"({"errorCode":"401","message":"x"})", 400, K::failed, "etcd: x"},
        {"not JSON", "garbage", 200, K::failed, "not a JSON object"},
        {"node a list of numbers", R"({"action":"set","node":[1,2]})", 200, K::failed, "'node' must be an object"},
        {"action a number", R"({"action":3,"node":{"key":"/d/a","modifiedIndex":3}})", 200, K::failed,
         "'action' must be a string"},
        {"no action", R"({"node":{"key":"/d/a","modifiedIndex":3}})", 200, K::failed, "'action' is missing"},
        {"modifiedIndex a string", R"({"action":"set","node":{"key":"/d/a","modifiedIndex":"x"}})", 200, K::failed,
         "'modifiedIndex'"},
        {"modifiedIndex negative", R"({"action":"set","node":{"key":"/d/a","modifiedIndex":-1}})", 200, K::failed,
         "'modifiedIndex'"},
        {"modifiedIndex huge", R"({"action":"set","node":{"key":"/d/a","modifiedIndex":18446744073709551615}})", 200,
         K::failed, "below 2^63"},
        {"no modifiedIndex", R"({"action":"set","node":{"key":"/d/a","value":"{}"}})", 200, K::failed,
         "'modifiedIndex' is missing"},
        {"key a number", R"({"action":"set","node":{"key":1,"modifiedIndex":3,"value":"{}"}})", 200, K::failed,
         "'key' must be a string"},
        {"value a number", R"({"action":"set","node":{"key":"/d/a","modifiedIndex":3,"value":5}})", 200, K::bad,
         "'value' must be a string"},
        {"value not conftool's", R"({"action":"set","node":{"key":"/d/a","modifiedIndex":3,"value":"[1]"}})", 200,
         K::bad, "not a JSON object"},
        {"an empty key", R"({"action":"set","node":{"key":"/","modifiedIndex":3,"value":"{}"}})", 200, K::bad,
         "no host"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        V2Event ev;
        REQUIRE_NOTHROW(ev = parse_v2_event(c.body, c.status, 3));
        CHECK(ev.kind == c.kind);
        CHECK(ev.error.find(c.says) != std::string::npos);
    }
    // A bad value still moves the index on: the next wait does not see it again.
    CHECK(parse_v2_event(R"({"action":"set","node":{"key":"/d/a","modifiedIndex":30,"value":5}})", 200, 3).next == 31);
    CHECK(parse_index("2000") == 2000u);
    CHECK_FALSE(parse_index("-1"));
    CHECK_FALSE(parse_index("12x"));
    CHECK_FALSE(parse_index("99999999999999999999"));
    CHECK_FALSE(parse_index(""));
}

TEST_CASE("etcd v3: base64 both ways, strictly") {
    for (const std::string& s : std::initializer_list<std::string>{"", "a", "ab", "abc", "abcd",
                                                                   "/conftool/v1/pools/x/", std::string("\0\xff", 2)}) {
        CHECK(unbase64(base64(s)) == s);
    }
    CHECK(base64("/conftool/") == "L2NvbmZ0b29sLw==");
    CHECK_FALSE(unbase64("abc"));   // not a multiple of 4
    CHECK_FALSE(unbase64("ab!d"));  // not the alphabet
    CHECK_FALSE(unbase64("a=bc"));
    CHECK_FALSE(unbase64("ab==abcd"));  // padding inside
}

TEST_CASE("etcd v3 range: a good answer and hostile ones") {
    const std::string k1 = base64(kDir + "/cp1"), v1 = base64(R"({"pooled":"yes","weight":2})");
    const V3Range good = parse_v3_range(
        R"({"header":{"revision":"41"},"kvs":[{"key":")" + k1 + R"(","value":")" + v1 + R"(","mod_revision":"40"}]})",
        200);
    REQUIRE(good.error.empty());
    CHECK(good.revision == 41);
    CHECK(good.pool.at("cp1").weight == 2);
    const V3Range empty = parse_v3_range(R"({"header":{"revision":"41"}})", 200);
    CHECK(empty.error.empty());
    CHECK(empty.pool.empty());

    struct Case {
        const char* what;
        std::string body;
        const char* says;
    };
    const Case cases[] = {
        {"no header", R"({"kvs":[]})", "'header' is missing"},
        {"header a list", R"({"header":[1]})", "'header' must be an object"},
        {"revision an object", R"({"header":{"revision":{}}})", "'revision'"},
        {"revision not digits", R"({"header":{"revision":"12a"}})", "'revision'"},
        {"revision huge", R"({"header":{"revision":"999999999999999999999999"}})", "'revision'"},
        {"kvs a number", R"({"header":{"revision":"1"},"kvs":5})", "'kvs' must be a list"},
        {"kvs a list of numbers", R"({"header":{"revision":"1"},"kvs":[1,2]})", "must be an object"},
        {"key a number", R"({"header":{"revision":"1"},"kvs":[{"key":1}]})", "'key' must be a string"},
        {"key not base64", R"({"header":{"revision":"1"},"kvs":[{"key":"***"}]})", "not base64"},
        {"no key", R"({"header":{"revision":"1"},"kvs":[{"value":")" + v1 + "\"}]}", "'key' is missing"},
        {"value a list", R"({"header":{"revision":"1"},"kvs":[{"key":")" + k1 + R"(","value":[1]}]})",
         "'value' must be a string"},
        {"value not conftool's",
         R"({"header":{"revision":"1"},"kvs":[{"key":")" + k1 + R"(","value":")" + base64("17") + "\"}]}",
         "not a JSON object"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        V3Range r;
        REQUIRE_NOTHROW(r = parse_v3_range(c.body, 200));
        CHECK(r.error.find(c.says) != std::string::npos);
        CHECK(r.pool.empty());
    }
    CHECK(parse_v3_range(R"({"message":5})", 503).error.find("503") != std::string::npos);
}

TEST_CASE("etcd reads: an answer rejected after good entries keeps none of them") {
    // Found by test/fuzz (etcd): the entries before the bad one stayed in the pool.
    const V2Read v2 =
        parse_v2_read(v2_listing("[" + good_node("cp1") + R"(,{"key":")" + kDir + R"(/cp2"}])"), 200, kDir);
    CHECK(v2.error.find("'value' is missing") != std::string::npos);
    CHECK(v2.pool.empty());
    const std::string k1 = base64(kDir + "/cp1"), v1 = base64(R"({"pooled":"yes","weight":2})");
    const V3Range v3 = parse_v3_range(
        R"({"header":{"revision":"41"},"kvs":[{"key":")" + k1 + R"(","value":")" + v1 + R"("},{"key":"***"}]})", 200);
    CHECK(v3.error.find("not base64") != std::string::npos);
    CHECK(v3.pool.empty());
    // The same for a watch message: a good event, then one that fails the message.
    const V3Message m = parse_v3_message(R"({"result":{"events":[{"kv":{"key":")" + k1 + R"(","value":")" + v1 +
                                         R"(","mod_revision":"42"}},{"type":"DELETE","kv":{"key":"***"}}]}})");
    CHECK(m.kind == V3Message::Kind::failed);
    CHECK(m.error.find("not base64") != std::string::npos);
    CHECK(m.changes.empty());
    CHECK(m.revision == 0);
}

TEST_CASE("etcd v3 watch messages: events and hostile ones") {
    const std::string k = base64(kDir + "/cp7"), v = base64(R"({"pooled":"no","weight":5})");
    V3Message m = parse_v3_message(R"({"result":{"header":{"revision":"50"},"events":[{"kv":{"key":")" + k +
                                   R"(","value":")" + v + R"(","mod_revision":"49"}},{"type":"DELETE","kv":{"key":")" +
                                   base64(kDir + "/cp8") + R"(","mod_revision":"50"}}]}})");
    REQUIRE(m.kind == V3Message::Kind::events);
    REQUIRE(m.changes.size() == 2);
    CHECK(m.changes[0].host == "cp7");
    CHECK_FALSE(m.changes[0].entry->enabled);
    CHECK(m.changes[1].host == "cp8");
    CHECK_FALSE(m.changes[1].entry);
    CHECK(m.revision == 50);
    CHECK(parse_v3_message(R"({"result":{"header":{"revision":"3"},"created":true}})").kind == V3Message::Kind::events);
    CHECK(parse_v3_message(R"({"result":{"canceled":true,"compact_revision":"7"}})").kind ==
          V3Message::Kind::compacted);
    // A bad value is skipped with its reason; the good events of the message apply.
    m = parse_v3_message(R"({"result":{"events":[{"kv":{"key":")" + k + R"(","value":")" + base64("x") +
                         R"(","mod_revision":"60"}}]}})");
    CHECK(m.kind == V3Message::Kind::events);
    CHECK(m.changes.empty());
    REQUIRE(m.errors.size() == 1);
    CHECK(m.revision == 60);

    struct Case {
        const char* what;
        std::string text;
        const char* says;
    };
    const Case cases[] = {
        {"not JSON", "{\"result\":", "not a JSON object"},
        {"a number", "17", "not a JSON object"},
        {"an error", R"({"error":{"grpc_code":14,"message":"unavailable"}})", "unavailable"},
        {"result a string", R"({"result":"x"})", "'result' must be an object"},
        {"canceled a string", R"({"result":{"canceled":"true"}})", "'canceled' must be true or false"},
        {"canceled without compaction", R"({"result":{"canceled":true}})", "canceled"},
        {"events an object", R"({"result":{"events":{}}})", "'events' must be a list"},
        {"events a list of numbers", R"({"result":{"events":[1,2,3]}})", "an event must be an object"},
        {"type a number", R"({"result":{"events":[{"type":1,"kv":{}}]}})", "'type' must be a string"},
        {"type unknown", R"({"result":{"events":[{"type":"MOVE","kv":{}}]}})", "neither PUT nor DELETE"},
        {"no kv", R"({"result":{"events":[{"type":"PUT"}]}})", "'kv' is missing"},
        {"kv a list", R"({"result":{"events":[{"kv":[1]}]}})", "'kv' must be an object"},
        {"key a number", R"({"result":{"events":[{"kv":{"key":5,"mod_revision":"1"}}]}})", "'key' must be a string"},
        {"mod_revision a list", R"({"result":{"events":[{"kv":{"key":")" + k + R"(","mod_revision":[1]}}]}})",
         "'mod_revision'"},
        {"no mod_revision", R"({"result":{"events":[{"kv":{"key":")" + k + R"("}}]}})", "'mod_revision' is missing"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        V3Message r;
        REQUIRE_NOTHROW(r = parse_v3_message(c.text));
        CHECK(r.kind == V3Message::Kind::failed);
        CHECK(r.error.find(c.says) != std::string::npos);
        CHECK(r.changes.empty());
    }
}
