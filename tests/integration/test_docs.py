#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The documentation cannot drift from the code.

Everything is derived from the sources, so a new setting, option, command,
diagnostic code or error message without documentation fails here, and the
failure names exactly what is missing:

  (a) every setting the config loader accepts (src/config/ key tables) is a
      term in docs/mta-stsd.conf.5.scd, and every config_defaults[] value
      appears there word for word on a "Default:" line under its setting;
  (b) every subcommand and every long and short option of src/cli/main.c (and
      src/checker/check.c when it exists), from the usage text and the getopt
      tables, appears in docs/mta-stsd.8.scd;
  (c) every diagnostic code passed to diag_add() in src/*/*.c (directly or
      through a wrapper) is a heading or a table row with cause and fix in
      docs/TROUBLESHOOTING.md, and so is every log_error/log_warn message of
      src/cli/main.c and src/server/http.c and every message main.c prints on stderr;
  (d) the man pages build with scdoc, without a warning;
  (e) README's quick start has exactly two commands and .ci/run calls the
      second.
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import NO_SKIP, SOURCE_ROOT  # noqa: E402

SRC = os.path.join(SOURCE_ROOT, "src")
DOCS = os.path.join(SOURCE_ROOT, "docs")


def read(*parts):
    with open(os.path.join(SOURCE_ROOT, *parts), encoding="utf-8") as f:
        return f.read()


# ---------------------------------------------------------------------------
# A small C tokenizer: enough to find calls, their arguments, string
# literals, tables and function bodies without being fooled by comments.
# ---------------------------------------------------------------------------

TOKEN = re.compile(r"""
   (?P<ws>\s+)
  |(?P<comment>/\*.*?\*/|//[^\n]*)
  |(?P<pp>^[ \t]*\#(?:[^\n\\]|\\.)*(?:\\\n(?:[^\n\\]|\\.)*)*)
  |(?P<str>"(?:[^"\\\n]|\\.)*")
  |(?P<chr>'(?:[^'\\\n]|\\.)*')
  |(?P<id>[A-Za-z_][A-Za-z0-9_]*)
  |(?P<num>\d[\w.]*)
  |(?P<op>->|\+\+|--|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^!~<>=?:;,.(){}\[\]])
