#!/usr/bin/env python3
"""The layout check: files too long, functions too long, and import circles.

Reports, for the Rust files of `src/` and `cli/src/`:

- every file over 700 lines outside tests (test files, named `tests.rs` or
  `*_tests.rs`, or declared under `#[cfg(test)]`, are skipped, and the items
  under `#[cfg(test)]` inside a file do not count);
- every function over 80 lines outside tests (with `--functions`);
- every import circle between files: file A uses an item of file B (a
  `crate::`, `super::`, `self::` or child-module path, in a `use` or inline)
  and B, directly or not, uses one of A. A re-export (`pub use child::X`) is
  followed to the file that defines `X`; a parent's re-export of its own
  children is its public face, not a use, and makes no edge by itself.

    perf/layout-check.py               files and circles
    perf/layout-check.py --functions   and functions over 80 lines

Exit status 1 when it reports anything. Python 3, no dependencies: it reads
the sources with a small lexer (comments, strings, chars and lifetimes are
blanked before anything is matched), not a Rust parser, so a macro that
expands to paths is not seen.
"""

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Crate roots: (crate name, root file). Files are reached by their `mod`
# declarations from these.
CRATES = [
    ("freeset", ROOT / "src" / "lib.rs"),
    ("freeset_cli", ROOT / "cli" / "src" / "lib.rs"),
    ("freeset (binary)", ROOT / "cli" / "src" / "main.rs"),
]
FILE_LINES_MAX = 700
FN_LINES_MAX = 80


