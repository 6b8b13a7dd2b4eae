"""A progress line per step of the night on the terminal (``doudi run``, ``doudi demo``).

Written to stderr, and only when stderr is a terminal or ``--progress`` asks for it: never into a
log file, a pipe or the JSON a command prints. Each line names the step in plain Chinese (its
``label``) and shows its seconds once done.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

__all__ = ["night_progress"]


@contextmanager
def night_progress(enabled: bool | None = None) -> Iterator[Callable[..., AbstractContextManager] | None]:
    """Yields ``run_night``'s ``progress`` (a context per step), or None when there is nothing to show:
    ``enabled`` None means "when stderr is a terminal"."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    console = Console(stderr=True, force_terminal=sys.stderr.isatty() or None)
    columns = (SpinnerColumn(finished_text="✓"), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:

        @contextmanager
        def step(s) -> Iterator[None]:
            task = progress.add_task(s.label, total=1)
            try:
                yield
            finally:
                progress.update(task, completed=1)

        yield step
