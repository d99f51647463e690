"""User-facing errors and the CLI wrapper that reports them on one line."""
from __future__ import annotations

import functools
import sys


class UserError(Exception):
    """An error caused by what the user gave us (a file, an option, a checkpoint).

    Command-line tools print ``str(error)`` on one line, without a traceback,
    and exit with ``exit_code``.
    """

    exit_code = 2


class DataError(UserError):
    """A bad input file: unreadable, truncated, too small, or inconsistent."""

    exit_code = 1


class TrainingDiverged(UserError):
    """Training produced a non-finite loss or weight; stopped without saving over finite files."""

    exit_code = 3


class OptionError(UserError):
    """A bad option: unknown key, wrong type, missing file or impossible value."""

    exit_code = 2


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    # DataLoader workers re-raise our errors wrapped in a multi-line message whose
    # last line is the original "module.Class: message"; show only that message.
    if 'Original Traceback' in msg:
        last = [ln for ln in msg.strip().splitlines() if ln.strip()][-1]
        msg = last.split(': ', 1)[1] if ': ' in last else last
    msg = ' '.join(msg.split())
    # a message quoting a huge value (an expanded YAML alias, a long list) stays one short line
    return msg if len(msg) <= MAX_MESSAGE else msg[:MAX_MESSAGE - 5] + ' ...'


MAX_MESSAGE = 600


def cli_entry(prog: str):
    """Decorate a ``main(argv=None) -> int`` so user errors exit cleanly."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(argv=None):
            try:
                code = fn(argv)
            except UserError as e:
                print(f'{prog}: error: {_one_line(e)}', file=sys.stderr)
                return e.exit_code
            except KeyboardInterrupt:
                print(f'{prog}: interrupted', file=sys.stderr)
                return 130
            return int(code or 0)

        def main(argv=None):
            sys.exit(wrapper(argv))

        main.run = wrapper  # returns the exit code instead of exiting (tests)
        return main

    return deco
