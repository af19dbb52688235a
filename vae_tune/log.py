"""The `vae_tune` logger: runtime events (data ready, Ray started, a checkpoint skipped) go through it.

The console progress lines of a running study (vae_tune.tuning.progress) are
the study's output, printed as they are; everything else a module has to say
goes to `logger` (or a child, `logging.getLogger(__name__)`), so a notebook or
a program embedding vae-tune can silence, filter or redirect it like any other
library's logging.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("vae_tune")
_TRACEBACKS = logging.Formatter()  # formats exc_info and stack_info the standard way


class _ConsoleHandler(logging.Handler):
    """`vae-tune: message`, `vae-tune: warning: message` for warnings and worse (the lines users know), on
    whatever sys.stdout is at the time: a notebook or a test that swaps it sees them. A `logger.exception`
    (or `exc_info=`, `stack_info=`) keeps its traceback below the line, as logging's own handlers do."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.levelno >= logging.WARNING:
                message = f"{record.levelname.lower()}: {message}"
            if record.exc_info:
                message += "\n" + _TRACEBACKS.formatException(record.exc_info)
            if record.stack_info:
                message += "\n" + _TRACEBACKS.formatStack(record.stack_info)
            sys.stdout.write(f"vae-tune: {message}\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - logging's own contract: a failed emit never raises
            self.handleError(record)


def show_on_console() -> None:
    """Print the logger's INFO and above on stdout, unless the "vae_tune" logger has handlers already.

    Called by the command line and by run_study / resume_study, whose callers
    follow a study on the console. A program that configured the "vae_tune"
    logger before keeps its own handling.
    """
    if logger.handlers:
        return
    logger.addHandler(_ConsoleHandler())
    logger.setLevel(logging.INFO)
