"""The feed contracts' own process during ``doudi run`` (see :class:`expectations.background.BackgroundValidation`).

``python -m expectations.worker LEVEL PARENT_PID`` imports Great Expectations at once, then reads
pickled jobs from its standard input, one night's deliveries (spilled to Parquet) each: it runs the
suites on them, writes the result, pickled, to the file the job names and answers ``done`` on its
standard output. The night starts it before ingest, so that GX's import (1.8-2.5 s of GIL-holding
Python) runs beside ingest instead of inside the night's process; later nights of the same process
reuse it. It ends with its input (the night's process closed it, or ended) and dies with its
parent (Linux: ``PR_SET_PDEATHSIG``), so that a killed night does not leave GX working behind it.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import traceback
from pathlib import Path


def _die_with(parent: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the end of its input still stops it when idle
        pass
    if parent and os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    level = int(argv[0]) if argv else logging.WARNING
    _die_with(int(argv[1]) if len(argv) > 1 else 0)
    # the answers keep the pipe that was standard output; whatever GX or a C library prints to
    # standard output goes to the log instead, not into the answers
    jobs, answers = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from expectations.gx_import import import_gx

    import_gx()
    from expectations.suites import _parquet_batch, _run_suites

    while True:
        try:
            job = pickle.load(jobs)
        except EOFError:  # the night's process is done with it
            return 0
        out = Path(job["out"])
        try:
            batches = [_parquet_batch(Path(p), spec) for p, spec in job["batches"]]
            result = ("ok", _run_suites(batches, job["limits"], job["docs_dir"], job["part_rows"]))
        except Exception as exc:  # noqa: BLE001 - handed to the night's process, which raises it
            logging.getLogger("expectations").error("feed contracts failed:\n%s", traceback.format_exc())
            result = ("error", f"{type(exc).__name__}: {exc}")
        partial = out.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(result))
        os.replace(partial, out)  # the night reads a whole result or none
        answers.write(b"done\n")
        answers.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
