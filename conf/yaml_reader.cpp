#include "conf/yaml_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

namespace tern::conf {
namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

const char* type_name(const YAML::Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Map: return "a map";
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Null: return "empty";
        case YAML::NodeType::Scalar: return "a scalar";
        default: return "undefined";
    }
}

}  // namespace

std::string join_path(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index_path(const std::string& path, size_t i) { return fmt::format("{}[{}]", path, i); }

Mark YamlReader::mark(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.is_null()) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
}

void YamlReader::error(const YAML::Node& at, const std::string& path, std::string message) {
    const Mark m = mark(at);
    errors_.push_back({m.file, m.line, m.column, path, std::move(message)});
}

bool YamlReader::is_map(const YAML::Node& n, const std::string& path) {
    if (n.IsMap()) return true;
    error(n, path, fmt::format("must be a map of keys, not {}", type_name(n)));
    return false;
}

bool YamlReader::is_list(const YAML::Node& n, const std::string& path) {
    if (n.IsSequence()) return true;
    error(n, path, fmt::format("must be a list, not {}", type_name(n)));
    return false;
}

void YamlReader::known_keys(const YAML::Node& n, const std::string& path,
                            std::initializer_list<std::string_view> allowed) {
    known_keys(n, path, std::vector<std::string_view>(allowed));
}

void YamlReader::known_keys(const YAML::Node& n, const std::string& path,
                            const std::vector<std::string_view>& allowed) {
    for (const auto& kv : n) {
        if (!kv.first.IsScalar()) {
            error(kv.first, path, "keys must be plain names");
            continue;
        }
        if (std::find(allowed.begin(), allowed.end(), kv.first.Scalar()) != allowed.end()) continue;
        unknown_key(kv.first, path, allowed);
    }
}

void YamlReader::duplicate_keys(const YAML::Node& map, const std::string& path) {
    std::set<std::string> seen;
    for (const auto& kv : map) {
        if (!kv.first.IsScalar()) continue;
        if (!seen.insert(kv.first.Scalar()).second) {
            error(kv.first, join_path(path, kv.first.Scalar()), "key given twice");
        }
    }
}

void YamlReader::unknown_key(const YAML::Node& k, const std::string& path,
                             const std::vector<std::string_view>& allowed) {
    const std::string key = k.Scalar();
    std::string_view best;
    size_t best_d = 3;
    for (auto a : allowed) {
        const size_t d = edit_distance(key, a);
        if (d < best_d) {
            best_d = d;
            best = a;
        }
    }
    std::string msg = fmt::format("unknown key '{}'", key);
    if (!best.empty()) msg += fmt::format(" (did you mean '{}'?)", best);
    else msg += fmt::format("; known keys here: {}", fmt::join(allowed, ", "));
    error(k, join_path(path, key), msg);
}

std::optional<YAML::Node> YamlReader::scalar(const YAML::Node& map, const std::string& path, const char* key,
                                             bool required, const char* what) {
    const YAML::Node v = map[key];
    if (!v.IsDefined()) {
        if (required) error(map, join_path(path, key), fmt::format("missing required key '{}'", key));
        return std::nullopt;
    }
    if (!v.IsScalar()) {
        error(v, join_path(path, key), fmt::format("must be {}, not {}", what, type_name(v)));
        return std::nullopt;
    }
    return v;
}

std::optional<std::string> YamlReader::str(const YAML::Node& map, const std::string& path, const char* key,
                                           bool required) {
    auto v = scalar(map, path, key, required, "a string");
    if (!v) return std::nullopt;
    if (v->Scalar().empty()) {
        error(*v, join_path(path, key), "must not be empty");
        return std::nullopt;
    }
    return v->Scalar();
}

std::optional<uint64_t> YamlReader::uint(const YAML::Node& map, const std::string& path, const char* key, uint64_t min,
                                         uint64_t max, bool required) {
    auto v = scalar(map, path, key, required, "an integer");
    if (!v) return std::nullopt;
    const std::string& s = v->Scalar();
    const bool digits =
        !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    errno = 0;
    const unsigned long long n = digits ? std::strtoull(s.c_str(), nullptr, 10) : 0;
    if (!digits || errno == ERANGE || n < min || n > max) {
        error(*v, join_path(path, key), fmt::format("'{}' is not an integer between {} and {}", s, min, max));
        return std::nullopt;
    }
    return n;
}

std::optional<double> YamlReader::real(const YAML::Node& map, const std::string& path, const char* key, double min,
                                       double max, bool required) {
    auto v = scalar(map, path, key, required, "a number");
    if (!v) return std::nullopt;
    const std::string& s = v->Scalar();
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(d) || d < min || d > max) {
        error(*v, join_path(path, key), fmt::format("'{}' is not a number between {} and {}", s, min, max));
        return std::nullopt;
    }
    return d;
}

