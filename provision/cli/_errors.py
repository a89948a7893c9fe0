"""Turn every failure into a clean message and an exit code; no traceback reaches a user.
An unexpected error writes its (redacted) traceback to a log file and says where."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from provision.errors import ProvisionError
from provision.record import record
from provision.report import Output
from provision.secrets import REDACTOR


@record(frozen=False, kw_only=False)
class Result:
    """The exit code `error_handler` settles on: set by the caller, or by the handler on failure."""

    code: int = 0


@contextmanager
def error_handler(*, no_color: bool = False) -> Iterator[Result]:
    result = Result()
    output = Output(no_color=no_color)
    try:
        yield result
    except ProvisionError as exc:
        output.diagnostics(exc.diagnostics)
        result.code = 1
    except KeyboardInterrupt:
        # Off the line the terminal echoed ^C on, as click does for the commands it runs.
        output.err("\nInterrupted.")
        result.code = 130
    except BrokenPipeError:
        result.code = 1
    except Exception as exc:
        code = _click_error(exc, output)
        if code is None:
            log = _write_log(exc)
            output.err(f"error: An unexpected error has occurred: {type(exc).__name__}")
            output.err(f"  The details are in {log}; please report it.")
            code = 1
        result.code = code


def _click_error(exc: Exception, output: Output) -> int | None:
    """The exit code of a click usage error or abort, reported; None for anything else. A run
    that never imported click (a command line `_options.parse` read) cannot have raised one."""
    click = sys.modules.get("click")
    if click is None:
        return None
    if isinstance(exc, click.exceptions.Abort):
        # click turns Ctrl-C into Abort; EOF at a prompt is an Abort too, but not an interrupt.
        interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
        output.err("Interrupted." if interrupted else "Aborted.")
        return 130 if interrupted else 1
    if isinstance(exc, click.ClickException):
        output.err(f"error: {exc.format_message()}")
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            output.err(f"Run '{exc.ctx.command_path} --help' for usage.")
        return 1
    return None


def _write_log(exc: BaseException) -> str:
    import tempfile  # only after a crash: every clean run is spared their import
    import traceback

    text = "".join(traceback.format_exception(exc))
    fd, path = tempfile.mkstemp(prefix="provision-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(REDACTOR.redact(text))
    return path
