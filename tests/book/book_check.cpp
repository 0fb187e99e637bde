// book_check.cpp: parsing sources and Markdown, and the book's checks.
// The format is described in book_check.hpp and book/README.md.
#include "book_check.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

namespace ioladder::book {

const char* kind_name(Kind k) {
    switch (k) {
    case Kind::MalformedMarker:
        return "malformed marker";
    case Kind::NestedRegion:
        return "nested region";
    case Kind::UnclosedRegion:
        return "unclosed region";
    case Kind::StrayEnd:
        return "stray end marker";
    case Kind::DuplicateRegion:
        return "duplicate region";
    case Kind::EmptyRegion:
        return "empty region";
    case Kind::MalformedBlockMarker:
        return "malformed block marker";
    case Kind::MarkerWithoutBlock:
        return "marker without block";
    case Kind::UnclosedFence:
        return "unclosed fence";
    case Kind::MissingFile:
        return "missing file";
    case Kind::MissingRegion:
        return "missing region";
    case Kind::SnippetDiffers:
        return "snippet differs";
    case Kind::TraceDiffers:
        return "trace differs";
    case Kind::BrokenLink:
        return "broken link";
    case Kind::BrokenAnchor:
        return "broken anchor";
    case Kind::ProgramNotInBook:
        return "program not in book";
    case Kind::ExerciseNotInBook:
        return "exercise not in book";
    case Kind::BookNamesMissingFile:
        return "book names missing file";
    case Kind::ChapterWithoutBook:
        return "chapter without book";
    case Kind::ChapterNotInSummary:
        return "chapter not in summary";
    case Kind::SummaryOutOfOrder:
        return "summary out of order";
    case Kind::StrayInteractiveMarker:
        return "stray interactive marker";
    }
    return "?";
}

std::string Problem::text() const {
    std::string s = file;
    if (line > 0) s += ":" + std::to_string(line);
    return s + ": " + message;
}

bool read_file(const fs::path& p, std::string& out) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    out = ss.str();
    return true;
}

std::vector<std::string> split_lines(std::string_view text) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string_view::npos) nl = text.size();
        std::string line(text.substr(start, nl - start));
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(std::move(line));
        start = nl + 1;
    }
    return lines;
}

static std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

static bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}

static bool is_word_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