def blank(text):
    """`text` with comments, string and char literals replaced by spaces
    (newlines kept, so that offsets and line numbers stay)."""
    out = list(text)
    i, n = 0, len(text)

    def wipe(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            wipe(i, j)
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            wipe(i, j)
            i = j
        elif re.match(r'b?r(#*)"', text[i:i + 260]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'b?r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            wipe(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            wipe(i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}'), else a lifetime.
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
            if m:
                wipe(i, i + m.end())
                i += m.end()
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


def matching_brace(code, open_at):
    """Index just past the `}` that closes the `{` at `open_at`."""
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(code)


def item_end(code, start):
    """End of the item that starts at `start`: past its closing brace, or
    past its `;` when it has no body (`mod tests;`, a `use`)."""
    depth = 0
    for j in range(start, len(code)):
        ch = code[j]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == ";" and depth == 0:
            return j + 1
        elif ch == "{" and depth == 0:
            return matching_brace(code, j)
    return len(code)


TEST_ATTR = re.compile(r"#\[cfg\((?:test|all\([^\]]*\btest\b[^\]]*\)|any\([^\]]*\btest\b[^\]]*\))\)\]")


def test_spans(code):
    """(start, end) of every item under a `#[cfg(test)]`-like attribute."""
    spans = []
    for m in TEST_ATTR.finditer(code):
        if "not(test" in m.group(0):
            continue
        spans.append((m.start(), item_end(code, m.end())))
    return spans


def without_tests(code):
    """`code` with the test items blanked (newlines kept)."""
    out = list(code)
    for a, b in test_spans(code):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


class Module:
    def __init__(self, path, file, crate):
        self.path = path  # ("ewah", "decode")
        self.file = file
        self.crate = crate
        self.children = {}  # name -> Module
        self.reexports = {}  # name -> path segments (relative to this module)


def child_file(parent_file, name):
    """The file of `mod name;` declared in `parent_file`."""
    base = parent_file.parent
    if parent_file.name not in ("lib.rs", "main.rs", "mod.rs"):
        base = base / parent_file.stem
    for candidate in (base / f"{name}.rs", base / name / "mod.rs"):
        if candidate.exists():
            return candidate
    return None


MOD_DECL = re.compile(r"(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")


def load(crate, root):
    """Every non-test module of a crate, by file, and the crate's root."""
    modules = {}

    def visit(path, file):
        module = Module(path, file, crate)
        modules[file] = module
        code = without_tests(blank(file.read_text()))
        for m in MOD_DECL.finditer(code):
            f = child_file(file, m.group(1))
            if f is not None:
                module.children[m.group(1)] = visit(path + (m.group(1),), f)
        return module

    return visit((), root), modules


USE = re.compile(r"\buse\s+([^;]+);")
INLINE = re.compile(r"\b(?:crate|super|self)(?:\s*::\s*\w+)+")


def expand_tree(tree):
    """`a::{b, c::{d, e as f}}` -> [(["a", "b"], "b"), (["a", "c", "d"], "d"),
    (["a", "c", "e"], "f")]: each path, with the name it is used under."""
    tree = re.sub(r"\s+as\s+(\w+)", r"@\1", tree)
    tree = re.sub(r"\s+", "", tree)

    def parse(s):
        # Split `s` at top-level commas.
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        paths = []
        for part in parts:
            if "{" in part:
                head, inner = part.split("{", 1)
                inner = inner[: inner.rfind("}")]
                head = [h for h in head.split("::") if h]
                paths += [head + p for p in parse(inner)]
            else:
                paths.append([h for h in part.split("::") if h])
        return paths

    named = []
    for path in parse(tree):
        alias = path[-1].split("@")[1] if path and "@" in path[-1] else None
        if alias is not None:
            path[-1] = path[-1].split("@")[0]
        named.append((path, alias or (path[-1] if path else "")))
    return named


INLINE_MOD = re.compile(r"\bmod\s+\w+\s*\{")


def inline_depth(code):
    """A function of an offset: how many inline `mod x { .. }` blocks of
    `code` hold it (their `super` is this file's module, not its parent)."""
    spans = [(m.start(), matching_brace(code, m.end() - 1)) for m in INLINE_MOD.finditer(code)]
    return lambda offset: sum(1 for a, b in spans if a <= offset < b)


def strip_inline_supers(path, depth):
    """`path` as seen from the file's module, from `depth` inline modules
    down: each leading `super` climbs one of them first."""
    while depth and path and path[0] == "super":
        path, depth = path[1:], depth - 1
    if depth and path and path[0] not in ("crate", "self"):
        # A name of the inline module itself: this file.
        return ["self"]
    return path or ["self"]


def resolve(module, segments, roots, depth=0):
    """The file that defines the item `segments` names from `module`, or
    None for an extern crate's item."""
    if depth > 8 or not segments:
        return module.file if segments == [] else None
    first = segments[0]
    if first == "crate":
        return resolve(roots[module.crate], segments[1:], roots, depth + 1) or roots[module.crate].file
    if first == "self":
        return resolve(module, segments[1:], roots, depth + 1) or module.file
    if first == "super":
        parent = module.parent
        return resolve(parent, segments[1:], roots, depth + 1) or parent.file
    if first in module.children:
        child = module.children[first]
        return resolve(child, segments[1:], roots, depth + 1) or child.file
    if first in module.reexports:
        return resolve(module, module.reexports[first] + segments[1:], roots, depth + 1)
    return None


def analyse(crates):
    roots, files = {}, {}
    for crate, root in crates:
        top, modules = load(crate, root)
        roots[crate] = top
        for module in modules.values():
            files[module.file] = module
    # Parents, for `super`.
    for module in files.values():
        for child in module.children.values():
            child.parent = module
    for top in roots.values():
        top.parent = top
    # Re-exports (`pub use a::b::C;` makes `C` an alias of `a::b::C`).
    uses = {}
    for file, module in files.items():
        code = without_tests(blank(file.read_text()))
        uses[file] = code
        for m in USE.finditer(code):
            prefix = code[max(0, m.start() - 20): m.start()]
            for path, name in expand_tree(m.group(1)):
                if path and path[-1] not in ("*", "self"):
                    if re.search(r"pub(\([^)]*\))?\s*$", prefix):
                        module.reexports[name] = path
    edges = {}  # (from, to) -> first line
    for file, module in files.items():
        code = uses[file]
        nesting = inline_depth(code)

        def add(target, offset, facade=False):
            if target is None or target == file or facade:
                return
            line = code.count("\n", 0, offset) + 1
            edges.setdefault((file, target), line)

        spans = []
        for m in USE.finditer(code):
            spans.append((m.start(), m.end()))
            prefix = code[max(0, m.start() - 20): m.start()]
            public = re.search(r"pub(\([^)]*\))?\s*$", prefix) is not None
            for path, _ in expand_tree(m.group(1)):
                path = [p for p in path if p not in ("*",)]
                if path and path[-1] == "self":
                    path = path[:-1]
                path = strip_inline_supers(path, nesting(m.start()))
                target = resolve(module, path, roots)
                # A re-export of the module's own descendants is its face.
                facade = public and target in files and files[target].path[: len(module.path)] == module.path
                add(target, m.start(), facade)
        for m in INLINE.finditer(code):
            if any(a <= m.start() < b for a, b in spans):
                continue
            path = re.sub(r"\s+", "", m.group(0)).split("::")
            path = strip_inline_supers(path, nesting(m.start()))
            add(resolve(module, path, roots), m.start())
        # Inline paths through a child module: `checkpoint::LastTrailer`.
        for name in module.children:
            for m in re.finditer(r"(?<![\w:])" + name + r"\s*::\s*\w+", code):
                if any(a <= m.start() < b for a, b in spans):
                    continue
                path = re.sub(r"\s+", "", m.group(0)).split("::")
                add(resolve(module, path, roots), m.start())
    return files, edges


def circles(files, edges):
    """Strongly connected components of more than one file (Tarjan)."""
    graph = {f: [] for f in files}
    for a, b in edges:
        graph[a].append(b)
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def shortest_cycle(start, edges):
    """The shortest path start -> .. -> start over `edges` (breadth first)."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
    previous, frontier = {}, [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph.get(v, [])):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start] + path[::-1][1:] + [start] if v != start else [start, start]
                if w not in previous:
                    previous[w] = v
                    following.append(w)
        frontier = following
    return []


def long_functions(code):
    """(name, first line, lines) of every function in `code`."""
    found = []
    for m in re.finditer(r"\bfn\s+(\w+)", code):
        # The body: the first `{` at depth 0 after the signature, unless a
        # `;` comes first (a declaration in a trait).
        depth, j = 0, m.end()
        while j < len(code):
            ch = code[j]
            if ch in "(<[":
                depth += 1
            elif ch in ")>]" and depth > 0:
                depth -= 1
            elif ch == ";" and depth == 0:
                j = -1
                break
            elif ch == "{" and depth == 0:
                break
            j += 1
        if j < 0 or j >= len(code):
            continue
        end = matching_brace(code, j)
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, end - 1) + 1
        found.append((m.group(1), first, last - first + 1))
    return found


def is_test_file(path):
    return path.name == "tests.rs" or path.name.endswith("_tests.rs") or "tests" in path.parts[:-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", action="store_true", help=f"also report functions over {FN_LINES_MAX} lines")
    parser.add_argument("--verbose", action="store_true", help="every edge inside each circle")
    args = parser.parse_args()
    problems = 0
    files, edges = analyse(CRATES)
    rel = lambda p: str(p.relative_to(ROOT))
    sources = sorted(set(files) | {p for d in ("src", "cli/src") for p in (ROOT / d).rglob("*.rs")})
    for path in sources:
        if is_test_file(path) or path not in files:
            continue  # a test file, or one only a test module declares
        text = path.read_text()
        blanked = blank(text)
        code = without_tests(blanked)
        total = len(text.splitlines())
        in_tests = set()
        for a, b in test_spans(blanked):
            in_tests.update(range(blanked.count("\n", 0, a), blanked.count("\n", 0, b) + 1))
        lines = total - len(in_tests)
        if lines > FILE_LINES_MAX:
            problems += 1
            print(f"LONG FILE {rel(path)}: {lines} lines outside tests ({total} in all, limit {FILE_LINES_MAX})")
        if args.functions:
            for name, first, count in long_functions(code):
                if count > FN_LINES_MAX:
                    problems += 1
                    print(f"LONG FN {rel(path)}:{first} {name}: {count} lines (limit {FN_LINES_MAX})")
    for component in circles(files, edges):
        problems += 1
        inside = {(a, b) for a, b in edges if a in component and b in component}
        print(f"CIRCLE among {len(component)} files: " + ", ".join(rel(f) for f in component))
        # The shortest circle through each file, each circle once.
        shown = set()
        for start in component:
            cycle = shortest_cycle(start, inside)
            key = frozenset(zip(cycle, cycle[1:]))
            if cycle and key not in shown:
                shown.add(key)
                steps = " -> ".join(f"{rel(a)}:{edges[(a, b)]}" for a, b in zip(cycle, cycle[1:]))
                print(f"    {steps} -> {rel(cycle[-1])}")
        if args.verbose:
            for a, b in sorted(inside):
                print(f"    edge {rel(a)}:{edges[(a, b)]} uses {rel(b)}")
    print(f"layout-check: {problems} finding(s) in {len(files)} files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
