#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The dependency rule of docs/ARCHITECTURE.md, read from the #include lines.

- A file in src/<part>/ includes "quoted" headers only from its own part or
  a part lower in LAYERS.
- A foreign library's header appears only in the parts that own it.
- The pure parts never include the logger.
Prints every violation as FILE:LINE: message and exits 1 if there is one.
Usage: check-layering.py [SRC_DIR]
"""
import os
import re
import sys

# Lowest first; a part may include its own layer and any below it.
LAYERS = ["util", "core", "tls", "config", "acme", "server", "checker",
          "cli"]

# Foreign header prefix -> the parts allowed to include it.
OWNERS = {
    "gnutls/": {"tls"},
    "libconfig.h": {"config"},
    "microhttpd.h": {"server"},
    "curl/": {"acme", "checker"},
    "unbound.h": {"checker"},
    "json-c/": {"acme", "checker", "cli"},
    "systemd/": {"cli"},
    "syslog.h": {"util"},
}

# Parts that do no I/O and never log (STYLE.md, "A pure module ...").
PURE = {"core"}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')


def check(src):
    problems = []
    for part in sorted(os.listdir(src)):
        folder = os.path.join(src, part)
        if not os.path.isdir(folder):
            continue
        if part not in LAYERS:
            problems.append(f"{folder}: folder not in the layer table of "
                            "tests/layering/check-layering.py and "
                            "docs/ARCHITECTURE.md")
            continue
        rank = LAYERS.index(part)
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
            for no, line in enumerate(lines, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                kind, header = m.groups()
                where = f"{path}:{no}"
                if kind == '"':
                    if header == "buildconf.h":
                        continue
                    if "/" not in header:
                        problems.append(f"{where}: include \"{header}\" "
                                        "names no part; write "
                                        "\"<part>/" + header + "\"")
                        continue
                    target = header.split("/", 1)[0]
                    if target not in LAYERS:
                        problems.append(f"{where}: \"{header}\" is in no "
                                        "known part")
                    elif LAYERS.index(target) > rank:
                        problems.append(f"{where}: {part}/ includes "
                                        f"\"{header}\" from the higher part "
                                        f"{target}/ (dependencies point "
                                        "down)")
                    elif part in PURE and header == "util/log.h":
                        problems.append(f"{where}: {part}/ is pure and "
                                        "must not log")
                    continue
                for prefix, owners in OWNERS.items():
                    if header.startswith(prefix) and part not in owners:
                        problems.append(f"{where}: <{header}> belongs to "
                                        f"{'/, '.join(sorted(owners))}/ "
                                        f"only, not {part}/")
    return problems


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")
    problems = check(src)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layering problem(s)")
        return 1
    print("layering: every include points down, foreign headers stay "
          "with their owners")
    return 0


if __name__ == "__main__":
    sys.exit(main())
