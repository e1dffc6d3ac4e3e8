"""Errors the CLI turns into exit statuses.

`InputError` (exit 2): the user gave something we cannot use (missing file, no article text, bad flag value).
`AudioEditionError` (exit 1): something else went wrong; the message says what to do next.
Both carry one line of text meant for stderr, never a traceback.
A batch (`build` or `enqueue` of several articles) where some were refused or unreadable and the others were
built exits with EXIT_SOME_SKIPPED.
`ahead` does a step early in a background thread and leaves its error for the step's own later call to report.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

EXIT_SOME_SKIPPED = 3


class AudioEditionError(Exception):
    """A failure with a one-line message and, optionally, a hint on what to do next."""

    exit_status = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return " ".join(text.split())


class InputError(AudioEditionError):
    """Bad usage or bad input: exit status 2."""

    exit_status = 2


class RefusedArticle(InputError):
    """An article the content guards refuse before synthesis (not French, cut by a paywall, too little text).

    `reason` is "language", "paywall" or "thin". In a batch the other articles go on (exit 3 when some were
    refused); alone, it is bad input (exit 2).
    """

    def __init__(self, message: str, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.reason = reason


def too_many_blocks(count: int, limit: int) -> RefusedArticle:
    """The one line for an article over the block cap ([limits] max_blocks), wherever it is counted."""
    shown = f"{count}" if count <= limit * 10 else f"over {limit * 10}"
    return RefusedArticle(f"refused: the article has {shown} blocks, over the limit of {limit} (limits.max_blocks)",
                          "too long")


def ahead(step: Callable[[], object], name: str) -> None:
    """Start `step` in a daemon thread, ahead of when it is needed (while the build reads its articles). An
    AudioEditionError it raises is dropped there: the caller's own later call makes the step again and reports it
    in one line, where the command can exit."""
    def run() -> None:
        try:
            step()
        except AudioEditionError:
            pass

    threading.Thread(target=run, name=name, daemon=True).start()