static bool valid_region_name(std::string_view n) {
    if (n.empty()) return false;
    return std::all_of(n.begin(), n.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
}

// ---------------------------------------------------------------- sources

const Region* SourceRegions::find(std::string_view name) const {
    for (const auto& r : regions)
        if (r.name == name) return &r;
    return nullptr;
}

namespace {
struct Marker {
    enum { None, Open, Close, Malformed } type = None;
    std::string name;
};

// "// [snippet: name]", "// [/snippet]" (or with '#'), alone on the line.
Marker classify_source_line(std::string_view line) {
    bool mentions = line.find("[snippet:") != std::string_view::npos ||
                    line.find("[/snippet]") != std::string_view::npos;
    if (!mentions) return {};
    std::string_view t = trim(line);
    if (starts_with(t, "//"))
        t.remove_prefix(2);
    else if (starts_with(t, "#"))
        t.remove_prefix(1);
    else
        return {Marker::Malformed, {}};
    t = trim(t);
    if (t == "[/snippet]") return {Marker::Close, {}};
    if (starts_with(t, "[snippet:") && t.back() == ']') {
        std::string_view name = trim(t.substr(9, t.size() - 10));
        if (valid_region_name(name)) return {Marker::Open, std::string(name)};
    }
    return {Marker::Malformed, {}};
}
} // namespace

SourceRegions parse_regions(std::string_view text, const std::string& label) {
    SourceRegions out;
    auto lines = split_lines(text);
    std::optional<Region> open;
    int open_line = 0;
    std::map<std::string, int> seen; // name -> line of its first marker
    for (size_t i = 0; i < lines.size(); ++i) {
        int ln = static_cast<int>(i) + 1;
        Marker m = classify_source_line(lines[i]);
        switch (m.type) {
        case Marker::None:
            if (open) open->lines.push_back(lines[i]);
            break;
        case Marker::Malformed:
            out.problems.push_back(
                {Kind::MalformedMarker, label, ln,
                 "not a snippet marker: '" + std::string(trim(lines[i])) +
                     "' (a marker is '// [snippet: NAME]' or '// [/snippet]' alone on its line; "
                     "NAME uses letters, digits, '-', '_', '.')"});
            break;
        case Marker::Open:
            if (open) {
                out.problems.push_back({Kind::NestedRegion, label, ln,
                                        "region '" + m.name + "' opens inside region '" +
                                            open->name + "' (opened at line " +
                                            std::to_string(open_line) + "); regions do not nest"});
                break;
            }
            if (auto it = seen.find(m.name); it != seen.end()) {
                out.problems.push_back({Kind::DuplicateRegion, label, ln,
                                        "region '" + m.name + "' appears twice (first at line " +
                                            std::to_string(it->second) + ")"});
            } else {
                seen[m.name] = ln;
            }
            open = Region{m.name, ln + 1, ln, {}};
            open_line = ln;
            break;
        case Marker::Close:
            if (!open) {
                out.problems.push_back(
                    {Kind::StrayEnd, label, ln, "'[/snippet]' with no region open"});
                break;
            }
            open->last_line = ln - 1;
            if (open->lines.empty())
                out.problems.push_back(
                    {Kind::EmptyRegion, label, open_line, "region '" + open->name + "' is empty"});
            // A duplicate is reported above and the first definition wins.
            if (!out.find(open->name)) out.regions.push_back(std::move(*open));
            open.reset();
            break;
        }
    }
    if (open)
        out.problems.push_back({Kind::UnclosedRegion, label, open_line,
                                "region '" + open->name + "' is never closed with '[/snippet]'"});
    return out;
}

std::vector<std::string> dedent(std::vector<std::string> lines) {
    size_t common = std::string::npos;
    for (const auto& l : lines) {
        size_t ind = l.find_first_not_of(" \t");
        if (ind == std::string::npos) continue; // blank
        common = std::min(common, ind);
    }
    for (auto& l : lines) {
        if (l.find_first_not_of(" \t") == std::string::npos)
            l.clear();
        else if (common != std::string::npos)
            l.erase(0, common);
    }
    return lines;
}

// ---------------------------------------------------------------- markdown

namespace {
struct Fence {
    char ch = 0;
    size_t len = 0;
};

// An opening fence: ``` or ~~~ (3 or more) after optional indentation.
std::optional<Fence> opening_fence(std::string_view line) {
    std::string_view t = trim(line);
    if (t.size() < 3 || (t[0] != '`' && t[0] != '~')) return std::nullopt;
    size_t n = t.find_first_not_of(t[0]);
    if (n == std::string_view::npos) n = t.size();
    if (n < 3) return std::nullopt;
    if (t[0] == '`' && t.substr(n).find('`') != std::string_view::npos) return std::nullopt;
    return Fence{t[0], n};
}

bool closes(std::string_view line, const Fence& f) {
    std::string_view t = trim(line);
    if (t.size() < f.len) return false;
    return t.find_first_not_of(f.ch) == std::string_view::npos;
}

struct BlockMarker {
    enum { None, Ok, Malformed } state = None;
    Block::Type type = Block::Type::Snippet;
    std::string target;
};

BlockMarker classify_md_line(std::string_view line) {
    const BlockMarker malformed{BlockMarker::Malformed, Block::Type::Snippet, {}};
    std::string_view t = trim(line);
    if (!starts_with(t, "<!--")) return {};
    std::string_view body = trim(t.substr(4));
    Block::Type type;
    if (starts_with(body, "snippet"))
        type = Block::Type::Snippet;
    else if (starts_with(body, "trace"))
        type = Block::Type::Trace;
    else
        return {};
    body.remove_prefix(type == Block::Type::Snippet ? 7 : 5);
    if (body.empty() || body[0] != ':') return malformed;
    body = trim(body.substr(1));
    if (body.size() < 3 || body.substr(body.size() - 3) != "-->") return malformed;
    std::string_view target = trim(body.substr(0, body.size() - 3));
    if (target.empty() || target.find_first_of(" \t") != std::string_view::npos) return malformed;
    if (type == Block::Type::Snippet) {
        size_t hash = target.find('#');
        if (hash == std::string_view::npos || hash == 0 ||
            !valid_region_name(target.substr(hash + 1)))
            return malformed;
    }
    return {BlockMarker::Ok, type, std::string(target)};
}

// Drops `code spans` so that links and names inside them are not seen.
std::string strip_code_spans(std::string_view line) {
    std::string out;
    size_t i = 0;
    while (i < line.size()) {
        if (line[i] != '`') {
            out += line[i++];
            continue;
        }
        size_t run = line.find_first_not_of('`', i);
        if (run == std::string_view::npos) run = line.size();
        size_t n = run - i;
        std::string closer(n, '`');
        size_t end = line.find(closer, run);
        if (end == std::string_view::npos) { // unmatched: literal backticks
            out.append(line.substr(i, n));
            i = run;
            continue;
        }
        out += ' ';
        i = end + n;
    }
    return out;
}

void find_links(std::string_view raw, int ln, std::vector<Link>& links) {
    std::string line = strip_code_spans(raw);
    // Reference definitions: [name]: target
    std::string_view t = trim(line);
    if (starts_with(t, "[")) {
        size_t close = t.find("]:");
        if (close != std::string_view::npos && t.find(']') == close) {
            std::string_view target = trim(t.substr(close + 2));
            if (starts_with(target, "<")) target = target.substr(1, target.find('>') - 1);
            size_t sp = target.find_first_of(" \t");
            if (sp != std::string_view::npos) target = target.substr(0, sp);
            if (!target.empty()) links.push_back({std::string(target), ln});
            return;
        }
    }
    size_t pos = 0;
    while ((pos = line.find("](", pos)) != std::string::npos) {
        size_t start = pos + 2;
        int depth = 1;
        size_t i = start;
        for (; i < line.size(); ++i) {
            if (line[i] == '(') ++depth;
            if (line[i] == ')' && --depth == 0) break;
        }
        if (i >= line.size()) break;
        std::string_view target = trim(std::string_view(line).substr(start, i - start));
        if (starts_with(target, "<")) {
            size_t gt = target.find('>');
            target = target.substr(1, gt == std::string_view::npos ? target.size() - 1 : gt - 1);
        } else {
            size_t sp = target.find_first_of(" \t");
            if (sp != std::string_view::npos) target = target.substr(0, sp);
        }
        if (!target.empty()) links.push_back({std::string(target), ln});
        pos = i;
    }
}
} // namespace

std::string github_anchor(std::string_view heading) {
    std::string out;
    for (size_t i = 0; i < heading.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(heading[i]);
        if (c >= 0x80) {
            // U+2000..U+2BFF (general punctuation, arrows, math, box drawing)
            // start with 0xE2 in UTF-8 and GitHub drops them; letters such as
            // é are kept.
            size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            if (c != 0xE2) out.append(heading.substr(i, len));
            i += len - 1;
        } else if (std::isalnum(c) || c == '_' || c == '-') {
            out += static_cast<char>(std::tolower(c));
        } else if (c == ' ') {
            out += '-';
        }
    }
    return out;
}

MarkdownDoc parse_markdown(std::string_view text, const std::string& label) {
    MarkdownDoc doc;
    doc.lines = split_lines(text);
    const auto& lines = doc.lines;
    std::map<std::string, int> anchor_count;
    std::optional<Fence> fence; // a fence that is not a generated block
    int fence_line = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
        int ln = static_cast<int>(i) + 1;
        const std::string& line = lines[i];
        if (fence) {
            if (closes(line, *fence)) fence.reset();
            doc.prose += line + "\n";
            continue;
        }
        BlockMarker m = classify_md_line(line);
        if (m.state == BlockMarker::Malformed) {
            doc.problems.push_back(
                {Kind::MalformedBlockMarker, label, ln,
                 "not a block marker: '" + std::string(trim(line)) +
                     "' (write '<!-- snippet: PATH#REGION -->' or '<!-- trace: PATH -->')"});
            continue;
        }
        if (m.state == BlockMarker::Ok) {
            Block b;
            b.type = m.type;
            b.target = m.target;
            b.marker_line = ln;
            std::optional<Fence> f =
                i + 1 < lines.size() ? opening_fence(lines[i + 1]) : std::nullopt;
            if (!f) {
                doc.problems.push_back({Kind::MarkerWithoutBlock, label, ln,
                                        "marker '" + m.target +
                                            "' is not directly followed by a fenced block "
                                            "(run `cmake --build --preset book` to insert it)"});
                doc.blocks.push_back(std::move(b));
                continue;
            }
            b.has_fence = true;
            b.fence_open = ln + 1;
            b.fence = std::string(trim(lines[i + 1]));
            size_t j = i + 2;
            while (j < lines.size() && !closes(lines[j], *f))
                b.lines.push_back(lines[j++]);
            if (j >= lines.size()) {
                doc.problems.push_back({Kind::UnclosedFence, label, ln + 1,
                                        "the block under marker '" + m.target + "' never ends"});
                b.has_fence = false;
                doc.blocks.push_back(std::move(b));
                break;
            }
            b.fence_close = static_cast<int>(j) + 1;
            doc.blocks.push_back(std::move(b));
            i = j;
            continue;
        }
        if (auto f = opening_fence(line)) {
            fence = f;
            fence_line = ln;
            doc.prose += line + "\n";
            continue;
        }
        doc.prose += line + "\n";
        find_links(line, ln, doc.links);
        std::string_view t = trim(line);
        if (starts_with(t, "#")) {
            size_t hashes = t.find_first_not_of('#');
            if (hashes != std::string_view::npos && hashes <= 6 && t[hashes] == ' ') {
                std::string_view h = trim(t.substr(hashes));
                while (!h.empty() && h.back() == '#')
                    h.remove_suffix(1); // closing #s
                std::string a = github_anchor(trim(h));
                int n = anchor_count[a]++;
                doc.anchors.push_back(n == 0 ? a : a + "-" + std::to_string(n));
            }
        }
    }
    if (fence)
        doc.problems.push_back(
            {Kind::UnclosedFence, label, fence_line, "a fenced code block never ends"});
    return doc;
}

