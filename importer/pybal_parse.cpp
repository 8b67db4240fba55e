#include "importer/pybal_parse.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

namespace tern::importer {

PyValue::PyValue() = default;
PyValue::~PyValue() = default;
PyValue::PyValue(const PyValue&) = default;
PyValue::PyValue(PyValue&&) noexcept = default;
PyValue& PyValue::operator=(const PyValue&) = default;
PyValue& PyValue::operator=(PyValue&&) noexcept = default;

std::string ImportReport::str() const {
    std::string out = file;
    if (line > 0) out += fmt::format(":{}", line);
    out += ": ";
    if (!section.empty()) out += section + ": ";
    return out + message;
}

std::string pybal_strip(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
}

std::string pybal_lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// ---------------------------------------------------------------- Python literals

namespace {

void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

class PyParser {
public:
    PyParser(const std::string& text, bool refs) : t_(text), refs_(refs) {}

    PyValue parse_all() {
        PyValue v = expr();
        skip();
        if (pos_ < t_.size()) fail(fmt::format("unexpected '{}'", t_[pos_]));
        return v;
    }
    bool clash = false;

    struct Fail {
        std::string message;
    };

private:
    [[noreturn]] void fail(const std::string& why) const {
        throw Fail{fmt::format("{} at character {}", why, pos_ + 1)};
    }
    char peek() const { return pos_ < t_.size() ? t_[pos_] : '\0'; }
    void skip() {
        while (pos_ < t_.size()) {
            const char c = t_[pos_];
            if (std::isspace(static_cast<unsigned char>(c))) {
                ++pos_;
            } else if (c == '#') {  // a comment, to the end of the line
                while (pos_ < t_.size() && t_[pos_] != '\n') ++pos_;
            } else if (c == '\\' && pos_ + 1 < t_.size() && t_[pos_ + 1] == '\n') {
                pos_ += 2;
            } else {
                break;
            }
        }
    }

    PyValue expr() {
        PyValue v = term();
        for (skip(); peek() == '+'; skip()) {
            if (!refs_) fail("'+' is not allowed here");
            ++pos_;
            PyValue r = term();
            if (v.kind != PyValue::Kind::string || r.kind != PyValue::Kind::string) fail("'+' joins strings only");
            v.s += r.s;
        }
        return v;
    }

    PyValue sequence(char close, bool* single) {
        PyValue v;
        v.kind = PyValue::Kind::list;
        bool comma = false;
        for (;;) {
            skip();
            if (peek() == close) {
                ++pos_;
                break;
            }
            if (peek() == '\0') fail(fmt::format("'{}' is missing", close));
            v.items.push_back(expr());
            skip();
            if (peek() == ',') {
                ++pos_;
                comma = true;
            } else if (peek() != close) {
                fail(fmt::format("',' or '{}' expected", close));
            }
        }
        if (single != nullptr) *single = v.items.size() == 1 && !comma;
        return v;
    }

    // Lists, tuples and dicts nest at most this deep: PyBal's configs nest
    // two or three levels; a deeper one is hostile and would exhaust the stack.
    static constexpr int kMaxDepth = 32;
    struct Nest {
        PyParser& p;
        explicit Nest(PyParser& parser) : p(parser) {
            if (++p.depth_ > kMaxDepth) p.fail(fmt::format("nested more than {} deep", kMaxDepth));
        }
        ~Nest() { --p.depth_; }
        Nest(const Nest&) = delete;
        Nest& operator=(const Nest&) = delete;
    };

    PyValue term() {
        skip();
        const char c = peek();
        if (c == '\0') fail("a value is missing");
        Nest nest(*this);
        if (c == '[') {
            ++pos_;
            return sequence(']', nullptr);
        }
        if (c == '(') {  // a tuple, or an expression in parentheses
            ++pos_;
            bool single = false;
            PyValue v = sequence(')', &single);
            if (single) return v.items[0];
            return v;
        }
        if (c == '{') return dict();
        if (c == '-' || c == '+' || c == '.' || std::isdigit(static_cast<unsigned char>(c))) return number();
        if (c == '\'' || c == '"' || string_prefix()) return strings();
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') return name();
        fail(fmt::format("unexpected '{}'", c));
    }

