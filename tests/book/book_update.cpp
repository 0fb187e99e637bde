// book_update: rewrites every snippet and trace block in book/*.md from its
// source, so the book never quotes code by hand.
//
//   book_update REPO_ROOT
//
// A block under `<!-- snippet: PATH#REGION -->` becomes the region's text
// (common indentation removed); a block under `<!-- trace: PATH -->` becomes
// the file's text. A bare marker gets its block inserted. A file is written
// only if it changed. Exit 1 if any block could not be resolved (it is left
// as it was). The `book` target runs this after trace_capture.
#include "book_check.hpp"

#include <cstdio>
#include <fstream>

using namespace ioladder::book;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: book_update REPO_ROOT\n");
        return 2;
    }
    Checker checker(argv[1]);
    const fs::path& root = checker.root();
    if (!fs::is_directory(root / "book")) {
        std::fprintf(stderr, "book_update: %s has no book/ folder\n", root.c_str());
        return 2;
    }
    int failures = 0;
    for (const auto& md : checker.book_files()) {
        std::string old;
        if (!read_file(md, old)) {
            std::fprintf(stderr, "book_update: cannot read %s\n", md.c_str());
            ++failures;
            continue;
        }
        UpdateResult r = update_markdown(md, old, root);
        for (const auto& p : r.problems) {
            std::fprintf(stderr, "book_update: %s\n", p.text().c_str());
            ++failures;
        }
        std::string name = "book/" + md.filename().string();
        if (r.text != old) {
            std::ofstream out(md, std::ios::binary | std::ios::trunc);
            out << r.text;
            if (!out) {
                std::fprintf(stderr, "book_update: cannot write %s\n", md.c_str());
                ++failures;
                continue;
            }
            std::printf("book_update: %s: %d of %d snippets and traces rewritten\n", name.c_str(),
                        r.changed, r.snippets + r.traces);
        } else if (r.snippets + r.traces > 0) {
            std::printf("book_update: %s: %d snippets and traces already current\n", name.c_str(),
                        r.snippets + r.traces);
        }
    }
    // What book_test will check besides the blocks, reported now so the
    // author sees it before running the tests.
    for (const auto& p : checker.all())
        if (p.kind != Kind::SnippetDiffers && p.kind != Kind::TraceDiffers &&
            p.kind != Kind::MarkerWithoutBlock && p.kind != Kind::MissingFile &&
            p.kind != Kind::MissingRegion)
            std::fprintf(stderr, "book_update: warning: %s\n", p.text().c_str());
    return failures ? 1 : 0;
}
