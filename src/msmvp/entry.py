"""The ``msmvp`` command. Kept apart from :mod:`msmvp.cli` so that a Ctrl-C while the CLI is
still loading (importing typer and rich) prints one line instead of a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from msmvp.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        from msmvp._apply import interrupted_message

        sys.stderr.write(f"msmvp: {interrupted_message()}\n")
        raise SystemExit(130) from None