    PyValue dict() {
        ++pos_;
        PyValue v;
        v.kind = PyValue::Kind::dict;
        for (;;) {
            skip();
            if (peek() == '}') {
                ++pos_;
                return v;
            }
            if (peek() == '\0') fail("'}' is missing");
            PyValue k = expr();
            skip();
            if (peek() != ':') fail("':' expected");
            ++pos_;
            PyValue val = expr();
            v.entries.emplace_back(std::move(k), std::move(val));
            skip();
            if (peek() == ',') {
                ++pos_;
            } else if (peek() != '}') {
                fail("',' or '}' expected");
            }
        }
    }

    PyValue number() {
        bool negative = false;
        while (peek() == '-' || peek() == '+') {
            negative ^= peek() == '-';
            ++pos_;
            skip();
        }
        const size_t start = pos_;
        while (pos_ < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[pos_])) || t_[pos_] == '.' ||
                                    ((t_[pos_] == '-' || t_[pos_] == '+') && pos_ > start &&
                                     (t_[pos_ - 1] == 'e' || t_[pos_ - 1] == 'E')))) {
            ++pos_;
        }
        std::string text = t_.substr(start, pos_ - start);
        if (!text.empty() && (text.back() == 'L' || text.back() == 'l')) text.pop_back();  // Python 2 long
        if (text.empty()) fail("a number is missing");
        PyValue v;
        errno = 0;
        char* end = nullptr;
        const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
        if (hex || text.find_first_of(".eE") == std::string::npos) {
            const long long n = std::strtoll(text.c_str(), &end, hex ? 16 : 10);
            if (*end != '\0' || errno != 0) fail(fmt::format("'{}' is not a number", text));
            v.kind = PyValue::Kind::integer;
            v.i = negative ? -n : n;
        } else {
            const double d = std::strtod(text.c_str(), &end);
            if (*end != '\0' || errno != 0) fail(fmt::format("'{}' is not a number", text));
            v.kind = PyValue::Kind::real;
            v.d = negative ? -d : d;
        }
        return v;
    }

    // u'', b'', r'', ur'', br'', rb'' (any case)
    bool string_prefix() const {
        size_t p = pos_;
        int letters = 0;
        while (p < t_.size() && letters < 2 && std::strchr("uUbBrR", t_[p]) != nullptr && t_[p] != '\0') {
            ++p;
            ++letters;
        }
        return letters > 0 && p < t_.size() && (t_[p] == '\'' || t_[p] == '"');
    }

    PyValue strings() {
        PyValue v;
        v.kind = PyValue::Kind::string;
        do {
            v.s += one_string();
            skip();
        } while (peek() == '\'' || peek() == '"' || string_prefix());
        if (refs_) {
            for (const char* p : {"{host}", "{ip}", "{port}", "{service}"})
                clash = clash || v.s.find(p) != std::string::npos;
        }
        return v;
    }

    std::string one_string() {
        bool raw = false;
        while (peek() != '\'' && peek() != '"') {
            raw = raw || peek() == 'r' || peek() == 'R';
            ++pos_;
        }
        const char q = peek();
        const bool triple = t_.compare(pos_, 3, std::string(3, q)) == 0;
        pos_ += triple ? 3 : 1;
        std::string out;
        for (;;) {
            if (pos_ >= t_.size()) fail("the string is not closed");
            const char c = t_[pos_];
            if (c == q && (!triple || t_.compare(pos_, 3, std::string(3, q)) == 0)) {
                pos_ += triple ? 3 : 1;
                return out;
            }
            if (c == '\n' && !triple) fail("the string is not closed");
            if (c != '\\') {
                out += c;
                ++pos_;
                continue;
            }
            if (pos_ + 1 >= t_.size()) fail("the string is not closed");
            const char e = t_[pos_ + 1];
            if (raw) {  // a raw string keeps the backslash; it still cannot end on the quote
                out += c;
                out += e;
                pos_ += 2;
                continue;
            }
            pos_ += 2;
            switch (e) {
                case '\n': break;
                case '\\': out += '\\'; break;
                case '\'': out += '\''; break;
                case '"': out += '"'; break;
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'a': out += '\a'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'v': out += '\v'; break;
                case 'x': out += static_cast<char>(hex_digits(2)); break;
                case 'u': put_utf8(out, hex_digits(4)); break;
                case 'U': put_utf8(out, hex_digits(8)); break;
                default:
                    if (e >= '0' && e <= '7') {
                        unsigned n = static_cast<unsigned>(e - '0');
                        for (int k = 0; k < 2 && peek() >= '0' && peek() <= '7'; ++k)
                            n = n * 8 + static_cast<unsigned>(t_[pos_++] - '0');
                        out += static_cast<char>(n & 0xff);
                    } else {  // Python keeps unknown escapes as written
                        out += '\\';
                        out += e;
                    }
            }
        }
    }

    uint32_t hex_digits(int n) {
        if (pos_ + static_cast<size_t>(n) > t_.size()) fail("a short escape");
        uint32_t v = 0;
        for (int k = 0; k < n; ++k) {
            const char c = t_[pos_++];
            if (!std::isxdigit(static_cast<unsigned char>(c))) fail("a bad escape");
            v = v * 16 + static_cast<uint32_t>(
                             std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10);
        }
        return v;
    }

    std::string identifier() {
        const size_t start = pos_;
        while (pos_ < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[pos_])) || t_[pos_] == '_')) ++pos_;
        return t_.substr(start, pos_ - start);
    }

    PyValue name() {
        const size_t start = pos_;
        std::string id = identifier();
        PyValue v;
        if (id == "True" || id == "False") {
            v.kind = PyValue::Kind::boolean;
            v.b = id == "True";
            return v;
        }
        if (id == "None") return v;
        if (refs_ && id == "str") {
            skip();
            if (peek() != '(') fail("'(' expected after str");
            ++pos_;
            v = expr();
            skip();
            if (peek() != ')') fail("')' expected");
            ++pos_;
            if (v.kind == PyValue::Kind::integer) v.s = std::to_string(v.i);
            if (v.kind != PyValue::Kind::string && v.kind != PyValue::Kind::integer)
                fail("str() of something not a string");
            v.kind = PyValue::Kind::string;
            return v;
        }
        if (refs_ && id == "server") {
            for (skip(); peek() == '.'; skip()) {
                ++pos_;
                skip();
                id += "." + identifier();
            }
            static const std::pair<const char*, const char*> kRefs[] = {{"server.host", "{host}"},
                                                                        {"server.ip", "{ip}"},
                                                                        {"server.port", "{port}"},
                                                                        {"server.lvsservice.name", "{service}"}};
            for (const auto& [ref, placeholder] : kRefs) {
                if (id == ref) {
                    v.kind = PyValue::Kind::string;
                    v.s = placeholder;
                    return v;
                }
            }
            pos_ = start;
            fail(fmt::format("'{}' has no Tern placeholder (Tern has {{host}}, {{ip}}, {{port}}, {{service}})", id));
        }
        pos_ = start;
        fail(fmt::format("'{}' is not a literal", id));
    }

    const std::string& t_;
    bool refs_;
    size_t pos_ = 0;
    int depth_ = 0;
};

}  // namespace

