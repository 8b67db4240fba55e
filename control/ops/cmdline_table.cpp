// cmdline_parse_check() is still marked experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API 1

#include "control/ops/cmdline_table.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

// rte_cmdline's headers, as console.cpp takes them (not through the
// dataplane's rte.h).
#pragma GCC diagnostic push
#if defined(__clang__)  // clang calls it -Wdeprecated-volatile (the fuzz build, docs/fuzzing.md)
#pragma GCC diagnostic ignored "-Wdeprecated-volatile"
#else
#pragma GCC diagnostic ignored "-Wvolatile"
#endif
#include <cmdline.h>
#include <cmdline_parse.h>
#include <cmdline_parse_string.h>
#pragma GCC diagnostic pop

namespace tern::ctl {
namespace {

// Words an instance takes at most (its words sit side by side in
// rte_cmdline's result buffer, STR_TOKEN_SIZE each).
constexpr size_t kMaxWords = 16;
static_assert(kMaxWords * STR_TOKEN_SIZE <= CMDLINE_PARSE_RESULT_BUFSIZE);

// A token of ours: rte_cmdline's string token first, so the token pointer
// the ops receive is ours as well (the struct is standard layout).
struct TableToken {
    cmdline_parse_token_string_t tk;
    const CmdlineTable::Names* names;  // SERVICE, HOST: the daemon's names
    Token::Names kind;
    const char* text;   // what '?' shows for a placeholder
    cmdline** checker;  // the catch-all's
};
static_assert(std::is_standard_layout_v<TableToken> && offsetof(TableToken, tk) == 0);

TableToken* ours(cmdline_parse_token_hdr_t* hdr) { return reinterpret_cast<TableToken*>(hdr); }

// What an instance's callback gets as its data.
struct InstData {
    const CmdlineTable::Exec* exec;
    size_t words;
};

int word_parse(cmdline_parse_token_hdr_t* hdr, const char* buf, void* res, unsigned size) {
    return cmdline_token_string_ops.parse(hdr, buf, res, size);
}
int text_help(cmdline_parse_token_hdr_t* hdr, char* dst, unsigned size) {
    std::snprintf(dst, size, "%s", ours(hdr)->text);
    return 0;
}
int none_nb(cmdline_parse_token_hdr_t*) { return 0; }

// SERVICE and HOST: any one word, completed from the running names.
int name_nb(cmdline_parse_token_hdr_t* hdr) { return static_cast<int>((*ours(hdr)->names)(ours(hdr)->kind).size()); }
int name_elt(cmdline_parse_token_hdr_t* hdr, int idx, char* dst, unsigned size) {
    const auto names = (*ours(hdr)->names)(ours(hdr)->kind);
    if (idx < 0 || static_cast<size_t>(idx) >= names.size() || size == 0) return -1;
    std::snprintf(dst, size, "%s", names[static_cast<size_t>(idx)].c_str());
    return 0;
}

// The catch-all takes a line only when no command's instance takes it whole
// (else rte_cmdline would call the line ambiguous): it asks a hidden cmdline
// that knows only those instances.
int line_parse(cmdline_parse_token_hdr_t* hdr, const char* buf, void* res, unsigned size) {
    if (cmdline* checker = *ours(hdr)->checker) {
        const std::string line = std::string(buf) + "\n";
        if (cmdline_parse_check(checker, line.c_str()) >= 0) return -1;  // the line's length on a match
    }
    return cmdline_token_string_ops.parse(hdr, buf, res, size);
}

cmdline_token_ops free_ops = {word_parse, none_nb, nullptr, text_help};
cmdline_token_ops name_ops = {word_parse, name_nb, name_elt, text_help};
cmdline_token_ops line_ops = {line_parse, none_nb, nullptr, text_help};

void words_cb(void* parsed, cmdline* cl, void* data) {
    const auto* d = static_cast<const InstData*>(data);
    const char* res = static_cast<const char*>(parsed);
    std::vector<std::string> words;
    for (size_t i = 0; i < d->words; ++i) words.emplace_back(res + i * STR_TOKEN_SIZE);
    (*d->exec)(cl, words);
}

void line_cb(void* parsed, cmdline* cl, void* data) {
    const auto* d = static_cast<const InstData*>(data);
    const std::string text = static_cast<const char*>(parsed);
    std::vector<std::string> words;
    for (size_t a = text.find_first_not_of(" \t"); a != std::string::npos; a = text.find_first_not_of(" \t", a)) {
        const size_t b = std::min(text.find_first_of(" \t", a), text.size());
        words.push_back(text.substr(a, b - a));
        a = b;
    }
    (*d->exec)(cl, words);
}

}  // namespace

struct CmdlineTable::Parts {
    std::deque<TableToken> tokens;
    std::deque<InstData> data;
    std::deque<std::string> strings;
    std::vector<void*> instances;  // malloc'd: cmdline_inst ends in a flexible array

