"""The console entry point: `main()` runs the click group and turns every ReproError into
one line on stderr and exit 2 (a traceback only with --debug); SIGTERM and SIGINT unwind
cleanly and exit 2.

Exit codes, as diff(1), diffoscope and diffoci: 0 identical / reproducible,
1 differences found, 2 trouble (bad input, build failure, missing tool).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import traceback
from typing import Any

import click

from repro.cli.commands import cli
from repro.errors import ReproError


class Terminated(BaseException):
    """SIGTERM or SIGINT arrived: unwind (so daemons, mounts and temp dirs are cleaned up
    on the way) and exit 2. A BaseException, as KeyboardInterrupt is, so that no
    `except Exception` or `except ReproError` on the way (a look-up that must never fail
    a comparison, a corrupt stream blamed on its blob) can swallow it; and not a
    KeyboardInterrupt, which click answers with a stray blank line on stderr."""


_SIGNALS = {signal.SIGTERM: "terminated by signal", signal.SIGINT: "interrupted"}


def _on_signal(signum: int, frame: Any) -> None:
    # a second signal must not cut the clean-up the first one started short (SIGKILL still works)
    for other in _SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    raise Terminated(_SIGNALS.get(signum, f"signal {signum}"))


def main(argv: list[str] | None = None) -> None:
    """Entry point: one line on stderr and exit 2 for any trouble; traceback only with --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    old = {signum: signal.signal(signum, _on_signal) for signum in _SIGNALS}
    try:
        rv = cli.main(args=args, prog_name="repro", standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.UsageError as e:
        click.echo(f"repro: error: {usage_line(e, args)}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"repro: error: {_one_line(e.format_message())}", err=True)
        sys.exit(2)
    except click.Abort:
        click.echo("repro: error: interrupted", err=True)
        sys.exit(2)
    except ReproError as e:
        if debug:
            traceback.print_exc()
        click.echo(f"repro: error: {_one_line(str(e))}", err=True)
        for line in e.details:  # e.g. a failed build step's last output lines
            click.echo(f"  | {_visible(line)}", err=True)
        sys.exit(e.exit_code)
    except Terminated as e:
        click.echo(f"repro: error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("repro: error: interrupted", err=True)
        sys.exit(2)
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as e:  # a bug: still one line, and exit 2 (never 1, which means "differs")
        if debug:
            traceback.print_exc()
        click.echo(f"repro: internal error: {type(e).__name__}: {_one_line(str(e))} (rerun with --debug)", err=True)
        sys.exit(2)
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_DID_YOU_MEAN = re.compile(r"\.?\s*\(?(Did you mean [^?]*\?)\)?\s*$")


def usage_line(e: click.UsageError, args: list[str] | None = None) -> str:
    """A click usage error as one line, as git and skopeo print them: which command, what
    is wrong, the nearest valid spelling, where the help is. No usage block."""
    msg = _one_line(e.format_message()).rstrip(".")
    m = _DID_YOU_MEAN.search(msg)
    if m:
        hint = m.group(1)
        msg = msg[:m.start()].rstrip(".") + f" ({hint[0].lower()}{hint[1:]})"
    msg = msg[:1].lower() + msg[1:]
    path = e.ctx.command_path if e.ctx is not None else "repro"
    if path == "repro":  # some parser errors carry no context: name the command from argv
        path += next((" " + a for a in args or () if a in cli.commands), "")
    sub = path.split(" ", 1)[1] + ": " if " " in path else ""
    return f"{sub}{msg}; see '{path} --help'"


def _visible(text: str) -> str:
    """`text` with control characters escaped (it may come from a build or an image)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _one_line(msg: str) -> str:
    """At most three lines of `msg` joined with " / ", control characters escaped: names
    in messages come from images, and an escape sequence must not reach the terminal."""
    lines = [l for l in msg.strip().splitlines() if l.strip()]
    text = " / ".join(lines[:3]) if lines else "unknown error"
    return _visible(text)