PyParse parse_python_literal(const std::string& text, bool server_refs) {
    PyParse r;
    PyParser p(text, server_refs);
    try {
        r.value = p.parse_all();
        r.placeholder_clash = p.clash;
    } catch (const PyParser::Fail& f) {
        r.error = f.message;
    }
    return r;
}

// ---------------------------------------------------------------- INI (Python 2 ConfigParser)

const IniEntry* IniSection::find(const std::string& key) const {
    for (const auto& e : entries) {
        if (e.key == key) return &e;
    }
    return nullptr;
}

namespace {

// SafeConfigParser's %(name)s interpolation; nullopt with `why` on a bad value.
std::optional<std::string> interpolate(const IniSection& s, const std::string& value, int depth, std::string& why) {
    if (value.find('%') == std::string::npos) return value;
    if (depth > 10) {
        why = "interpolation nests deeper than 10";
        return std::nullopt;
    }
    std::string out;
    for (size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '%') {
            out += value[i];
            continue;
        }
        if (i + 1 < value.size() && value[i + 1] == '%') {
            out += '%';
            ++i;
            continue;
        }
        const size_t close = value.find(")s", i);
        if (i + 1 >= value.size() || value[i + 1] != '(' || close == std::string::npos) {
            why = "'%' must be followed by '%' or '(name)s'";
            return std::nullopt;
        }
        const std::string name = pybal_lower(value.substr(i + 2, close - i - 2));
        const IniEntry* e = s.find(name);
        if (e == nullptr) {
            why = fmt::format("%({})s names no key of the section", name);
            return std::nullopt;
        }
        auto sub = interpolate(s, e->value, depth + 1, why);
        if (!sub) return std::nullopt;
        out += *sub;
        i = close + 1;
    }
    return out;
}

}  // namespace