// ---------------------------------------------------------------- checks

Checker::Checker(fs::path root) : root_(fs::weakly_canonical(root)) {}

std::string Checker::rel(const fs::path& p) const {
    fs::path n = p.lexically_normal();
    fs::path r = n.lexically_relative(root_);
    if (r.empty() || starts_with(r.generic_string(), "..")) return n.generic_string();
    return r.generic_string();
}

std::vector<fs::path> Checker::book_files() const {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root_ / "book", ec))
        if (e.is_regular_file() && e.path().extension() == ".md") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

const MarkdownDoc& Checker::doc(const fs::path& md) {
    fs::path key = md.lexically_normal();
    auto it = docs_.find(key);
    if (it != docs_.end()) return it->second;
    std::string text;
    read_file(key, text);
    return docs_.emplace(key, parse_markdown(text, rel(key))).first->second;
}

const SourceRegions& Checker::regions(const fs::path& src) {
    fs::path key = src.lexically_normal();
    auto it = sources_.find(key);
    if (it != sources_.end()) return it->second;
    std::string text;
    read_file(key, text);
    return sources_.emplace(key, parse_regions(text, rel(key))).first->second;
}

static bool is_source_file(const fs::path& p) {
    std::string ext = p.extension().string();
    return ext == ".cpp" || ext == ".hpp" || ext == ".h" || ext == ".cc" || ext == ".cmake" ||
           p.filename() == "CMakeLists.txt";
}

