#include "control/sources/etcd_answer.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

namespace tern::ctl::etcd {
namespace {

using json = nlohmann::json;

// A value from the network, shortened for a log line.
std::string shown(const json& v) {
    std::string s = v.dump();
    if (s.size() > 80) s = s.substr(0, 77) + "...";
    return s;
}

const char* type_of(const json& v) {
    if (v.is_null()) return "null";
    if (v.is_boolean()) return "a boolean";
    if (v.is_number()) return "a number";
    if (v.is_string()) return "a string";
    if (v.is_array()) return "a list";
    return "an object";
}

// The member `key` of `obj` (an object), or an error naming what was found.
const json* member(const json& obj, const char* key, std::string& error, const char* where) {
    auto it = obj.find(key);
    if (it == obj.end()) {
        error = fmt::format("{}: '{}' is missing", where, key);
        return nullptr;
    }
    return &*it;
}

bool want_string(const json& v, const char* key, const char* where, std::string& out, std::string& error) {
    if (!v.is_string()) {
        error = fmt::format("{}: '{}' must be a string, not {} ({})", where, key, type_of(v), shown(v));
        return false;
    }
    out = v.get<std::string>();
    return true;
}

bool want_bool(const json& obj, const char* key, const char* where, bool& out, std::string& error) {
    auto it = obj.find(key);
    if (it == obj.end()) return true;  // absent: the default
    if (!it->is_boolean()) {
        error = fmt::format("{}: '{}' must be true or false, not {} ({})", where, key, type_of(*it), shown(*it));
        return false;
    }
    out = it->get<bool>();
    return true;
}

std::optional<uint64_t> digits(std::string_view s) {
    uint64_t v = 0;
    if (s.empty()) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

// etcd's counters: a JSON number (v2) or a decimal string (v3's gateway
// writes int64 as strings). Below 2^63, so that +1 never wraps.
bool want_counter(const json& v, const char* key, const char* where, uint64_t& out, std::string& error) {
    std::optional<uint64_t> n;
    if (v.is_number_unsigned()) {
        n = v.get<uint64_t>();
    } else if (v.is_number_integer() && v.get<int64_t>() >= 0) {
        n = static_cast<uint64_t>(v.get<int64_t>());
    } else if (v.is_string()) {
        n = digits(v.get<std::string>());
    }
    if (!n || *n >= (uint64_t{1} << 63)) {
        error = fmt::format("{}: '{}' must be a counter below 2^63, not {}", where, key, shown(v));
        return false;
    }
    out = *n;
    return true;
}

std::string status_error(const json& j, unsigned status, const char* what, const std::string& dir) {
    if (j.is_object()) {
        auto m = j.find("message");
        if (m != j.end() && m->is_string()) {
            std::string msg = m->get<std::string>();
            if (msg.size() > 200) msg = msg.substr(0, 200) + "...";
            return fmt::format("etcd: {} ({})", msg, dir);
        }
    }
    return fmt::format("{}: HTTP status {}", what, status);
}

// One key and value of the pool: the host and its entry, or an error.
struct KeyValue {
    std::string host;
    conf::ConftoolValue value;
};
KeyValue conftool(const std::string& key, std::string_view value) {
    KeyValue kv;
    kv.host = conf::conftool_host(key);
    kv.value = conf::parse_conftool(key, value);
    return kv;
}

constexpr int8_t kNotB64 = -1;
constexpr int8_t kPad = -2;
int8_t b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return static_cast<int8_t>(c - 'A');
    if (c >= 'a' && c <= 'z') return static_cast<int8_t>(c - 'a' + 26);
    if (c >= '0' && c <= '9') return static_cast<int8_t>(c - '0' + 52);
    if (c == '+') return 62;
    if (c == '/') return 63;
    if (c == '=') return kPad;
    return kNotB64;
}

// A base64 field of a v3 key-value (absent: "").
bool want_b64(const json& obj, const char* key, const char* where, std::string& out, std::string& error) {
    out.clear();
    auto it = obj.find(key);
    if (it == obj.end()) return true;
    std::string text;
    if (!want_string(*it, key, where, text, error)) return false;
    auto d = unbase64(text);
    if (!d) {
        error = fmt::format("{}: '{}' is not base64 ({})", where, key, shown(*it));
        return false;
    }
    out = std::move(*d);
    return true;
}

}  // namespace

std::string base64(std::string_view s) {
    static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((s.size() + 2) / 3 * 4);
    for (size_t i = 0; i < s.size(); i += 3) {
        const uint32_t b0 = static_cast<unsigned char>(s[i]);
        const uint32_t b1 = i + 1 < s.size() ? static_cast<unsigned char>(s[i + 1]) : 0;
        const uint32_t b2 = i + 2 < s.size() ? static_cast<unsigned char>(s[i + 2]) : 0;
        const uint32_t v = b0 << 16 | b1 << 8 | b2;
        out += kAlphabet[v >> 18 & 63];
        out += kAlphabet[v >> 12 & 63];
        out += i + 1 < s.size() ? kAlphabet[v >> 6 & 63] : '=';
        out += i + 2 < s.size() ? kAlphabet[v & 63] : '=';
    }
    return out;
}

std::optional<std::string> unbase64(std::string_view s) {
    if (s.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(s.size() / 4 * 3);
    for (size_t i = 0; i < s.size(); i += 4) {
        int8_t v[4];
        for (int k = 0; k < 4; ++k) v[k] = b64_value(s[i + k]);
        const bool last = i + 4 == s.size();
        if (v[0] < 0 || v[1] < 0) return std::nullopt;
        if (v[2] == kNotB64 || v[3] == kNotB64) return std::nullopt;
        if ((v[2] == kPad || v[3] == kPad) && !last) return std::nullopt;
        if (v[2] == kPad && v[3] != kPad) return std::nullopt;
        const uint32_t n = static_cast<uint32_t>(v[0]) << 18 | static_cast<uint32_t>(v[1]) << 12 |
                           (v[2] < 0 ? 0u : static_cast<uint32_t>(v[2]) << 6) | (v[3] < 0 ? 0u : uint32_t(v[3]));
        out += static_cast<char>(n >> 16 & 0xff);
        if (v[2] >= 0) out += static_cast<char>(n >> 8 & 0xff);
        if (v[3] >= 0) out += static_cast<char>(n & 0xff);
    }
    return out;
}

V2Read parse_v2_read(std::string_view body, unsigned status, const std::string& dir) {
    V2Read r;
    const json j = json::parse(body, nullptr, false);
    if (status != 200) {
        r.error = status_error(j, status, "etcd read", dir);
        return r;
    }
    constexpr const char* kWhere = "etcd's answer";
    if (j.is_discarded() || !j.is_object()) {
        r.error = "etcd's answer is not a JSON object";
        return r;
    }
    const json* node = member(j, "node", r.error, kWhere);
    if (node == nullptr) return r;
    if (!node->is_object()) {
        r.error = fmt::format("{}: 'node' must be an object, not {}", kWhere, type_of(*node));
        return r;
    }
    bool is_dir = false;
    if (!want_bool(*node, "dir", "etcd's node", is_dir, r.error)) return r;
    if (!is_dir) {
        r.error = fmt::format("{} is a key, not a directory", dir);
        return r;
    }
    auto nodes = node->find("nodes");
    if (nodes == node->end()) return r;  // an empty directory
    if (!nodes->is_array()) {
        r.error = fmt::format("etcd's node: 'nodes' must be a list, not {} ({})", type_of(*nodes), shown(*nodes));
        return r;
    }
    // Filled apart and kept only when every entry is good: a rejected answer has no pool.
    Entries pool;
    for (const auto& child : *nodes) {
        if (!child.is_object()) {
            r.error =
                fmt::format("etcd's nodes: an entry must be an object, not {} ({})", type_of(child), shown(child));
            return r;
        }
        bool child_dir = false;
        if (!want_bool(child, "dir", "etcd's nodes", child_dir, r.error)) return r;
        if (child_dir) continue;
        std::string key, value;
        const json* k = member(child, "key", r.error, "etcd's nodes");
        if (k == nullptr || !want_string(*k, "key", "etcd's nodes", key, r.error)) return r;
        const json* v = member(child, "value", r.error, fmt::format("etcd's node {}", key).c_str());
        if (v == nullptr || !want_string(*v, "value", key.c_str(), value, r.error)) return r;
        const KeyValue kv = conftool(key, value);
        if (!kv.value.error.empty()) {
            r.error = kv.value.error;
            return r;
        }
        if (kv.value.entry) pool[kv.host] = *kv.value.entry;
    }
    r.pool = std::move(pool);
    return r;
}

V2Event parse_v2_event(std::string_view body, unsigned status, uint64_t index) {
    V2Event e;
    e.next = index;
    if (status == 200 && body.empty()) {
        e.kind = V2Event::Kind::idle;
        return e;
    }
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        e.error = status == 200 ? "etcd watch: the answer is not a JSON object"
                                : fmt::format("etcd watch: HTTP status {}", status);
        return e;
    }
    if (status == 400) {
        auto code = j.find("errorCode");
        if (code != j.end() && code->is_number_integer() && code->get<int64_t>() == 401) {
            e.kind = V2Event::Kind::outdated;
            return e;
        }
    }
    if (status != 200) {
        e.error = status_error(j, status, "etcd watch", "");
        return e;
    }
    constexpr const char* kWhere = "etcd watch";
    const json* node = member(j, "node", e.error, kWhere);
    if (node == nullptr) return e;
    if (!node->is_object()) {
        e.error = fmt::format("{}: 'node' must be an object, not {} ({})", kWhere, type_of(*node), shown(*node));
        return e;
    }
    std::string action;
    if (const json* a = member(j, "action", e.error, kWhere);
        a == nullptr || !want_string(*a, "action", kWhere, action, e.error))
        return e;
    uint64_t modified = 0;
    if (const json* m = member(*node, "modifiedIndex", e.error, kWhere);
        m == nullptr || !want_counter(*m, "modifiedIndex", kWhere, modified, e.error))
        return e;
    bool is_dir = false;
    if (!want_bool(*node, "dir", kWhere, is_dir, e.error)) return e;
    // Waiting from before `index` would see the same event again: never go back.
    e.next = std::max(modified, index == 0 ? 0 : index - 1) + 1;
    if (is_dir) {
        e.kind = V2Event::Kind::reread;
        return e;
    }
    std::string key;
    if (const json* k = member(*node, "key", e.error, kWhere);
        k == nullptr || !want_string(*k, "key", kWhere, key, e.error))
        return e;
    e.host = conf::conftool_host(key);
    if (e.host.empty()) {
        e.kind = V2Event::Kind::bad;
        e.error = fmt::format("{}: no host in the key", key);
        return e;
    }
    auto value = node->find("value");
    if (action == "delete" || action == "expire" || action == "compareAndDelete" || value == node->end()) {
        e.kind = V2Event::Kind::remove;
        return e;
    }
    if (!value->is_string()) {
        e.kind = V2Event::Kind::bad;
        e.error = fmt::format("{}: 'value' must be a string, not {} ({})", key, type_of(*value), shown(*value));
        return e;
    }
    const KeyValue kv = conftool(key, value->get<std::string>());
    if (!kv.value.error.empty()) {
        e.kind = V2Event::Kind::bad;
        e.error = kv.value.error;
        return e;
    }
    e.kind = V2Event::Kind::set;
    e.entry = kv.value.entry;
    return e;
}

V3Range parse_v3_range(std::string_view body, unsigned status) {
    V3Range r;
    const json j = json::parse(body, nullptr, false);
    if (status != 200) {
        r.error = status_error(j, status, "etcd range", "");
        return r;
    }
    constexpr const char* kWhere = "etcd range";
    if (j.is_discarded() || !j.is_object()) {
        r.error = "etcd range: the answer is not a JSON object";
        return r;
    }
    const json* header = member(j, "header", r.error, kWhere);
    if (header == nullptr) return r;
    if (!header->is_object()) {
        r.error = fmt::format("{}: 'header' must be an object, not {} ({})", kWhere, type_of(*header), shown(*header));
        return r;
    }
    const json* rev = member(*header, "revision", r.error, kWhere);
    if (rev == nullptr || !want_counter(*rev, "revision", kWhere, r.revision, r.error)) return r;
    auto kvs = j.find("kvs");
    if (kvs == j.end()) return r;  // etcd leaves out an empty list
    if (!kvs->is_array()) {
        r.error = fmt::format("{}: 'kvs' must be a list, not {} ({})", kWhere, type_of(*kvs), shown(*kvs));
        return r;
    }
    Entries pool;  // kept only when every entry is good, as in parse_v2_read
    for (const auto& kv : *kvs) {
        if (!kv.is_object()) {
            r.error =
                fmt::format("{}: an entry of 'kvs' must be an object, not {} ({})", kWhere, type_of(kv), shown(kv));
            return r;
        }
        std::string key, value;
        if (member(kv, "key", r.error, kWhere) == nullptr || !want_b64(kv, "key", kWhere, key, r.error)) return r;
        if (!want_b64(kv, "value", kWhere, value, r.error)) return r;
        const KeyValue p = conftool(key, value);
        if (!p.value.error.empty()) {
            r.error = p.value.error;
            return r;
        }
        if (p.value.entry) pool[p.host] = *p.value.entry;
    }
    r.pool = std::move(pool);
    return r;
}

namespace {

V3Message read_v3_message(std::string_view text) {
    V3Message m;
    constexpr const char* kWhere = "etcd watch";
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        m.error = "etcd watch: a message is not a JSON object";
        return m;
    }
    if (auto err = j.find("error"); err != j.end()) {
        m.error = fmt::format("etcd watch: {}", shown(*err));
        return m;
    }
    const json* r = &j;
    if (auto res = j.find("result"); res != j.end()) {
        if (!res->is_object()) {
            m.error = fmt::format("{}: 'result' must be an object, not {} ({})", kWhere, type_of(*res), shown(*res));
            return m;
        }
        r = &*res;
    }
    bool canceled = false;
    if (!want_bool(*r, "canceled", kWhere, canceled, m.error)) return m;
    if (canceled) {
        if (r->contains("compact_revision")) {
            m.kind = V3Message::Kind::compacted;
        } else {
            m.error = "etcd canceled the watch";
        }
        return m;
    }
    auto events = r->find("events");
    if (events != r->end() && !events->is_array()) {
        m.error = fmt::format("{}: 'events' must be a list, not {} ({})", kWhere, type_of(*events), shown(*events));
        return m;
    }
    if (events != r->end()) {
        for (const auto& ev : *events) {
            if (!ev.is_object()) {
                m.error = fmt::format("{}: an event must be an object, not {} ({})", kWhere, type_of(ev), shown(ev));
                return m;
            }
            std::string type = "PUT";  // the gateway leaves out the default
            if (auto t = ev.find("type"); t != ev.end() && !want_string(*t, "type", kWhere, type, m.error)) return m;
            if (type != "PUT" && type != "DELETE") {
                m.error = fmt::format("{}: event type '{}' is neither PUT nor DELETE", kWhere, type.substr(0, 40));
                return m;
            }
            const json* kv = member(ev, "kv", m.error, kWhere);
            if (kv == nullptr) return m;
            if (!kv->is_object()) {
                m.error = fmt::format("{}: 'kv' must be an object, not {} ({})", kWhere, type_of(*kv), shown(*kv));
                return m;
            }
            std::string key, value;
            if (member(*kv, "key", m.error, kWhere) == nullptr || !want_b64(*kv, "key", kWhere, key, m.error)) return m;
            if (!want_b64(*kv, "value", kWhere, value, m.error)) return m;
            uint64_t rev = 0;
            if (const json* mr = member(*kv, "mod_revision", m.error, kWhere);
                mr == nullptr || !want_counter(*mr, "mod_revision", kWhere, rev, m.error))
                return m;
            m.revision = std::max(m.revision, rev);
            V3Change c;
            c.host = conf::conftool_host(key);
            if (c.host.empty()) {
                m.errors.push_back(fmt::format("{}: no host in the key", key));
                continue;
            }
            if (type == "PUT") {
                const KeyValue p = conftool(key, value);
                if (!p.value.error.empty()) {
                    m.errors.push_back(p.value.error);
                    continue;
                }
                c.entry = p.value.entry;
            }
            m.changes.push_back(std::move(c));
        }
    }
    m.kind = V3Message::Kind::events;
    return m;
}

}  // namespace

V3Message parse_v3_message(std::string_view text) {
    V3Message m = read_v3_message(text);
    if (m.kind == V3Message::Kind::failed) {
        // Rejected whole: nothing of the events read before the bad one.
        m.changes.clear();
        m.errors.clear();
        m.revision = 0;
    }
    return m;
}

std::optional<uint64_t> parse_index(std::string_view text) {
    auto n = digits(text);
    if (!n || *n >= (uint64_t{1} << 63)) return std::nullopt;
    return n;
}

}  // namespace tern::ctl::etcd