""", re.S | re.X | re.M)


def tokens(src):
    """(kind, text, line) for every token but blanks and comments."""
    out = []
    pos = 0
    line = 1
    while pos < len(src):
        m = TOKEN.match(src, pos)
        if not m:
            raise ValueError("cannot tokenize at %r" % src[pos:pos + 40])
        kind = m.lastgroup
        if kind not in ("ws", "comment"):
            out.append((kind, m.group(kind), line))
        line += m.group(0).count("\n")
        pos = m.end()
    return out


def unquote(literal):
    """The value of one C string literal (UTF-8 source)."""
    body = literal[1:-1].encode("utf-8")
    out = bytearray()
    i = 0
    simple = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"\\": b"\\",
              b'"': b'"', b"'": b"'", b"0": b"\0", b"a": b"\a"}
    while i < len(body):
        c = body[i:i + 1]
        if c == b"\\":
            n = body[i + 1:i + 2]
            if n == b"x":
                m = re.match(rb"[0-9a-fA-F]+", body[i + 2:])
                out.append(int(m.group(0), 16) & 0xFF)
                i += 2 + len(m.group(0))
                continue
            if n in simple:
                out += simple[n]
                i += 2
                continue
            out += n
            i += 2
            continue
        out += c
        i += 1
    return out.decode("utf-8", "replace")


def split_args(toks, i):
    """toks[i] is '('; returns (arguments as token lists, index after ')')."""
    depth = 0
    args, cur = [], []
    for j in range(i, len(toks)):
        k, v, _ = toks[j]
        if k == "op" and v in "([{":
            depth += 1
            if depth > 1:
                cur.append(toks[j])
        elif k == "op" and v in ")]}":
            depth -= 1
            if depth == 0:
                args.append(cur)
                return args, j + 1
            cur.append(toks[j])
        elif k == "op" and v == "," and depth == 1:
            args.append(cur)
            cur = []
        else:
            cur.append(toks[j])
    raise ValueError("unbalanced parentheses")


def functions(toks):
    """(name, parameter names, body start, body end) of each definition."""
    i, n = 0, len(toks)
    while i < n:
        k, v, _ = toks[i]
        if k == "id" and i + 1 < n and toks[i + 1][1] == "(" and \
                (i == 0 or toks[i - 1][1] not in (".", "->")):
            try:
                args, j = split_args(toks, i + 1)
            except ValueError:
                i += 1
                continue
            if j < n and toks[j][1] == "{":
                params = []
                for a in args:
                    ids = [t[1] for t in a if t[0] == "id"]
                    params.append(ids[-1] if ids else None)
                depth, e = 0, j
                while e < n:
                    if toks[e][1] == "{":
                        depth += 1
                    elif toks[e][1] == "}":
                        depth -= 1
                        if depth == 0:
                            break
                    e += 1
                yield v, params, j, e
                i = e + 1
                continue
        i += 1


def strip_parens(expr):
    while len(expr) >= 2 and expr[0][1] == "(" and expr[-1][1] == ")":
        expr = expr[1:-1]
    return expr


def literal_text(expr):
    """Adjacent string literals joined, or None when there are none."""
    strs = [t for t in expr if t[0] == "str"]
    return "".join(unquote(t[1]) for t in strs) if strs else None


def src_path(name):
    """The path of src/*/name: file names are unique across src/'s folders,
    so the tests name a file without its subsystem."""
    for folder, _, names in sorted(os.walk(SRC)):
        if name in names:
            return os.path.join(folder, name)
    return os.path.join(SRC, name)


def source_files():
    files = {}
    for folder, _, names in sorted(os.walk(SRC)):
        for name in sorted(names):
            if name.endswith(".c"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    files[name] = tokens(f.read())
    return files


def diagnostic_codes(files):
    """Every code that reaches diag_add(), as {code: [(file, line)]}, and
    the code arguments that could not be resolved to literals."""
    reporters = {"diag_add": 4}
    # Macros that pass one of their parameters on as the code.
    for name, toks in files.items():
        for k, v, _ in toks:
            m = k == "pp" and re.match(
                r"\s*#\s*define\s+(\w+)\(([^)]*)\)(.*)", v, re.S)
            if not m:
                continue
            params = [p.strip() for p in m.group(2).split(",")]
            body = tokens(m.group(3).replace("\\\n", "\n"))
            for i, t in enumerate(body[:-1]):
                if t[1] in reporters and body[i + 1][1] == "(":
                    args, _ = split_args(body, i + 1)
                    e = strip_parens(args[reporters[t[1]]])
                    if len(e) == 1 and e[0][1] in params:
                        reporters[m.group(1)] = params.index(e[0][1])
    # Functions that do the same, to a fixpoint (report -> vreport_at).
    funcs = {name: list(functions(toks)) for name, toks in files.items()}
    changed = True
    while changed:
        changed = False
        for name, toks in files.items():
            for fname, params, b, e in funcs[name]:
                if fname in reporters:
                    continue
                for i in range(b, e):
                    if toks[i][1] in reporters and toks[i + 1][1] == "(":
                        args, _ = split_args(toks, i + 1)
                        idx = reporters[toks[i][1]]
                        ex = strip_parens(args[idx]) if idx < len(args) \
                            else []
                        if len(ex) == 1 and ex[0][1] in params:
                            reporters[fname] = params.index(ex[0][1])
                            changed = True
                            break

    def returned_literals(fname):
        found = []
        for tname, ttoks in files.items():
            for gname, _, gb, ge in funcs[tname]:
                if gname != fname:
                    continue
                for j in range(gb, ge):
                    if ttoks[j][1] == "return" and ttoks[j + 1][0] == "str":
                        found.append(unquote(ttoks[j + 1][1]))
        return found

    codes, unresolved = {}, []
    for name, toks in files.items():
        for fname, params, b, e in funcs[name]:
            own = params[reporters[fname]] if fname in reporters and \
                fname != "diag_add" else None
            for i in range(b, e):
                t = toks[i]
                if not (t[0] == "id" and t[1] in reporters and
                        toks[i + 1][1] == "(" and
                        toks[i - 1][1] not in (".", "->")):
                    continue
                args, _ = split_args(toks, i + 1)
                idx = reporters[t[1]]
                if idx >= len(args):
                    continue
                ex = strip_parens(args[idx])
                found = [unquote(x[1]) for x in ex if x[0] == "str"]
                if not found and len(ex) == 1 and ex[0][1] == own:
                    continue            # the callers pass the code
                if not found and len(ex) == 1 and ex[0][0] == "id":
                    # A local variable: the literals assigned to it.
                    for j in range(b, e):
                        if toks[j][1] == ex[0][1] and toks[j + 1][1] == "=":
                            k2 = j + 2
                            while toks[k2][1] != ";":
                                if toks[k2][0] == "str":
                                    found.append(unquote(toks[k2][1]))
                                k2 += 1
                if not found and len(ex) >= 3 and ex[0][0] == "id" and \
                        ex[1][1] == "(":
                    found = returned_literals(ex[0][1])
                if not found:
                    unresolved.append("%s:%d: %s" % (
                        name, t[2], " ".join(x[1] for x in ex)))
                for c in found:
                    codes.setdefault(c, []).append((name, t[2]))
    return codes, unresolved


def call_formats(name, functions_, stream=None):
    """(line, format) of each call to functions_ in src/name; fprintf only
    when its first argument is stream."""
    with open(src_path(name), encoding="utf-8") as f:
        toks = tokens(f.read())
    out = []
    for i, t in enumerate(toks[:-1]):
        if t[0] != "id" or t[1] not in functions_ or toks[i + 1][1] != "(":
            continue
        if i and toks[i - 1][1] in (".", "->", "void"):
            continue
        args, _ = split_args(toks, i + 1)
        idx = 0
        if t[1] == "fprintf":
            if not args or [x[1] for x in args[0]] != [stream]:
                continue
            idx = 1
        fmt = literal_text(args[idx]) if idx < len(args) else None
        if fmt is not None:
            out.append((t[2], fmt))
    return out


CONVERSION = re.compile(
    r"%%|%[-+ #0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|z|j|t|L)?"
    r"[diouxXcsp]")


def format_regex(fmt):
    """A regex matching fmt with any text for each conversion, or None when
    the format has no words of its own ("%s%s")."""
    fmt = fmt.rstrip("\n")
    parts, last = [], 0
    for m in CONVERSION.finditer(fmt):
        parts.append(re.escape(fmt[last:m.start()]))
        parts.append("%" if m.group(0) == "%%" else ".+?")
        last = m.end()
    parts.append(re.escape(fmt[last:]))
    words = re.sub(CONVERSION, "", fmt)
    if not re.search(r"[A-Za-z]{3}", words):
        return None
    return re.compile("".join(parts))


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------

def scd_terms(text):
    """{term: block} for each '*term*' line of an scdoc page: the block is
    the indented text that follows, up to the next term or heading."""
    blocks, current = {}, None
    for line in text.splitlines():
        m = re.match(r"\*([^*]+)\*", line)
        if m and not line.startswith("\t"):
            current = m.group(1)
            blocks.setdefault(current, "")
            continue
        if line.startswith("#"):
            current = None
        elif current is not None:
            blocks[current] += line + "\n"
    return blocks


class Docs(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.files = source_files()
        cls.config_c = read("src", "config", "config.c")
        cls.man8 = read("docs", "mta-stsd.8.scd")
        cls.man5 = read("docs", "mta-stsd.conf.5.scd")
        cls.trouble = read("docs", "TROUBLESHOOTING.md")

    # (a) -------------------------------------------------------------------
    def config_tokens(self):
        """The tokens of every file of the loader (src/config/), in one
        list: its key tables and defaults live in keys.c today."""
        names = sorted(n for n in os.listdir(os.path.join(SRC, "config"))
                       if n.endswith(".c") and n != "state.c")
        return [t for n in names for t in self.files[n]]

    def accepted_keys(self):
        """Every key of the loader's tables: the .name fields of struct
        gkey tables and every *_keys[] string array."""
        toks = self.config_tokens()
        keys = []
        for i, t in enumerate(toks):
            if t[0] != "id" or toks[i + 1][1] != "[":
                continue
            if not ("keys" in t[1] and toks[i + 2][1] == "]" and
                    toks[i + 3][1] == "=" and toks[i + 4][1] == "{"):
                continue
            j = i + 5
            depth = 1
            while depth:
                if toks[j][1] == "{":
                    depth += 1
                elif toks[j][1] == "}":
                    depth -= 1
                elif toks[j][0] == "str" and (
                        toks[j - 1][1] in ("{", ",") or
                        toks[j - 2][1] == "name"):
                    keys.append(unquote(toks[j][1]))
                j += 1
        return sorted(set(keys))

    def defaults(self):
        """config_defaults[] as (key, value), value as the file writes it:
        macros of config.c expanded, build-time MTASTSD_* macros as the
        @MTASTSD_*@ placeholders docs/meson.build fills in."""
        toks = self.config_tokens()
        # The macros of the loader and of the headers it includes from
        # src/ (the priority string is tls/priorities.h's).
        headers = []
        for k, v, _ in toks:
            m = k == "pp" and re.match(r'\s*#\s*include\s*"(\w+/[\w.-]+)"', v)
            if m and os.path.exists(os.path.join(SRC, m.group(1))):
                with open(os.path.join(SRC, m.group(1)),
                          encoding="utf-8") as f:
                    headers += tokens(f.read())
        macros = {}
        for k, v, _ in headers + toks:
            m = k == "pp" and re.match(r"\s*#\s*define\s+(\w+)\s+(.*)", v,
                                       re.S)
            if m and "(" not in m.group(1):
                body = tokens(m.group(2).replace("\\\n", "\n"))
                if body and all(b[0] == "str" for b in body):
                    macros[m.group(1)] = "".join(unquote(b[1]) for b in body)
        start = next(i for i, t in enumerate(toks)
                     if t[1] == "config_defaults" and toks[i + 1][1] == "[")
        out = []
        # Walk the initialiser entry by entry: { "key", value },
        j = next(k for k in range(start, len(toks)) if toks[k][1] == "{") + 1
        while True:
            if toks[j][1] == "}":
                break
            if toks[j][1] == "{":
                depth, e = 1, j + 1
                while depth:
                    if toks[e][1] == "{":
                        depth += 1
                    elif toks[e][1] == "}":
                        depth -= 1
                    e += 1
                entry = toks[j + 1:e - 1]
                comma = next(k for k, t in enumerate(entry) if t[1] == ",")
                key, value = entry[:comma], entry[comma + 1:]
                if key[0][1] == "NULL":
                    break
                text = ""
                for t in value:
                    if t[0] == "str":
                        text += unquote(t[1])
                    elif t[0] == "id" and t[1] in macros:
                        text += macros[t[1]]
                    elif t[0] == "id" and t[1].startswith("MTASTSD_"):
                        text += "@%s@" % t[1]
                    else:
                        self.fail("config_defaults[%s]: cannot evaluate %s"
                                  % (unquote(key[0][1]), t[1]))
                out.append((unquote(key[0][1]), text))
                j = e
            else:
                j += 1
        return out

    def test_a_every_setting_is_in_the_conf_page(self):
        keys = self.accepted_keys()
        self.assertIn("listen", keys)
        self.assertIn("names", keys)
        terms = scd_terms(self.man5)
        missing = [k for k in keys if k not in terms]
        self.assertEqual(missing, [], "settings the loader accepts but "
                         "docs/mta-stsd.conf.5.scd does not describe as a "
                         "*term*: %s" % ", ".join(missing))

    def test_a_every_default_is_quoted_word_for_word(self):
        defaults = self.defaults()
        self.assertGreater(len(defaults), 10)
        terms = scd_terms(self.man5)
        wrong = []
        for key, value in defaults:
            line = "Default: " + value
            if line not in terms.get(key, ""):
                wrong.append("%s (expected the line '%s' under *%s*)"
                             % (key, line, key))
        self.assertEqual(wrong, [], "defaults of config_defaults[] missing "
                         "from docs/mta-stsd.conf.5.scd: " + "; ".join(wrong))

    # (b) -------------------------------------------------------------------
    def cli(self, name):
        """(commands, long options, short options) of src/name."""
        path = src_path(name)
        if not os.path.exists(path):
            return set(), set(), set()
        with open(path, encoding="utf-8") as f:
            src = f.read()
        toks = tokens(src)
        commands, longs, shorts = set(), set(), set()
        for _, fmt in call_formats(name, {"fprintf"}, stream="out"):
            for line in fmt.splitlines():
                m = re.match(r"\s*(?:usage:)?\s*mta-stsd\s+\[?([a-z][a-z-]+)",
                             line)
                if m:
                    commands.add(m.group(1))
                longs.update(re.findall(r"(?<![\w-])--([a-z][a-z-]+)", line))
                shorts.update(re.findall(r"(?<![\w-])-([a-zA-Z])\b", line))
        for i, t in enumerate(toks[:-2]):
            # strcmp(command, "txt") in the dispatch
            if t[1] == "strcmp" and toks[i + 2][1] == "command" and \
                    toks[i + 4][0] == "str":
                commands.add(unquote(toks[i + 4][1]))
            # struct option tables: { "name", has_arg, flag, val }
            if t[1] == "{" and toks[i + 1][0] == "str" and \
                    toks[i + 2][1] == "," and \
                    toks[i + 3][1].endswith("_argument"):
                longs.add(unquote(toks[i + 1][1]))
            # getopt_long(argc, argv, "c:vhV", ...)
            if t[1] == "getopt_long" and toks[i + 1][1] == "(":
                args, _ = split_args(toks, i + 1)
                optstring = literal_text(args[2]) or ""
                shorts.update(c for c in optstring if c.isalpha())
        return commands, longs, shorts

    def test_b_every_command_and_option_is_in_the_man_page(self):
        commands, longs, shorts = self.cli("main.c")
        c2, l2, s2 = self.cli("check.c")
        longs |= l2
        shorts |= s2
        for c in ("check-config", "txt", "lint", "demo", "serve"):
            self.assertIn(c, commands)
        terms = scd_terms(self.man8)
        missing = []
        for c in sorted(commands):
            if c not in terms and ("*%s*" % c) not in self.man8 and \
                    ("*mta-stsd %s*" % c) not in self.man8:
                missing.append("command " + c)
        for o in sorted(longs):
            if not re.search(r"(?<![\w-])--%s(?![\w-])" % re.escape(o),
                             self.man8):
                missing.append("--" + o)
        for o in sorted(shorts):
            if not re.search(r"(?<![\w-])-%s(?![\w-])" % re.escape(o),
                             self.man8):
                missing.append("-" + o)
        self.assertEqual(missing, [], "missing from docs/mta-stsd.8.scd: "
                         + ", ".join(missing))

    # (c) -------------------------------------------------------------------
    def test_c_every_diagnostic_code_is_in_troubleshooting(self):
        codes, unresolved = diagnostic_codes(self.files)
        self.assertEqual(unresolved, [], "diag_add() code arguments that "
                         "are not string literals this test can follow")
        self.assertIn("config-mx-invalid", codes)
        documented = set()
        for line in self.trouble.splitlines():
            if line.startswith("#"):
                documented.update(re.findall(r"`([a-z0-9-]+)`", line))
            elif line.startswith("|"):
                cells = [c.strip() for c in line.strip().strip("|")
                         .split("|")]
                # code | message | cause | fix, none of them empty
                if len(cells) >= 4 and all(cells):
                    documented.update(re.findall(r"`([a-z0-9-]+)`",
                                                 cells[0]))
        missing = ["%s (%s)" % (c, ", ".join("%s:%d" % p for p in
                                             codes[c][:2]))
                   for c in sorted(codes) if c not in documented]
        self.assertEqual(missing, [], "diagnostic codes without a heading "
                         "or a table row (code | message | cause | fix) in "
                         "docs/TROUBLESHOOTING.md: " + "; ".join(missing))

    def test_c_every_error_message_is_in_troubleshooting(self):
        messages = []
        logs = {"log_error", "log_error_errno", "log_warn", "log_warn_errno"}
        for name in ("main.c", "http.c"):
            for line, fmt in call_formats(name, logs):
                messages.append((name, line, fmt))
        for line, fmt in call_formats("main.c", {"fprintf"},
                                      stream="stderr"):
            messages.append(("main.c", line, fmt))
        self.assertGreater(len(messages), 20)
        headings = [re.sub(r"`", "", line) for line in
                    self.trouble.splitlines() if line.startswith("#")]
        missing = []
        for name, line, fmt in messages:
            rx = format_regex(fmt)
            if rx and not any(rx.search(h) for h in headings):
                missing.append("%s:%d: %s" % (name, line, fmt.rstrip("\n")))
        self.assertEqual(missing, [], "messages without a heading in "
                         "docs/TROUBLESHOOTING.md (write each conversion "
                         "as a word in capitals):\n" + "\n".join(missing))

    # (d) -------------------------------------------------------------------
    def test_d_man_pages_build_with_scdoc(self):
        scdoc = shutil.which("scdoc")
        if not scdoc:
            if NO_SKIP:
                self.fail("scdoc is not installed")
            self.skipTest("scdoc is not installed")
        for page in ("mta-stsd.8.scd", "mta-stsd.conf.5.scd"):
            with open(os.path.join(DOCS, page), "rb") as f:
                r = subprocess.run([scdoc], stdin=f, capture_output=True,
                                   timeout=30)
            self.assertEqual(r.returncode, 0, "%s: %s" % (
                page, r.stderr.decode("utf-8", "replace")))
            self.assertEqual(r.stderr, b"", page)
            self.assertIn(b".TH", r.stdout, page)

    # (e) -------------------------------------------------------------------
    def test_e_quick_start_is_two_commands_and_ci_runs_the_second(self):
        readme = read("README.md")
        m = re.search(r"^## Quick start\n(.*?)(?=^## )", readme, re.S | re.M)
        self.assertIsNotNone(m, "README.md has no '## Quick start' section")
        commands = []
        for block in re.findall(r"^```[^\n]*\n(.*?)^```", m.group(1),
                                re.S | re.M):
            for line in block.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    commands.append(re.sub(r"^\$\s*", "", line))
        self.assertEqual(len(commands), 2, "README quick start commands: %r"
                         % commands)
        self.assertIn("run-demo.sh", commands[0])
        for c in commands:
            script = c.split()[-1]
            self.assertTrue(os.path.exists(os.path.join(SOURCE_ROOT,
                                                        script)), script)
        ci = [re.sub(r"^exec\s+", "", line.strip())
              for line in read(".ci", "run").splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
        self.assertIn(commands[1], ci, ".ci/run does not run the README's "
                      "second quick-start command %r" % commands[1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