std::vector<Problem> Checker::source_markers() {
    std::vector<Problem> out;
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(root_ / "chapters", ec))
        if (e.is_regular_file() && is_source_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        const auto& r = regions(f);
        out.insert(out.end(), r.problems.begin(), r.problems.end());
    }
    return out;
}

// Describes where two line lists first differ, for a failure message.
static std::string first_difference(const std::vector<std::string>& book,
                                    const std::vector<std::string>& want, const char* want_name) {
    size_t n = std::min(book.size(), want.size());
    size_t i = 0;
    while (i < n && book[i] == want[i])
        ++i;
    std::string s = "first difference at line " + std::to_string(i + 1) + " of the block:\n";
    s += "    book:   " + (i < book.size() ? "'" + book[i] + "'" : std::string("(block ends)")) +
         "\n";
    s += std::string("    ") + want_name + ": " +
         (i < want.size() ? "'" + want[i] + "'" : std::string("(ends)")) + "\n";
    s += "    (block has " + std::to_string(book.size()) + " lines, " + want_name + " has " +
         std::to_string(want.size()) + ")";
    return s;
}

static const char* kRefresh = "\n    run `cmake --build --preset book` to refresh the book";

std::vector<Problem> Checker::markers() {
    std::vector<Problem> out;
    for (const auto& md : book_files()) {
        const auto& p = doc(md).problems;
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

std::vector<Problem> Checker::snippets() {
    std::vector<Problem> out;
    for (const auto& md : book_files()) {
        for (const auto& b : doc(md).blocks) {
            if (b.type != Block::Type::Snippet || !b.has_fence) continue;
            size_t hash = b.target.find('#');
            std::string file_part = b.target.substr(0, hash);
            std::string region = b.target.substr(hash + 1);
            fs::path src = md.parent_path() / file_part;
            if (!fs::is_regular_file(src)) {
                out.push_back({Kind::MissingFile, rel(md), b.marker_line,
                               "snippet '" + b.target + "': no such file " + rel(src)});
                continue;
            }
            const auto& regs = regions(src);
            const Region* r = regs.find(region);
            if (!r) {
                std::string names;
                for (const auto& x : regs.regions)
                    names += (names.empty() ? "" : ", ") + x.name;
                out.push_back({Kind::MissingRegion, rel(md), b.marker_line,
                               "snippet '" + b.target + "': " + rel(src) + " has no region '" +
                                   region + "' (its regions: " + (names.empty() ? "none" : names) +
                                   ")"});
                continue;
            }
            auto want = dedent(r->lines);
            if (b.lines != want)
                out.push_back({Kind::SnippetDiffers, rel(md), b.marker_line,
                               "snippet '" + b.target + "' differs from region '" + region + "' (" +
                                   rel(src) + ":" + std::to_string(r->first_line) + "-" +
                                   std::to_string(r->last_line) + "); " +
                                   first_difference(b.lines, want, "source") + kRefresh});
        }
    }
    return out;
}

std::vector<Problem> Checker::traces() {
    std::vector<Problem> out;
    for (const auto& md : book_files()) {
        for (const auto& b : doc(md).blocks) {
            if (b.type != Block::Type::Trace || !b.has_fence) continue;
            fs::path file = md.parent_path() / b.target;
            std::string text;
            if (!fs::is_regular_file(file) || !read_file(file, text)) {
                out.push_back({Kind::MissingFile, rel(md), b.marker_line,
                               "trace '" + b.target + "': no such file " + rel(file) + kRefresh});
                continue;
            }
            auto want = split_lines(text);
            if (b.lines != want)
                out.push_back({Kind::TraceDiffers, rel(md), b.marker_line,
                               "trace block differs from " + rel(file) + "; " +
                                   first_difference(b.lines, want, "file  ") + kRefresh});
        }
    }
    return out;
}

std::vector<Problem> Checker::links() {
    std::vector<Problem> out;
    for (const auto& md : book_files()) {
        const auto& d = doc(md);
        for (const auto& l : d.links) {
            const std::string& t = l.target;
            if (t.find("://") != std::string::npos || starts_with(t, "mailto:")) continue;
            size_t hash = t.find('#');
            std::string file_part = t.substr(0, hash);
            std::string anchor = hash == std::string::npos ? "" : t.substr(hash + 1);
            fs::path target = file_part.empty() ? md : md.parent_path() / file_part;
            if (!file_part.empty() && !fs::exists(target)) {
                out.push_back({Kind::BrokenLink, rel(md), l.line,
                               "link '" + t + "': no such file or folder " + rel(target)});
                continue;
            }
            if (anchor.empty() || target.extension() != ".md" || !fs::is_regular_file(target))
                continue;
            const auto& anchors = doc(target).anchors;
            if (std::find(anchors.begin(), anchors.end(), anchor) == anchors.end())
                out.push_back({Kind::BrokenAnchor, rel(md), l.line,
                               "link '" + t + "': " + rel(target) +
                                   " has no heading with anchor '#" + anchor + "'"});
        }
    }
    return out;
}

namespace {
// Whole-word occurrence of `name` in `text` (word = letters, digits, '_').
bool mentions_word(std::string_view text, std::string_view name) {
    size_t pos = 0;
    while ((pos = text.find(name, pos)) != std::string_view::npos) {
        bool left = pos == 0 || !is_word_char(text[pos - 1]);
        size_t end = pos + name.size();
        bool right = end >= text.size() || !is_word_char(text[end]);
        if (left && right) return true;
        pos = end;
    }
    return false;
}

// Every "something.cpp" token in the text, with any path in front of it.
std::vector<std::pair<std::string, int>> cpp_names(const std::vector<std::string>& lines,
                                                   const std::set<int>& skip) {
    std::vector<std::pair<std::string, int>> out;
    auto path_char = [](char c) { return is_word_char(c) || c == '/' || c == '.' || c == '-'; };
    for (size_t i = 0; i < lines.size(); ++i) {
        if (skip.count(static_cast<int>(i) + 1)) continue;
        const std::string& l = lines[i];
        size_t pos = 0;
        while ((pos = l.find(".cpp", pos)) != std::string::npos) {
            size_t end = pos + 4;
            if (end < l.size() && is_word_char(l[end])) {
                pos = end;
                continue;
            }
            size_t start = pos;
            while (start > 0 && path_char(l[start - 1]))
                --start;
            if (start < pos) out.push_back({l.substr(start, end - start), static_cast<int>(i) + 1});
            pos = end;
        }
    }
    return out;
}

bool chapter_folder_name(const std::string& name) {
    return name.size() > 3 && std::isdigit(static_cast<unsigned char>(name[0])) &&
           std::isdigit(static_cast<unsigned char>(name[1])) && name[2] == '-';
}
} // namespace

std::vector<Problem> Checker::programs() {
    std::vector<Problem> out;
    std::error_code ec;
    // Every file name under chapters/ and tests/, for bare "x.cpp" mentions.
    std::set<std::string> known;
    for (const char* top : {"chapters", "tests"})
        for (const auto& e : fs::recursive_directory_iterator(root_ / top, ec))
            if (e.is_regular_file()) known.insert(e.path().filename().string());

    std::vector<fs::path> chapters;
    for (const auto& e : fs::directory_iterator(root_ / "chapters", ec))
        if (e.is_directory() && chapter_folder_name(e.path().filename().string()))
            chapters.push_back(e.path());
    std::sort(chapters.begin(), chapters.end());
    for (const auto& ch : chapters) {
        std::vector<std::string> progs;
        for (const auto& e : fs::directory_iterator(ch, ec))
            if (e.is_regular_file() && e.path().extension() == ".cpp")
                progs.push_back(e.path().stem().string());
        std::sort(progs.begin(), progs.end());
        if (progs.empty()) continue;
        fs::path md = root_ / "book" / (ch.filename().string() + ".md");
        if (!fs::is_regular_file(md)) {
            out.push_back({Kind::ChapterWithoutBook, rel(ch), 0,
                           "chapter folder has programs but no book chapter " + rel(md)});
            continue;
        }
        // A long chapter may continue in book/<folder>-<part>.md files: a
        // program or exercise may be named in any part.
        std::string prose = doc(md).prose;
        std::string part_prefix = ch.filename().string() + "-";
        for (const auto& f : book_files()) {
            std::string fname = f.filename().string();
            if (fname.rfind(part_prefix, 0) == 0) prose += "\n" + doc(f).prose;
        }
        for (const auto& p : progs)
            if (!mentions_word(prose, p))
                out.push_back({Kind::ProgramNotInBook, rel(md), 0,
                               "program " + rel(ch / (p + ".cpp")) +
                                   " is never named in the chapter's text (outside quoted "
                                   "snippets)"});
        std::vector<std::string> exercises;
        for (const auto& e : fs::directory_iterator(ch / "exercises", ec))
            if (e.is_regular_file() && e.path().extension() == ".hpp")
                exercises.push_back(e.path().stem().string());
        std::sort(exercises.begin(), exercises.end());
        for (const auto& x : exercises)
            if (!mentions_word(prose, x))
                out.push_back({Kind::ExerciseNotInBook, rel(md), 0,
                               "exercise " + x + " (" + rel(ch / "exercises" / (x + ".hpp")) +
                                   ") is never named in the chapter's text"});
    }
    for (const auto& md : book_files()) {
        const auto& d = doc(md);
        std::set<int> skip; // generated blocks are checked against their sources
        for (const auto& b : d.blocks) {
            skip.insert(b.marker_line);
            for (int l = b.fence_open; b.has_fence && l <= b.fence_close; ++l)
                skip.insert(l);
        }
        for (const auto& [name, line] : cpp_names(d.lines, skip)) {
            bool ok;
            if (name.find('/') == std::string::npos) {
                ok = known.count(name) > 0;
            } else {
                ok = fs::exists(md.parent_path() / name) || fs::exists(root_ / name);
            }
            if (!ok)
                out.push_back({Kind::BookNamesMissingFile, rel(md), line,
                               "names '" + name +
                                   "', which is not a file in the repository (looked under "
                                   "chapters/ and tests/)"});
        }
    }
    return out;
}

std::vector<Problem> Checker::summary() {
    std::vector<Problem> out;
    fs::path summary = root_ / "book" / "SUMMARY.md";
    auto files = book_files();
    if (!fs::is_regular_file(summary)) {
        if (!files.empty())
            out.push_back({Kind::ChapterNotInSummary, "book/SUMMARY.md", 0,
                           "the book has no SUMMARY.md listing its chapters"});
        return out;
    }
    const auto& d = doc(summary);
    std::vector<std::pair<fs::path, int>> listed;
    for (const auto& l : d.links) {
        if (l.target.find("://") != std::string::npos) continue;
        std::string file_part = l.target.substr(0, l.target.find('#'));
        if (file_part.empty()) continue;
        listed.push_back({(summary.parent_path() / file_part).lexically_normal(), l.line});
    }
    for (const auto& f : files) {
        std::string name = f.filename().string();
        if (name == "SUMMARY.md" || name == "README.md") continue;
        bool found = std::any_of(listed.begin(), listed.end(),
                                 [&](const auto& x) { return x.first == f.lexically_normal(); });
        if (!found)
            out.push_back({Kind::ChapterNotInSummary, rel(summary), 0,
                           "chapter " + rel(f) + " is not listed in SUMMARY.md"});
    }
    std::string prev;
    int prev_line = 0;
    for (const auto& [p, line] : listed) {
        std::string name = p.filename().string();
        if (!chapter_folder_name(name)) continue;
        std::string num = name.substr(0, 2);
        if (!prev.empty() && num < prev)
            out.push_back({Kind::SummaryOutOfOrder, rel(summary), line,
                           name + " is listed after chapter " + prev + " (line " +
                               std::to_string(prev_line) + "); list chapters in order"});
        prev = num;
        prev_line = line;
    }
    return out;
}

std::vector<Problem> Checker::all() {
    std::vector<Problem> out;
    for (auto part : {&Checker::source_markers, &Checker::markers, &Checker::snippets,
                      &Checker::traces, &Checker::links, &Checker::programs, &Checker::summary}) {
        auto p = (this->*part)();
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

// ---------------------------------------------------------------- commands

std::string CommandBlock::script() const {
    if (lang != "console") {
        std::string s;
        for (const auto& l : lines)
            s += l + "\n";
        return s;
    }
    std::string s;
    bool continued = false;
    for (const auto& l : lines) {
        std::string_view t = l;
        if (continued) {
            s += l + "\n";
        } else if (starts_with(t, "$ ")) {
            t.remove_prefix(2);
            s += std::string(t) + "\n";
        } else {
            continue; // output
        }
        continued = !t.empty() && t.back() == '\\';
    }
    return s;
}

namespace {
// "<!-- interactive -->" or "<!-- interactive: reason -->": nullopt if the
// line is not such a marker, else the reason (possibly empty).
std::optional<std::string> interactive_marker(std::string_view line) {
    std::string_view t = trim(line);
    if (!starts_with(t, "<!--") || t.size() < 7 || t.substr(t.size() - 3) != "-->")
        return std::nullopt;
    std::string_view body = trim(t.substr(4, t.size() - 7));
    if (!starts_with(body, "interactive")) return std::nullopt;
    body.remove_prefix(11);
    if (body.empty()) return std::string();
    if (body[0] != ':') return std::nullopt;
    return std::string(trim(body.substr(1)));
}

bool is_command_lang(std::string_view lang) {
    return lang == "sh" || lang == "bash" || lang == "shell" || lang == "console";
}
} // namespace

CommandBlocks command_blocks(std::string_view markdown, const std::string& label) {
    CommandBlocks out;
    auto lines = split_lines(markdown);
    std::optional<std::string> pending; // a marker on the previous line
    int pending_line = 0;
    auto stray = [&]() {
        if (pending)
            out.problems.push_back({Kind::StrayInteractiveMarker, label, pending_line,
                                    "'<!-- interactive -->' must stand on the line directly "
                                    "above a sh, bash, shell or console block"});
        pending.reset();
    };
    for (size_t i = 0; i < lines.size(); ++i) {
        int ln = static_cast<int>(i) + 1;
        if (auto reason = interactive_marker(lines[i])) {
            stray();
            pending = reason;
            pending_line = ln;
            continue;
        }
        auto f = opening_fence(lines[i]);
        if (!f) {
            stray();
            continue;
        }
        std::string_view info = trim(trim(lines[i]).substr(f->len));
        std::string lang(info.substr(0, info.find_first_of(" \t{")));
        size_t j = i + 1;
        std::vector<std::string> body;
        while (j < lines.size() && !closes(lines[j], *f))
            body.push_back(lines[j++]);
        if (is_command_lang(lang)) {
            CommandBlock b;
            b.file = label;
            b.line = ln;
            b.lang = lang;
            b.lines = std::move(body);
            b.interactive = pending.has_value();
            b.reason = pending.value_or("");
            out.blocks.push_back(std::move(b));
            pending.reset();
        } else {
            stray();
        }
        i = j; // an unclosed fence runs to the end (parse_markdown reports it)
    }
    stray();
    return out;
}

// ---------------------------------------------------------------- update

static std::string fence_language(const Block& b) {
    if (b.type == Block::Type::Trace) return "text";
    std::string file = b.target.substr(0, b.target.find('#'));
    fs::path p(file);
    if (p.filename() == "CMakeLists.txt" || p.extension() == ".cmake") return "cmake";
    std::string ext = p.extension().string();
    if (ext == ".cpp" || ext == ".hpp" || ext == ".h" || ext == ".cc") return "cpp";
    return "";
}

UpdateResult update_markdown(const fs::path& md, std::string_view text, const fs::path& root) {
    UpdateResult res;
    fs::path rootc = fs::weakly_canonical(root);
    auto rel = [&](const fs::path& p) {
        fs::path r = p.lexically_normal().lexically_relative(rootc);
        return r.empty() ? p.generic_string() : r.generic_string();
    };
    std::string label = rel(fs::weakly_canonical(md));
    MarkdownDoc d = parse_markdown(text, label);
    for (const auto& p : d.problems)
        if (p.kind != Kind::MarkerWithoutBlock) res.problems.push_back(p);
    std::map<int, const Block*> by_marker;
    for (const auto& b : d.blocks)
        by_marker[b.marker_line] = &b;

    std::map<fs::path, SourceRegions> cache;
    std::ostringstream o;
    const auto& lines = d.lines;
    for (size_t i = 0; i < lines.size(); ++i) {
        int ln = static_cast<int>(i) + 1;
        o << lines[i] << '\n';
        auto it = by_marker.find(ln);
        if (it == by_marker.end()) continue;
        const Block& b = *it->second;
        if (!b.has_fence && b.fence_open != 0) continue; // unclosed: leave the rest alone
        // The new content, or nullopt if it cannot be resolved.
        std::optional<std::vector<std::string>> content;
        if (b.type == Block::Type::Snippet) {
            size_t hash = b.target.find('#');
            fs::path src = (md.parent_path() / b.target.substr(0, hash)).lexically_normal();
            std::string region = b.target.substr(hash + 1);
            auto c = cache.find(src);
            if (c == cache.end()) {
                std::string s;
                if (!read_file(src, s)) {
                    res.problems.push_back(
                        {Kind::MissingFile, label, ln,
                         "snippet '" + b.target + "': no such file " + rel(src)});
                } else {
                    c = cache.emplace(src, parse_regions(s, rel(src))).first;
                    res.problems.insert(res.problems.end(), c->second.problems.begin(),
                                        c->second.problems.end());
                }
            }
            if (c != cache.end()) {
                if (const Region* r = c->second.find(region))
                    content = dedent(r->lines);
                else
                    res.problems.push_back({Kind::MissingRegion, label, ln,
                                            "snippet '" + b.target + "': " + rel(src) +
                                                " has no region '" + region + "'"});
            }
            ++res.snippets;
        } else {
            fs::path file = (md.parent_path() / b.target).lexically_normal();
            std::string s;
            if (read_file(file, s))
                content = split_lines(s);
            else
                res.problems.push_back({Kind::MissingFile, label, ln,
                                        "trace '" + b.target + "': no such file " + rel(file)});
            ++res.traces;
        }
        if (!content) continue; // the old block (if any) is copied through unchanged
        if (b.has_fence && b.lines == *content) continue;
        ++res.changed;
        // A fence longer than any backtick run at the start of a content line.
        size_t longest = 2;
        for (const auto& l : *content) {
            std::string_view t = trim(l);
            size_t n = t.find_first_not_of('`');
            longest = std::max(longest, n == std::string_view::npos ? t.size() : n);
        }
        std::string fence(longest + 1, '`');
        std::string lang = fence_language(b);
        if (b.has_fence) {
            std::string_view old = b.fence;
            size_t n = old.find_first_not_of("`~");
            if (n != std::string_view::npos) lang = std::string(trim(old.substr(n)));
        }
        o << fence << lang << '\n';
        for (const auto& l : *content)
            o << l << '\n';
        o << fence << '\n';
        if (b.has_fence) i = static_cast<size_t>(b.fence_close) - 1; // skip the old block
    }
    res.text = o.str();
    return res;
}

} // namespace ioladder::book
