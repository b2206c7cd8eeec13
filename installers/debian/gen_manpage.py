"""Print sceau(1) in roff from the command line's own argparse help (run by the package's Python)."""

from __future__ import annotations

import argparse
import datetime
import os

from sceau import __version__
from sceau.cli import build_parser


def esc(text: str) -> str:
    lines = (line.replace("\\", "\\\\").replace("-", "\\-") for line in text.splitlines())
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in lines)


def main() -> None:
    os.environ.setdefault("COLUMNS", "80")
    parser = build_parser()
    parser.prog = "sceau"
    stamp = int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or None
    day = datetime.datetime.fromtimestamp(stamp, datetime.UTC) if stamp else datetime.datetime.now(datetime.UTC)
    out = [
        f'.TH SCEAU 1 "{day:%Y-%m-%d}" "sceau {__version__}" "User Commands"',
        ".SH NAME",
        "sceau \\- signature, authentication and encryption with the certificate on your token",
        ".SH SYNOPSIS",
        ".B sceau",
        "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]",
        ".SH DESCRIPTION",
        esc(parser.description or ""),
        ".SH OPTIONS",
        ".nf",
        esc(parser.format_help()),
        ".fi",
        ".SH COMMANDS",
    ]
    for action in parser._actions:  # argparse has no public accessor for subcommands
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                out += [f".SS {esc(name)}", esc(helps.get(name, "")), ".nf", esc(sub.format_help()), ".fi"]
    out += [
        ".SH FILES",
        ".TP",
        "/usr/lib/sceau",
        "the agent and native host (virtual environment)",
        ".TP",
        "/usr/share/sceau/extension",
        "the browser extension (CRX, XPI) provisioned by browser policies",
        ".SH SEE ALSO",
        "/usr/share/doc/sceau",
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
