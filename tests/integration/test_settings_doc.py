# SPDX-License-Identifier: MIT
"""README.md's "Server settings" table, and docs/cli.md's table of `airhook
serve` (which adds a column saying what each does), list exactly the settings
that `airhook serve --help` prints: the same flags (with their value names), the
same environment variables and the same default values, in the same order.

Both are reduced to rows of (flag, variable, default).  The flag and the
variable are the first `code` in their README cells; the default is the first
`code` in the third cell, or none when the cell only describes what happens
(--help puts such a description in parentheses).  So the README may say more
than --help, in its own words, but cannot name another default.
"""

import difflib
import os
import re
import subprocess
import unittest

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(ROOT, "README.md")
CLI_DOC = os.path.join(ROOT, "docs", "cli.md")
NO_DEFAULT = "(no default value)"


def help_rows(text):
    """(flag, env, default) for each "  --flag ARG   ENV   DEFAULT" line of --help."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("  --"):
            continue
        cols = re.split(r"\s{2,}", line.strip())
        if len(cols) != 3:
            raise AssertionError("--help line without three columns: %r" % line)
        flag, env, default = cols
        rows.append((flag, "" if env == "-" else env,
                     NO_DEFAULT if default.startswith("(") else default))
    return rows


def _code(cell):
    """The first `code` span of a table cell, with \\| unescaped; "" if none."""
    m = re.search(r"`([^`]*)`", cell)
    return m.group(1).replace("\\|", "|") if m else ""


def readme_rows(text, heading="Server settings"):
    """(flag, env, default) for each row of the first table after the line
    that starts with heading (its first three columns)."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith(heading)), None)
    if start is None:
        raise AssertionError("no %r paragraph" % heading)
    rows = []
    i = start + 1
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    while i < len(lines) and lines[i].startswith("|"):
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", lines[i])[1:-1]]
        i += 1
        if len(cells) not in (3, 4) or not _code(cells[0]).startswith("--"):
            continue  # the header and the --- row
        rows.append((_code(cells[0]), _code(cells[1]), _code(cells[2]) or NO_DEFAULT))
    return rows


def _show(rows):
    return ["%s | %s | %s" % (flag, env or "-", default) for flag, env, default in rows]


def serve_help_rows(testcase):
    p = subprocess.run([harness.BINARY, "serve", "--help"], capture_output=True, text=True,
                       timeout=20, env={k: v for k, v in os.environ.items()
                                        if not k.startswith("AIRHOOK_")})
    testcase.assertEqual(p.returncode, 0, p.stderr)
    rows = help_rows(p.stdout)
    testcase.assertGreater(len(rows), 10, "no settings found in --help:\n" + p.stdout)
    return rows


class SettingsDocTests(unittest.TestCase):

    def test_cli_doc_table_matches_serve_help(self):
        got_help = serve_help_rows(self)
        with open(CLI_DOC, encoding="utf-8") as f:
            got_doc = readme_rows(f.read(), "## The server: `airhook serve`")
        if got_doc != got_help:
            diff = "\n".join(difflib.unified_diff(_show(got_doc), _show(got_help),
                                                  "docs/cli.md (airhook serve)",
                                                  "airhook serve --help", lineterm=""))
            self.fail("docs/cli.md's serve table and `airhook serve --help` differ:\n" + diff)

    def test_readme_table_matches_serve_help(self):
        got_help = serve_help_rows(self)
        with open(README, encoding="utf-8") as f:
            got_readme = readme_rows(f.read())
        if got_readme != got_help:
            diff = "\n".join(difflib.unified_diff(_show(got_readme), _show(got_help),
                                                  "README.md (Server settings)",
                                                  "airhook serve --help", lineterm=""))
            self.fail("README.md's settings table and `airhook serve --help` differ "
                      "(flag | env | default); change the table in README.md or the row in "
                      "src/cli/serve.c:\n" + diff)


if __name__ == "__main__":
    unittest.main()
