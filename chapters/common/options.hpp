// options.hpp: one command-line parser for every program of the ladder.
//
// A program describes its options in a table; parse_args() does the rest, with
// the same rules everywhere:
//   --name VALUE and --name=VALUE; a flag takes no value.
//   --help (or -h) prints the usage on stdout and exits 0.
//   Anything wrong (an unknown option, a missing value, a number out of
//   range, a word not among the choices) prints what was wrong and the usage
//   on stderr and exits 2.
// Echo servers add their own options to the standard --host/--port/-v with
// parse_options() in socket_setup.hpp.
#pragma once

#include "log.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace ioladder {

struct Option {
    enum class Kind { flag, number, text };
    const char* name;       // "--port"; a flag may also have a short alias, see `alias`
    const char* value_name; // "N", "ADDR"; ignored for a flag
    const char* help;       // one line for --help, with the default
    Kind kind = Kind::flag;
    bool* flag = nullptr;          // Kind::flag: set to true when present
    long* number = nullptr;        // Kind::number: the value, within [min, max]
    long min = 0, max = 0;         //
    std::string* text = nullptr;   // Kind::text: the value
    const char* choices = nullptr; // Kind::text: "a|b|c" to allow only those words
    const char* alias = nullptr;   // "-v" for "--verbose"

    static Option Flag(const char* name, bool* out, const char* help, const char* alias = nullptr) {
        return {name, nullptr, help, Kind::flag, out, nullptr, 0, 0, nullptr, nullptr, alias};
    }
    static Option Number(const char* name, const char* value_name, long* out, long min, long max,
                         const char* help) {
        return {name, value_name, help, Kind::number, nullptr, out, min, max};
    }
    static Option Text(const char* name, const char* value_name, std::string* out, const char* help,
                       const char* choices = nullptr) {
        return {name, value_name, help, Kind::text, nullptr, nullptr, 0, 0, out, choices, nullptr};
    }
};

inline void print_usage(FILE* out, const char* summary, const std::vector<Option>& table) {
    std::fprintf(out, "usage: %s", g_program);
    for (const Option& o : table) {
        if (o.kind == Option::Kind::flag)
            std::fprintf(out, " [%s]", o.alias ? o.alias : o.name);
        else
            std::fprintf(out, " [%s %s]", o.name, o.value_name);
    }
    std::fprintf(out, " [--help]\n%s\n", summary);
    for (const Option& o : table) {
        std::string left = o.alias ? std::string(o.alias) + ", " + o.name : o.name;
        if (o.kind != Option::Kind::flag) left += std::string(" ") + o.value_name;
        std::fprintf(out, "  %-18s %s\n", left.c_str(), o.help);
    }
    std::fprintf(out, "  %-18s %s\n", "-h, --help", "show this text");
}

// Parses argv[1..] against `table` (see the rules at the top of this file).
// Sets g_program from argv[0] first, so every later message is named.
inline void parse_args(int argc, char** argv, const char* summary,
                       const std::vector<Option>& table) {
    if (argc > 0 && argv[0]) {
        const char* slash = std::strrchr(argv[0], '/');
        g_program = slash ? slash + 1 : argv[0];
    }
    auto fail = [&](const std::string& what) {
        std::fprintf(stderr, "%s: %s\n", g_program, what.c_str());
        print_usage(stderr, summary, table);
        std::exit(2);
    };
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::string value;
        bool inline_value = false;
        if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg.resize(eq);
            inline_value = true;
        }
        if (arg == "--help" || arg == "-h") {
            print_usage(stdout, summary, table);
            std::exit(0);
        }
        const Option* o = nullptr;
        for (const Option& candidate : table)
            if (arg == candidate.name || (candidate.alias && arg == candidate.alias))
                o = &candidate;
        if (!o) fail("unknown argument '" + std::string(argv[i]) + "'");
        if (o->kind == Option::Kind::flag) {
            if (inline_value) fail(arg + " takes no value");
            *o->flag = true;
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= argc) fail(arg + " needs a value (" + o->value_name + ")");
            value = argv[++i];
        }
        if (o->kind == Option::Kind::number) {
            char* end = nullptr;
            errno = 0;
            long n = std::strtol(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || errno != 0 || n < o->min || n > o->max)
                fail(arg + ": not a number from " + std::to_string(o->min) + " to " +
                     std::to_string(o->max) + ": '" + value + "'");
            *o->number = n;
        } else {
            if (o->choices) {
                std::string all = std::string("|") + o->choices + "|";
                if (value.empty() || all.find("|" + value + "|") == std::string::npos)
                    fail(arg + ": '" + value + "' is not one of " + o->choices);
            }
            *o->text = value;
        }
    }
}

} // namespace ioladder
