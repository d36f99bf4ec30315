#!/usr/bin/env python3
"""Rewrites README.md's `$ spsim validate --summary` block from the command's output today.

Usage: /usr/bin/python3 validation/update_readme.py build/release/spsim
The block keeps the overall and per-source throughput lines, the rankings line and the memory
lines; ReadmeAccuracy.QuotesWhatValidatePrintsToday checks each quoted line against the command.
"""
import pathlib
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parent.parent
out = subprocess.run([sys.argv[1], "validate", "--summary"], check=True, capture_output=True, text=True,
                     cwd=root).stdout.splitlines()
scheme = out.index("by scheme:")
keep = out[:scheme] + ["..."] + [l for l in out if l.startswith("rankings:")] + ["..."]
keep += [l for l in out if l.startswith("memory:")]
readme = (root / "README.md").read_text()
start = readme.index("$ spsim validate --summary\n") + len("$ spsim validate --summary\n")
end = readme.index("```", start)
(root / "README.md").write_text(readme[:start] + "\n".join(keep) + "\n" + readme[end:])
