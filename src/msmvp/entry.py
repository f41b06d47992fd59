"""The ``msmvp`` command. Kept apart from :mod:`msmvp.cli` so that a Ctrl-C while the CLI is
still loading prints one line instead of a traceback, and so that an ordinary command line is
parsed by :mod:`msmvp.argv` without importing typer (see there)."""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def main() -> None:
    try:
        from msmvp import argv

        call = argv.parse(sys.argv[1:])
        code = argv.run(call) if call is not None else None
        if call is None or code is None:
            from msmvp.cli import main as cli_main

            cli_main()
    except KeyboardInterrupt:
        from msmvp._apply import interrupted_message

        sys.stderr.write(f"msmvp: {interrupted_message()}\n")
        raise SystemExit(130) from None
    exit_now(code)


def exit_now(code: str | int | None) -> NoReturn:
    """Exit with ``code`` without tearing the interpreter down.

    By the time a command returns, every file it wrote is closed and its child processes have
    been waited for; freeing the loaded modules and objects (pydantic schemas, Jinja templates)
    took 0.1-0.2 s of each run. Only the standard streams need flushing. Under coverage or a
    profiler (their data is saved at exit) the normal exit is kept.
    """
    if "coverage" in sys.modules or sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    status = code if isinstance(code, int) else (0 if code is None else 1)
    if isinstance(code, str):
        print(code, file=sys.stderr)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # e.g. stdout piped into `head`, which has gone
        status = status or 1
    os._exit(status)
