"""What a build shows: progress bars and warnings on stderr, the summary and where the files are on stdout.

Kept apart from the orchestration (`build.run`) so that the library can build without a terminal: `Silent`
shows nothing and leaves the messages to logging.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from audio_edition.build.article import ArticleProgress, Quiet

if TYPE_CHECKING:
    from audio_edition.build.run import BuildOutcome

log = logging.getLogger("audio_edition.build")


class BuildDisplay(Protocol):
    def warning(self, message: str) -> None: ...

    def note(self, message: str) -> None: ...

    @contextmanager
    def episodes(self, total: int) -> Iterator[None]: ...

    def article(self) -> ArticleProgress: ...

    def episode_done(self) -> None: ...

    def finished(self, outcome: BuildOutcome) -> None: ...


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {secs:02d} s" if hours else f"{minutes} min {secs:02d} s"


def summary_line(outcome: BuildOutcome) -> str:
    """The one line a build ends with: what was built, how long it took, which engine spoke."""
    summary, stats = outcome.summary, outcome.stats
    rtf = summary.real_time_factor
    return (
        f"{summary.built} episode(s) built, {summary.unchanged} unchanged; "
        f"audio {format_duration(summary.audio_seconds)}; wall time {summary.wall_seconds:.1f} s"
        + (f"; real-time factor {rtf:.2f}" if rtf is not None else "")
        + (f"; {stats.synthesized} sentence(s) spoken, {stats.cached} from cache"
           if stats.synthesized or stats.cached else "")
        + "; engine " + ", ".join(sorted({f"{e.engine} ({e.voice})" for e in outcome.episodes})
                                  or [outcome.engine])
        + (f"; {len(outcome.skipped)} article(s) skipped (refused or unreadable)" if outcome.skipped else ""))


class Silent:
    """No terminal: warnings and notes go to logging, the rest nowhere."""

    def warning(self, message: str) -> None:
        log.warning("%s", message)

    def note(self, message: str) -> None:
        log.info("%s", message)

    @contextmanager
    def episodes(self, total: int) -> Iterator[None]:
        yield

    def article(self) -> ArticleProgress:
        return Quiet()

    def episode_done(self) -> None:
        pass

    def finished(self, outcome: BuildOutcome) -> None:
        log.info("%s", summary_line(outcome))


@dataclass
class _ArticleBar:
    progress: Progress
    task: TaskID | None = None
    label: str = ""

    def speaking(self, slug: str, utterances: int) -> None:
        self.label = slug if len(slug) <= 40 else slug[:39] + "…"
        self.task = self.progress.add_task(f"  {self.label}", total=utterances)

    def spoke(self) -> None:
        if self.task is not None:
            self.progress.advance(self.task)

    def assembling(self) -> None:
        if self.task is not None:
            self.progress.update(self.task, description=f"  {self.label} (assembling)")


class Terminal:
    """rich progress bars on stderr (one for the run, one per article), the summary on stdout."""

    def __init__(self, out: Console | None = None, err: Console | None = None) -> None:
        self.out = out or Console()
        self.err = err or Console(stderr=True)
        self._progress: Progress | None = None
        self._overall: TaskID | None = None

    def _print(self, console: Console, text: str) -> None:
        console.print(text, highlight=False, markup=False, soft_wrap=True)

    def warning(self, message: str) -> None:
        self.err.print(f"[bold red]WARNING:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)

    def note(self, message: str) -> None:
        self._print(self.err, message)

    @contextmanager
    def episodes(self, total: int) -> Iterator[None]:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=self.err) as progress:
            self._progress, self._overall = progress, progress.add_task("Episodes", total=total)
            try:
                yield
            finally:
                self._progress = self._overall = None

    def article(self) -> ArticleProgress:
        return _ArticleBar(self._progress) if self._progress is not None else Quiet()

    def episode_done(self) -> None:
        if self._progress is not None and self._overall is not None:
            self._progress.advance(self._overall)

    def finished(self, outcome: BuildOutcome) -> None:
        for episode in outcome.episodes:
            self._print(self.out, f"{Path(episode.directory) / episode.audio_file}")
        self._print(self.out, summary_line(outcome))
        self._print(self.out, f"feed: {outcome.feed}")
