#include "control/ops/command_registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace tern::ctl {
namespace {

// The column where `help` starts each command's text.
constexpr size_t kHelpColumn = 36;

std::string join(const std::vector<std::string>& words, size_t from, size_t to, const char* sep = " ") {
    std::string out;
    for (size_t i = from; i < to && i < words.size(); ++i) out += (i > from ? sep : "") + words[i];
    return out;
}

// What the candidates take at word i: "services, service, pools, ...".
std::string choices(const std::vector<const CommandRegistry::Entry*>& candidates, size_t i) {
    std::vector<std::string> seen;
    for (const auto* e : candidates) {
        if (i >= e->tokens.size()) continue;
        const Token& t = e->tokens[i];
        const std::vector<std::string> alts = t.kind == Token::Kind::word ? t.words : std::vector{t.text};
        for (const auto& a : alts) {
            if (std::find(seen.begin(), seen.end(), a) == seen.end()) seen.push_back(a);
        }
    }
    return join(seen, 0, seen.size(), ", ");
}

// The words of the line that the command's leading fixed words take: "set weight".
std::string prefix(const CommandRegistry::Entry& e, const std::vector<std::string>& w) {
    size_t k = 0;
    while (k < w.size() && k < e.tokens.size() && e.tokens[k].kind == Token::Kind::word && e.tokens[k].accepts(w[k]))
        ++k;
    return join(w, 0, k);
}

CommandResult run_entry(const CommandRegistry& registry, const CommandRegistry::Entry& e, Operable& target,
                        const std::vector<std::string>& w) {
    const char* usage = e.command.tokens;
    for (size_t j = 0; j < w.size() && j < e.tokens.size(); ++j) {
        if (!e.tokens[j].accepts(w[j]))
            return fail(fmt::format("{}: unknown '{}'; usage: {}", prefix(e, w), w[j], usage));
    }
    if (w.size() < e.min) return fail(fmt::format("{}: missing arguments; usage: {}", prefix(e, w), usage));
    if (w.size() > e.max) return fail(fmt::format("{}: unexpected '{}'; usage: {}", prefix(e, w), w[e.max], usage));
    return e.command.handler(target, Args{w, registry});
}

}  // namespace

CommandResult done(std::string text) { return {std::move(text) + "\n", true, false}; }
CommandResult fail(std::string text) { return {std::move(text) + "\n", false, false}; }

std::optional<uint32_t> parse_u32(const std::string& s) {
    if (s.empty() || s.size() > 10) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v > 0xffffffffull) return std::nullopt;
    return static_cast<uint32_t>(v);
}

bool Token::accepts(const std::string& word) const {
    return kind != Kind::word || std::find(words.begin(), words.end(), word) != words.end();
}

std::vector<Token> parse_tokens(const std::string& spec) {
    std::vector<Token> out;
    int depth = 0;
    size_t pos = 0;
    auto bad = [&](const char* why) { return std::logic_error(fmt::format("command '{}': {}", spec, why)); };
    while (pos < spec.size()) {
        const size_t end = std::min(spec.find(' ', pos), spec.size());
        std::string item = spec.substr(pos, end - pos);
        pos = end + 1;
        if (item.empty()) continue;
        while (!item.empty() && item.front() == '[') {
            ++depth;
            item.erase(0, 1);
        }
        int closes = 0;
        while (!item.empty() && item.back() == ']') {
            ++closes;
            item.pop_back();
        }
        if (item.empty()) throw bad("an empty token");
        Token t;
        t.text = item;
        t.optional = depth > 0;
        if (item.size() > 3 && item.ends_with("...")) {
            t.rest = true;
            item.resize(item.size() - 3);
        }
        if (std::any_of(item.begin(), item.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
            t.kind = item == "SERVICE" || item == "HOST" ? Token::Kind::name : Token::Kind::free;
            t.names = item == "HOST" ? Token::Names::host : Token::Names::service;
        } else {
            t.kind = Token::Kind::word;
            for (size_t a = 0; a <= item.size();) {
                const size_t bar = std::min(item.find('|', a), item.size());
                if (bar == a) throw bad("an empty alternative");
                t.words.push_back(item.substr(a, bar - a));
                a = bar + 1;
            }
            if (t.rest) throw bad("a fixed word cannot take the rest");
        }
        if (!out.empty() && out.back().rest) throw bad("a token after the rest");
        if (!out.empty() && out.back().optional && !t.optional) throw bad("a required token after an optional one");
        out.push_back(std::move(t));
        depth -= closes;
        if (depth < 0) throw bad("unbalanced ']'");
    }
    if (depth != 0) throw bad("unbalanced '['");
    if (out.empty() || out[0].kind != Token::Kind::word || out[0].optional) throw bad("must start with a fixed word");
    return out;
}

void CommandRegistry::add(const Command& command) {
    if (command.handler == nullptr) throw std::logic_error(fmt::format("command '{}': no handler", command.tokens));
    Entry e{command, parse_tokens(command.tokens), 0, 0};
    for (const auto& t : e.tokens) {
        if (!t.optional) ++e.min;
    }
    e.max = !e.tokens.empty() && e.tokens.back().rest ? SIZE_MAX : e.tokens.size();
    entries_.push_back(std::move(e));
}

CommandResult CommandRegistry::run(Operable& target, const std::vector<std::string>& w) const {
    if (w.empty()) return {};
    std::vector<const Entry*> candidates;
    for (const auto& e : entries_) candidates.push_back(&e);
    // Narrow by word until one command is left: the first word no command
    // takes is the one named.
    size_t i = 0;
    for (; i < w.size() && (i == 0 || candidates.size() > 1); ++i) {
        std::vector<const Entry*> next;
        for (const auto* e : candidates) {
            if (i < e->tokens.size() && e->tokens[i].accepts(w[i])) next.push_back(e);
        }
        if (next.empty()) {
            if (i == 0) return fail(fmt::format("unknown command '{}'; 'help' lists them", w[0]));
            return fail(fmt::format("{}: unknown '{}'; try {}", join(w, 0, i), w[i], choices(candidates, i)));
        }
        candidates = std::move(next);
    }
    if (candidates.size() > 1) {
        // The words ran out: a command they complete, else what may follow.
        std::vector<const Entry*> whole;
        for (const auto* e : candidates) {
            if (w.size() >= e->min) whole.push_back(e);
        }
        if (whole.size() != 1)
            return fail(fmt::format("{}: what? {}", join(w, 0, w.size()), choices(candidates, w.size())));
        candidates = whole;
    }
    if (candidates.empty()) return fail(fmt::format("unknown command '{}'; 'help' lists them", w[0]));
    return run_entry(*this, *candidates[0], target, w);
}

std::string CommandRegistry::help() const {
    std::string out;
    const std::string indent(kHelpColumn, ' ');
    for (const auto& e : entries_) {
        const std::string help = e.command.help;
        if (help.empty()) continue;
        const std::string tokens = e.command.tokens;
        bool first = true;
        if (tokens.size() + 2 > kHelpColumn) {
            out += tokens + "\n";
            first = false;
        }
        for (size_t a = 0; a < help.size();) {
            const size_t nl = std::min(help.find('\n', a), help.size());
            out += (first ? fmt::format("{:<{}}", tokens, kHelpColumn) : indent) + help.substr(a, nl - a) + "\n";
            first = false;
            a = nl + 1;
        }
    }
    return out;
}

}  // namespace tern::ctl
