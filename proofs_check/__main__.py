"""``python -m proofs_check [--json] [--only PREFIX ...] [--markdown]``.

Prints the table of checks; exits 0 only when every check passed (a failed or
"not verified" check gives exit status 1).
"""

from __future__ import annotations

import argparse
import sys

from .core import all_passed, format_table, run_all, to_json


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m proofs_check", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--only", nargs="*", default=None, metavar="PREFIX",
                    help="run only checks whose name starts with one of these prefixes")
    ap.add_argument("--brief", action="store_true", help="omit the details of passed checks")
    args = ap.parse_args(argv)
    results = run_all(args.only)
    if args.json:
        print(to_json(results))
    else:
        print(format_table(results, style="markdown" if args.markdown else "text", details=not args.brief))
    return 0 if all_passed(results) else 1


if __name__ == "__main__":
    sys.exit(main())