std::optional<std::vector<std::string>> YamlReader::str_list(const YAML::Node& map, const std::string& path,
                                                             const char* key, bool required) {
    const YAML::Node v = map[key];
    if (!v.IsDefined() || v.IsNull()) {
        if (required) error(map, join_path(path, key), fmt::format("missing required key '{}'", key));
        return std::nullopt;
    }
    if (v.IsScalar()) {
        if (auto one = str(map, path, key, required)) return std::vector<std::string>{*one};
        return std::nullopt;
    }
    if (!v.IsSequence() || v.size() == 0) {
        error(v, join_path(path, key), "must be a string or a non-empty list of strings");
        return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i].IsScalar() || v[i].Scalar().empty()) {
            error(v[i], index_path(join_path(path, key), i), "must be a non-empty string");
            ok = false;
            continue;
        }
        out.push_back(v[i].Scalar());
    }
    if (!ok) return std::nullopt;
    return out;
}

std::optional<std::vector<uint64_t>> YamlReader::uint_list(const YAML::Node& map, const std::string& path,
                                                           const char* key, uint64_t min, uint64_t max, bool required) {
    const YAML::Node v = map[key];
    if (!v.IsDefined() || v.IsNull()) {
        if (required) error(map, join_path(path, key), fmt::format("missing required key '{}'", key));
        return std::nullopt;
    }
    if (v.IsScalar()) {
        if (auto one = uint(map, path, key, min, max, required)) return std::vector<uint64_t>{*one};
        return std::nullopt;
    }
    if (!v.IsSequence() || v.size() == 0) {
        error(v, join_path(path, key), "must be an integer or a non-empty list of integers");
        return std::nullopt;
    }
    std::vector<uint64_t> out;
    bool ok = true;
    for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i].IsScalar()) {
            error(v[i], index_path(join_path(path, key), i), "must be an integer");
            ok = false;
            continue;
        }
        const std::string& s = v[i].Scalar();
        const bool digits = !s.empty() && s.size() <= 20 &&
                            std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
        const unsigned long long n = digits ? std::strtoull(s.c_str(), nullptr, 10) : 0;
        if (!digits || n < min || n > max) {
            error(v[i], index_path(join_path(path, key), i),
                  fmt::format("'{}' is not an integer between {} and {}", s, min, max));
            ok = false;
            continue;
        }
        out.push_back(n);
    }
    if (!ok) return std::nullopt;
    return out;
}

std::optional<bool> YamlReader::boolean(const YAML::Node& map, const std::string& path, const char* key,
                                        bool required) {
    auto v = scalar(map, path, key, required, "true or false");
    if (!v) return std::nullopt;
    const std::string& s = v->Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    // yes/no/on/off are booleans in YAML 1.1 only; say so rather than guess.
    error(*v, join_path(path, key), fmt::format("'{}' is not a boolean: write true or false", s));
    return std::nullopt;
}

std::optional<IpAddr> YamlReader::ip(const YAML::Node& map, const std::string& path, const char* key, int family,
                                     bool required) {
    auto v = scalar(map, path, key, required, "an IP address");
    if (!v) return std::nullopt;
    auto a = IpAddr::parse(v->Scalar());
    if (!a) {
        error(*v, join_path(path, key), fmt::format("'{}' is not an IP address", v->Scalar()));
        return std::nullopt;
    }
    if ((family == 4 && !a->is_v4()) || (family == 6 && !a->is_v6())) {
        error(*v, join_path(path, key), fmt::format("'{}' must be an IPv{} address", v->Scalar(), family));
        return std::nullopt;
    }
    return a;
}

std::optional<Prefix> YamlReader::prefix(const YAML::Node& map, const std::string& path, const char* key, int family,
                                         bool required) {
    auto v = scalar(map, path, key, required, "an address prefix");
    if (!v) return std::nullopt;
    auto p = Prefix::parse(v->Scalar());
    if (!p) {
        error(*v, join_path(path, key),
              fmt::format("'{}' is not a prefix like 10.0.0.0/24 (host bits must be zero)", v->Scalar()));
        return std::nullopt;
    }
    if ((family == 4 && !p->addr.is_v4()) || (family == 6 && !p->addr.is_v6())) {
        error(*v, join_path(path, key), fmt::format("'{}' must be an IPv{} prefix", v->Scalar(), family));
        return std::nullopt;
    }
    return p;
}

std::optional<MacAddr> YamlReader::mac(const YAML::Node& map, const std::string& path, const char* key, bool required) {
    auto v = scalar(map, path, key, required, "a MAC address");
    if (!v) return std::nullopt;
    auto m = parse_mac(v->Scalar());
    if (!m) {
        error(*v, join_path(path, key),
              fmt::format("'{}' is not a MAC address like 02:00:00:00:00:01 (quote it in YAML)", v->Scalar()));
    }
    return m;
}

std::optional<size_t> YamlReader::choice(const YAML::Node& map, const std::string& path, const char* key,
                                         std::initializer_list<std::string_view> choices, bool required) {
    auto v = scalar(map, path, key, required, "a name");
    if (!v) return std::nullopt;
    size_t i = 0;
    for (auto c : choices) {
        if (v->Scalar() == c) return i;
        ++i;
    }
    error(*v, join_path(path, key), fmt::format("'{}' is not one of: {}", v->Scalar(), fmt::join(choices, ", ")));
    return std::nullopt;
}

}  // namespace tern::conf
