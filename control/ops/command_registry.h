// The console's commands, each one descriptor {tokens, help, handler}, in a
// registry that dispatches a line's words, writes `help`, and answers a
// mistyped line naming the bad word. The rte_cmdline table (TAB completion,
// '?' help) is generated from the same descriptors (cmdline_table.h). The
// areas' descriptors live in cmd_<area>.cpp; console_commands() lists the
// areas. Control thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/ops/operable.h"

namespace tern::ctl {

struct CommandResult {
    std::string out;  // ends with a newline when not empty
    bool ok = true;   // false: `out` is an error naming the bad word
    bool quit = false;
};

// What a handler returns: `text` (a newline is added) as output or as an error.
CommandResult done(std::string text);
CommandResult fail(std::string text);
// A decimal number of at most 32 bits, else nothing: for handlers' numbers.
std::optional<uint32_t> parse_u32(const std::string& word);

// One word of a command's tokens, as written in its descriptor:
//   show             a fixed word
//   port|lcore       one of these words
//   SERVICE, HOST    a name the daemon knows (TAB completes the running ones)
//   N, IP, PORT|all  any one word (uppercase: a placeholder)
//   FILTER...        every word left
//   [...]            this and what follows may be left out (a tail)
struct Token {
    enum class Kind { word, name, free };
    enum class Names { service, host };
    Kind kind = Kind::word;
    std::vector<std::string> words;  // Kind::word: the alternatives
    Names names = Names::service;    // Kind::name
    std::string text;                // as written, without brackets
    bool optional = false;
    bool rest = false;

    bool accepts(const std::string& word) const;
};

class CommandRegistry;

// The words of the line, checked against the command's tokens.
struct Args {
    const std::vector<std::string>& words;
    const CommandRegistry& registry;
    size_t size() const { return words.size(); }
    const std::string& operator[](size_t i) const { return words[i]; }
    // Word i, or "" when the line is shorter.
    std::string get(size_t i) const { return i < words.size() ? words[i] : std::string(); }
};

using Handler = CommandResult (*)(Operable& target, const Args& args);

struct Command {
    const char* tokens;  // "set weight SERVICE HOST N"
    const char* help;    // one line for `help` ("\n" continues it); "": not listed
    Handler handler;
};

class CommandRegistry {
public:
    struct Entry {
        Command command;
        std::vector<Token> tokens;
        size_t min = 0;  // words it needs
        size_t max = 0;  // words it takes (SIZE_MAX with a rest token)
    };

    // Throws std::logic_error on malformed tokens (a programming error).
    void add(const Command& command);

    // Runs the command the words name, or says which word is wrong.
    CommandResult run(Operable& target, const std::vector<std::string>& words) const;
    // Every listed command's tokens with its help, in registration order.
    std::string help() const;
    const std::vector<Entry>& entries() const { return entries_; }

private:
    std::vector<Entry> entries_;
};

// Parses a descriptor's tokens (see Token); throws std::logic_error.
std::vector<Token> parse_tokens(const std::string& spec);

}  // namespace tern::ctl