    const char* keep(std::string s) { return strings.emplace_back(std::move(s)).c_str(); }

    TableToken* token(cmdline_token_ops* ops, size_t word, const char* str) {
        TableToken& t = tokens.emplace_back();
        t.tk.hdr.ops = ops;
        t.tk.hdr.offset = static_cast<unsigned>(word * STR_TOKEN_SIZE);
        t.tk.string_data.str = str;
        return &t;
    }

    cmdline_inst* instance(void (*f)(void*, cmdline*, void*), InstData d, const char* help,
                           const std::vector<TableToken*>& toks) {
        const size_t bytes = sizeof(cmdline_parse_inst_t) + (toks.size() + 1) * sizeof(cmdline_parse_token_hdr_t*);
        void* mem = std::calloc(1, bytes);
        if (mem == nullptr) throw std::bad_alloc();
        instances.push_back(mem);
        auto* inst = static_cast<cmdline_parse_inst_t*>(mem);
        inst->f = f;
        inst->data = &data.emplace_back(d);
        inst->help_str = help;
        for (size_t i = 0; i < toks.size(); ++i) inst->tokens[i] = &toks[i]->tk.hdr;
        inst->tokens[toks.size()] = nullptr;
        return inst;
    }
};

CmdlineTable::CmdlineTable(const CommandRegistry& registry, Exec exec, Names names)
    : exec_(std::move(exec)), names_(std::move(names)), parts_(std::make_unique<Parts>()) {
    Parts& p = *parts_;
    for (const auto& e : registry.entries()) {
        std::string first = e.command.help;
        first = first.substr(0, first.find('\n'));
        const char* help = p.keep(first.empty() ? e.command.tokens : std::string(e.command.tokens) + ": " + first);
        // One instance per number of words the command takes; longer tails
        // (FILTER...) reach it through the catch-all.
        const size_t most = std::min(e.tokens.size(), kMaxWords);
        for (size_t n = std::max<size_t>(e.min, 1); n <= most; ++n) {
            std::vector<TableToken*> toks;
            for (size_t i = 0; i < n; ++i) {
                const Token& t = e.tokens[i];
                TableToken* tt = nullptr;
                if (t.kind == Token::Kind::word) {
                    std::string alts;
                    for (const auto& w : t.words) alts += (alts.empty() ? "" : "#") + w;
                    tt = p.token(&cmdline_token_string_ops, i, p.keep(alts));
                } else {
                    tt = p.token(t.kind == Token::Kind::name ? &name_ops : &free_ops, i, nullptr);
                    tt->names = &names_;
                    tt->kind = t.names;
                    tt->text = p.keep(t.text);
                }
                toks.push_back(tt);
            }
            known_.push_back(p.instance(words_cb, {&exec_, n}, help, toks));
        }
    }
    known_.push_back(nullptr);
    TableToken* line = p.token(&line_ops, 0, TOKEN_STRING_MULTI);
    line->text = "...";
    line->checker = &checker_;
    all_.assign(known_.begin(), known_.end() - 1);
    all_.push_back(p.instance(line_cb, {&exec_, 0}, "anything else: answered with what is wrong", {line}));
    all_.push_back(nullptr);
    // Its prompt and output go nowhere: a pipe nobody reads (cmdline_free
    // closes it), kept from the monitors' child processes.
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
        checker_ = cmdline_new(known_.data(), "", fds[0], fds[1]);
        if (checker_ == nullptr) {
            ::close(fds[0]);
            ::close(fds[1]);
        }
    }
}

CmdlineTable::~CmdlineTable() {
    if (checker_ != nullptr) cmdline_free(checker_);
    for (void* mem : parts_->instances) std::free(mem);
}

}  // namespace tern::ctl
