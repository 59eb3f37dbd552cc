"""What a user sees of a running sweep: the driver's modules log through ``logging`` (module
loggers under ``aesweep.sweeps``); the CLI shows their lines as plain text, information on
stdout, warnings and errors on stderr."""

from __future__ import annotations

import logging
import sys

SWEEP_LOGGER = "aesweep.sweeps"


class ConsoleHandler(logging.Handler):
    """Each record's message alone, on the streams as they are when it is written (a test's
    captured stdout, a redirected one): below WARNING to stdout, the rest to stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stdout if record.levelno < logging.WARNING else sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def console_logging() -> None:
    """Show the sweep driver's lines (INFO and above) on the console; once per process."""
    logger = logging.getLogger(SWEEP_LOGGER)
    logger.setLevel(logging.INFO)
    if not any(isinstance(h, ConsoleHandler) for h in logger.handlers):
        handler = ConsoleHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
