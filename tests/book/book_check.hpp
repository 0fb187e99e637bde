// book_check.hpp: the rules that keep the book honest.
//
// The book never pastes code by hand. A Markdown file says where a block
// comes from, and the block under that marker must equal its source:
//
//   <!-- snippet: ../chapters/01-select/echo_udp_select.cpp#queue -->
//   ```cpp
//   ...the text between "// [snippet: queue]" and "// [/snippet]",
//   with the common leading indentation removed...
//   ```
//
//   <!-- trace: traces/01-echo_udp_select.txt -->
//   ```text
//   ...the whole generated trace file...
//   ```
//
// Paths are relative to the Markdown file. Regions are marked in the sources
// with a comment alone on its line, `// [snippet: NAME]` ... `// [/snippet]`
// (`#` instead of `//` in CMake files); they do not nest and a name appears
// once per file. book_update rewrites every block from its source (and
// inserts a missing block after a bare marker); book_test fails when a block
// has drifted. The other checks: relative links (and #anchors) resolve, every
// program in a chapter folder is named in its book chapter and every `.cpp`
// the chapter names exists, and every chapter is listed in SUMMARY.md.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ioladder::book {

namespace fs = std::filesystem;

enum class Kind {
    // Source markers
    MalformedMarker, // a line mentions [snippet: or [/snippet] but is not a marker
    NestedRegion,    // [snippet: b] inside an open region
    UnclosedRegion,  // [snippet: a] never closed
    StrayEnd,        // [/snippet] with no open region
    DuplicateRegion, // the same name twice in one file
    EmptyRegion,     // a region with no lines
    // Markdown blocks
    MalformedBlockMarker, // "<!-- snippet" or "<!-- trace" that does not parse
    MarkerWithoutBlock,   // a marker not directly followed by a fenced block
    UnclosedFence,        // a fenced block that never ends
    MissingFile,          // a snippet or trace names a file that does not exist
    MissingRegion,        // a snippet names a region its file does not have
    SnippetDiffers,       // the block is not the region's current text
    TraceDiffers,         // the block is not the trace file's text
    // Links and structure
    BrokenLink,           // [x](path) where path does not exist
    BrokenAnchor,         // [x](file.md#a) or [x](#a) with no heading "a"
    ProgramNotInBook,     // chapters/NN-x/prog.cpp not named in book/NN-x.md
    ExerciseNotInBook,    // chapters/NN-x/exercises/ex.hpp not named in book/NN-x.md
    BookNamesMissingFile, // book/NN-x.md names prog.cpp that does not exist
    ChapterWithoutBook,   // chapters/NN-x/ has programs but no book/NN-x.md
    ChapterNotInSummary,  // book/NN-x.md not linked from SUMMARY.md
    SummaryOutOfOrder,    // SUMMARY.md lists chapters out of numeric order
    // Command blocks
    StrayInteractiveMarker, // "<!-- interactive -->" not directly above a command block
};

const char* kind_name(Kind k);

struct Problem {
    Kind kind;
    std::string file; // relative to the repository root when known
    int line = 0;     // 1-based; 0 when the problem is about a whole file
    std::string message;

    std::string text() const; // "file:line: message"
};

// ---------------------------------------------------------------- sources

struct Region {
    std::string name;
    int first_line = 0; // first line of the region's text (after the marker)
    int last_line = 0;  // last line of the region's text (before the end marker)
    std::vector<std::string> lines;
};

struct SourceRegions {
    std::vector<Region> regions;
    std::vector<Problem> problems;
    const Region* find(std::string_view name) const;
};

// Splits text into lines (no trailing newline kept; a final "\r" dropped).
std::vector<std::string> split_lines(std::string_view text);

// Finds the snippet regions of one source file. `label` names the file in
// problems.
SourceRegions parse_regions(std::string_view text, const std::string& label);

// Removes the indentation common to all non-blank lines; blank lines become
// empty and leading/trailing blank lines are kept as they are.
std::vector<std::string> dedent(std::vector<std::string> lines);

// ---------------------------------------------------------------- markdown

