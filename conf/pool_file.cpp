#include "conf/pool_file.h"

#include <fmt/format.h>

#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace tern::conf {
namespace {

// A Python literal as PyBal's lines use them: a dict of strings, ints and
// booleans (ast.literal_eval accepts more; pool files never need it).
struct Value {
    enum Kind { string, integer, boolean, none } kind = none;
    std::string s;
    int64_t i = 0;
    bool b = false;
};

class LineParser {
public:
    explicit LineParser(std::string_view text) : t_(text) {}

    // The dict, or an error.
    std::optional<std::map<std::string, Value>> dict(std::string& error) {
        skip();
        if (!eat('{')) return fail(error, "expected '{'");
        std::map<std::string, Value> out;
        skip();
        if (eat('}')) return finish(out, error);
        for (;;) {
            skip();
            Value key;
            if (!value(key, error)) return std::nullopt;
            if (key.kind != Value::string) return fail(error, "a key must be a quoted string");
            skip();
            if (!eat(':')) return fail(error, fmt::format("expected ':' after '{}'", key.s));
            skip();
            Value v;
            if (!value(v, error)) return std::nullopt;
            if (!out.emplace(key.s, v).second) return fail(error, fmt::format("key '{}' given twice", key.s));
            skip();
            if (eat('}')) return finish(out, error);
            if (!eat(',')) return fail(error, "expected ',' or '}'");
            skip();
            if (eat('}')) return finish(out, error);  // a trailing comma, as Python allows
        }
    }

private:
    std::optional<std::map<std::string, Value>> finish(std::map<std::string, Value>& out, std::string& error) {
        skip();
        if (p_ != t_.size()) return fail(error, "unexpected text after '}'");
        return out;
    }
    std::nullopt_t fail(std::string& error, std::string what) {
        error = fmt::format("column {}: {}", p_ + 1, what);
        return std::nullopt;
    }
    bool bad(std::string& error, std::string what) {
        fail(error, std::move(what));
        return false;
    }
    void skip() {
        while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\t' || t_[p_] == '\r')) ++p_;
    }
    bool eat(char c) {
        if (p_ < t_.size() && t_[p_] == c) {
            ++p_;
            return true;
        }
        return false;
    }
    bool word(std::string_view w) {
        if (t_.substr(p_, w.size()) != w) return false;
        const size_t end = p_ + w.size();
        if (end < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[end])) || t_[end] == '_')) return false;
        p_ = end;
        return true;
    }
    bool value(Value& v, std::string& error) {
        if (p_ >= t_.size()) return bad(error, "unexpected end of line");
        const char c = t_[p_];
        if (c == '\'' || c == '"') {
            ++p_;
            v.kind = Value::string;
            while (p_ < t_.size() && t_[p_] != c) {
                if (t_[p_] == '\\' && p_ + 1 < t_.size()) ++p_;
                v.s += t_[p_++];
            }
            if (!eat(c)) return bad(error, "unterminated string");
            return true;
        }
        if (word("True")) {
            v.kind = Value::boolean;
            v.b = true;
            return true;
        }
        if (word("False")) {
            v.kind = Value::boolean;
            v.b = false;
            return true;
        }
        if (word("None")) {
            v.kind = Value::none;
            return true;
        }
        if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
            size_t q = p_ + (c == '-');
            if (q >= t_.size() || !std::isdigit(static_cast<unsigned char>(t_[q]))) return bad(error, "bad number");
            int64_t n = 0;
            while (q < t_.size() && std::isdigit(static_cast<unsigned char>(t_[q]))) {
                if (n > 1'000'000'000'000) return bad(error, "number too large");
                n = n * 10 + (t_[q++] - '0');
            }
            v.kind = Value::integer;
            v.i = c == '-' ? -n : n;
            p_ = q;
            return true;
        }
        return bad(error, fmt::format("unexpected '{}'", c));
    }

    std::string_view t_;
    size_t p_ = 0;
};

std::string check_weight(int64_t w, uint32_t& out) {
    if (w < 0 || w > 65535) return fmt::format("weight {} is not between 0 and 65535", w);
    out = static_cast<uint32_t>(w);
    return "";
}