IniParse parse_ini(const std::string& text, const std::string& name) {
    IniParse r;
    IniSection defaults{"DEFAULT", 0, {}};
    std::vector<IniSection>& secs = r.sections;
    IniSection* cur = nullptr;
    long opt = -1;  // index in cur->entries of the key a continuation line extends
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const std::string s = pybal_strip(line);
        if (s.empty() || line[0] == '#' || line[0] == ';') continue;
        if ((line[0] == 'r' || line[0] == 'R') && pybal_lower(s.substr(0, 3)) == "rem" &&
            (s.size() == 3 || std::isspace(static_cast<unsigned char>(s[3])))) {
            continue;
        }
        if (std::isspace(static_cast<unsigned char>(line[0])) && cur != nullptr && opt >= 0) {
            cur->entries[static_cast<size_t>(opt)].value += "\n" + s;
            continue;
        }
        const size_t close = line.find(']');
        if (line[0] == '[' && close != std::string::npos && close > 1) {
            const std::string header = line.substr(1, close - 1);
            opt = -1;
            if (header == "DEFAULT") {
                cur = &defaults;
                continue;
            }
            auto it = std::find_if(secs.begin(), secs.end(), [&](const IniSection& x) { return x.name == header; });
            if (it == secs.end()) {
                secs.push_back(IniSection{header, n, {}});
                it = secs.end() - 1;
            }
            cur = &*it;
            continue;
        }
        if (cur == nullptr) {
            r.error = fmt::format("{}:{}: '{}' comes before any [section] header", name, n, s);
            return r;
        }
        const size_t sep = line.find_first_of(":=");
        const std::string key = pybal_lower(pybal_strip(sep == std::string::npos ? "" : line.substr(0, sep)));
        if (sep == std::string::npos || key.empty() || std::isspace(static_cast<unsigned char>(line[0]))) {
            r.error = fmt::format("{}:{}: cannot parse '{}': expected 'key = value' or a [section] header", name, n, s);
            return r;
        }
        std::string value = line.substr(sep + 1);
        const size_t semi = value.find(';');
        if (semi != std::string::npos && semi > 0 && std::isspace(static_cast<unsigned char>(value[semi - 1]))) {
            value = value.substr(0, semi);
        }
        value = pybal_strip(value);
        if (value == "\"\"") value.clear();
        auto it =
            std::find_if(cur->entries.begin(), cur->entries.end(), [&](const IniEntry& e) { return e.key == key; });
        if (it != cur->entries.end()) {
            r.reports.push_back(
                {name, n, cur->name,
                 fmt::format("'{}' is set again (first at line {}); the last value is used, as PyBal does", key,
                             it->line)});
            it->value = value;
            it->line = n;
        } else {
            cur->entries.push_back({key, value, n});
            it = cur->entries.end() - 1;
        }
        opt = it - cur->entries.begin();
    }
    for (auto& sec : secs) {
        for (const auto& d : defaults.entries) {
            if (sec.find(d.key) == nullptr) sec.entries.push_back(d);
        }
        std::vector<std::string> values;
        for (const auto& e : sec.entries) {
            std::string why;
            auto v = interpolate(sec, e.value, 0, why);
            if (!v)
                r.reports.push_back(
                    {name, e.line, sec.name, fmt::format("'{}': {}; the value is kept as written", e.key, why)});
            values.push_back(v ? *v : e.value);
        }
        for (size_t i = 0; i < values.size(); ++i) sec.entries[i].value = values[i];
    }
    return r;
}

}  // namespace tern::importer
