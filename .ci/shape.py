#!/usr/bin/env python3
"""Code-shape gate (issue 15): no async fn in src/ (handlers, middleware, server start) over
MAX_FN lines, counted from its `async fn` line to its closing brace; no source file over
MAX_FILE lines except the generated schema. Prints the offenders; exits 1 when there are any.
Run from the repository root: python3 .ci/shape.py"""

import os
import re
import sys

MAX_FN = 40
MAX_FILE = 500
EXEMPT_FILES = {os.path.join("src", "db", "schema.rs")}
ASYNC_FN = re.compile(r"\s*(pub(\([a-z]+\))? )?async fn (\w+)")


def long_fns(path, lines):
    i = 0
    while i < len(lines):
        m = ASYNC_FN.match(lines[i])
        if m:
            depth, started, j = 0, False, i
            while j < len(lines):
                # Braces in strings and comments are rare enough in fn bodies here; a
                # miscount shows up as an absurd length, not a silent pass.
                for ch in lines[j]:
                    if ch == "{":
                        depth, started = depth + 1, True
                    elif ch == "}":
                        depth -= 1
                if started and depth == 0:
                    break
                j += 1
            if j - i + 1 > MAX_FN:
                yield f"{path}:{i + 1}: async fn {m.group(3)} is {j - i + 1} lines (at most {MAX_FN})"
            i = j
        i += 1


def main():
    problems = []
    for root, _, files in os.walk("src"):
        for name in sorted(files):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            if path not in EXEMPT_FILES and len(lines) - 1 > MAX_FILE:
                problems.append(f"{path}: {len(lines) - 1} lines (at most {MAX_FILE})")
            problems.extend(long_fns(path, lines))
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} shape problem(s): move rules into domain functions or split the file")
        return 1
    print(f"shape ok: no async fn over {MAX_FN} lines, no file over {MAX_FILE} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