PoolParse parse_legacy(std::string_view text) {
    PoolParse r;
    std::set<std::string> seen;
    size_t line_no = 0;
    for (size_t start = 0; start <= text.size();) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(start, end - start);
        start = end + 1;
        ++line_no;
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
        if (line.empty() || line.front() == '#') {
            if (end == text.size()) break;
            continue;
        }
        std::string err;
        LineParser p(line);
        auto d = p.dict(err);
        auto bad = [&](const std::string& what) { r.errors.push_back(fmt::format("line {}: {}", line_no, what)); };
        if (!d) {
            bad(err);
        } else {
            PoolEntry e;
            auto host = d->find("host");
            auto weight = d->find("weight");
            auto enabled = d->find("enabled");
            if (host == d->end() || host->second.kind != Value::string || host->second.s.empty()) {
                bad("'host' must be a non-empty string");
            } else if (weight == d->end() || weight->second.kind != Value::integer) {
                bad(fmt::format("{}: 'weight' must be an integer", host->second.s));
            } else if (enabled == d->end() || enabled->second.kind != Value::boolean) {
                bad(fmt::format("{}: 'enabled' must be True or False", host->second.s));
            } else if (auto werr = check_weight(weight->second.i, e.weight); !werr.empty()) {
                bad(fmt::format("{}: {}", host->second.s, werr));
            } else if (!seen.insert(host->second.s).second) {
                bad(fmt::format("host '{}' listed twice", host->second.s));
            } else {
                e.host = host->second.s;
                e.enabled = enabled->second.b;
                r.entries.push_back(e);
            }
        }
        if (end == text.size()) break;
    }
    return r;
}

PoolParse parse_json(std::string_view text) {
    PoolParse r;
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        r.errors.push_back("not valid JSON");
        return r;
    }
    if (!j.is_object()) {
        r.errors.push_back("must be a JSON object of host -> {\"enabled\": ..., \"weight\": ...}");
        return r;
    }
    for (const auto& [host, v] : j.items()) {
        PoolEntry e;
        e.host = host;
        if (host.empty() || !v.is_object()) {
            r.errors.push_back(fmt::format("'{}': must be an object with enabled and weight", host));
            continue;
        }
        if (v.contains("weight")) {
            if (!v["weight"].is_number_integer()) {
                r.errors.push_back(fmt::format("{}: 'weight' must be an integer", host));
                continue;
            }
            if (auto werr = check_weight(v["weight"].get<int64_t>(), e.weight); !werr.empty()) {
                r.errors.push_back(fmt::format("{}: {}", host, werr));
                continue;
            }
        }
        if (v.contains("enabled")) {
            if (!v["enabled"].is_boolean()) {
                r.errors.push_back(fmt::format("{}: 'enabled' must be true or false", host));
                continue;
            }
            e.enabled = v["enabled"].get<bool>();
        }
        r.entries.push_back(e);
    }
    return r;
}

}  // namespace

PoolParse parse_pool_file(std::string_view text, bool json) { return json ? parse_json(text) : parse_legacy(text); }

std::string conftool_host(std::string_view key) {
    while (!key.empty() && key.back() == '/') key.remove_suffix(1);
    const size_t slash = key.rfind('/');
    return std::string(slash == std::string_view::npos ? key : key.substr(slash + 1));
}

ConftoolValue parse_conftool(const std::string& key, std::string_view value) {
    ConftoolValue r;
    nlohmann::json j = nlohmann::json::parse(value, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        r.error = fmt::format("{}: the value is not a JSON object", key);
        return r;
    }
    PoolEntry e;
    e.host = conftool_host(key);
    if (e.host.empty()) {
        r.error = fmt::format("{}: no host in the key", key);
        return r;
    }
    if (!j.contains("pooled") || !j["pooled"].is_string()) {
        r.error = fmt::format("{}: 'pooled' must be \"yes\", \"no\" or \"inactive\"", key);
        return r;
    }
    const std::string pooled = j["pooled"].get<std::string>();
    if (pooled == "inactive") return r;  // not in the pool
    if (pooled != "yes" && pooled != "no") {
        r.error = fmt::format("{}: pooled '{}' is not yes, no or inactive", key, pooled);
        return r;
    }
    e.enabled = pooled == "yes";
    if (j.contains("weight")) {
        if (!j["weight"].is_number_integer()) {
            r.error = fmt::format("{}: 'weight' must be an integer", key);
            return r;
        }
        if (auto werr = check_weight(j["weight"].get<int64_t>(), e.weight); !werr.empty()) {
            r.error = fmt::format("{}: {}", key, werr);
            return r;
        }
    }
    r.entry = e;
    return r;
}

}  // namespace tern::conf