struct Block {
    enum class Type { Snippet, Trace };
    Type type = Type::Snippet;
    std::string target;  // as written: "../chapters/x/y.cpp#region" or "traces/z.txt"
    int marker_line = 0; // 1-based
    bool has_fence = false;
    int fence_open = 0;             // line of the opening fence (1-based)
    int fence_close = 0;            // line of the closing fence (1-based)
    std::string fence;              // the opening fence, e.g. "```cpp"
    std::vector<std::string> lines; // the block's content
};

struct Link {
    std::string target; // as written, without a title
    int line = 0;
};

struct MarkdownDoc {
    std::vector<std::string> lines;
    std::vector<Block> blocks;
    std::vector<Link> links;
    std::vector<std::string> anchors; // GitHub heading anchors, in order
    std::string prose;                // every line outside generated blocks, for name checks
    std::vector<Problem> problems;
};

MarkdownDoc parse_markdown(std::string_view text, const std::string& label);

// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces
// to hyphens. Repeated headings get -1, -2 ... (done by parse_markdown).
std::string github_anchor(std::string_view heading);

// ---------------------------------------------------------------- checks
//
// Each check takes the repository root (the folder holding book/ and
// chapters/) and returns what is wrong; an empty vector means all is well.

class Checker {
  public:
    explicit Checker(fs::path root);

    std::vector<Problem> source_markers(); // every source under chapters/
    std::vector<Problem> markers();        // book markers parse, blocks are closed
    std::vector<Problem> snippets();       // blocks equal their regions
    std::vector<Problem> traces();         // blocks equal their files
    std::vector<Problem> links();          // relative links and anchors
    std::vector<Problem> programs();       // chapter folders vs chapters
    std::vector<Problem> summary();        // SUMMARY.md lists every chapter
    std::vector<Problem> all();

    // The Markdown files of the book (book/*.md), sorted.
    std::vector<fs::path> book_files() const;
    const fs::path& root() const { return root_; }

  private:
    const MarkdownDoc& doc(const fs::path& md);
    const SourceRegions& regions(const fs::path& src);
    std::string rel(const fs::path& p) const;

    fs::path root_;
    std::map<fs::path, MarkdownDoc> docs_;
    std::map<fs::path, SourceRegions> sources_;
};

// ---------------------------------------------------------------- commands
//
// A command block is a fenced block whose info string is `sh`, `bash`,
// `shell` or `console`, outside any other fenced block. The book's command
// test runs each one from the repository root (book_commands_test.cpp),
// unless the line directly above its opening fence is
//
//   <!-- interactive -->   or   <!-- interactive: why it is not run -->
//
// In a `console` block only the lines starting with "$ " are commands (the
// prompt is dropped, and a command continued with a trailing backslash takes
// its next lines); the other lines are output.

struct CommandBlock {
    std::string file;               // as labelled by the caller, e.g. book/01-select.md
    int line = 0;                   // the opening fence (1-based)
    std::string lang;               // sh, bash, shell or console
    std::vector<std::string> lines; // the block's content as written
    bool interactive = false;       // marked: not run
    std::string reason;             // the marker's text after "interactive:", if any

    std::string where() const { return file + ":" + std::to_string(line); }
    std::string script() const; // what runs: the lines, or a console block's commands
};

struct CommandBlocks {
    std::vector<CommandBlock> blocks;
    std::vector<Problem> problems; // markers that stand above no command block
};

CommandBlocks command_blocks(std::string_view markdown, const std::string& label);

// ---------------------------------------------------------------- update

struct UpdateResult {
    std::string text; // the new Markdown
    int snippets = 0; // blocks rewritten or confirmed
    int traces = 0;
    int changed = 0;               // blocks whose text changed (or were inserted)
    std::vector<Problem> problems; // a block that could not be resolved is left as it was
};

// Rewrites every snippet and trace block of one Markdown file from its
// source. `md` is the file's path (targets are relative to its folder).
UpdateResult update_markdown(const fs::path& md, std::string_view text, const fs::path& root);

// Reads a whole file; false if it cannot be read.
bool read_file(const fs::path& p, std::string& out);

} // namespace ioladder::book
