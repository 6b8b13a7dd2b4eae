"""The feed contracts' own process during ``doudi run`` (see :class:`expectations.suites.BackgroundValidation`).

``python -m expectations.worker LEVEL`` imports Great Expectations at once, then reads one pickled
job from its standard input (the night's deliveries, spilled to Parquet), runs the suites on them
and writes its result, pickled, to the file the job names. The night starts it before ingest, so
that GX's import (1.8-2.5 s of GIL-holding Python) runs beside ingest instead of inside the night's
process. Standard input closed without a job (a night with nothing to validate): it exits.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    level = int(argv[0]) if argv else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from expectations.gx_import import import_gx

    import_gx()
    from expectations.suites import _parquet_batch, _run_suites

    try:
        job = pickle.load(sys.stdin.buffer)
    except EOFError:  # nothing to validate tonight
        return 0
    out = Path(job["out"])
    try:
        batches = [_parquet_batch(Path(p), d, feed, source) for p, d, feed, source in job["batches"]]
        result = ("ok", _run_suites(batches, job["mostly"], job["docs_dir"], job["part_rows"]))
    except Exception as exc:  # noqa: BLE001 - handed to the night's process, which raises it
        logging.getLogger("expectations").error("feed contracts failed:\n%s", traceback.format_exc())
        result = ("error", f"{type(exc).__name__}: {exc}")
    partial = out.with_suffix(".partial")
    partial.write_bytes(pickle.dumps(result))
    os.replace(partial, out)  # the night reads a whole result or none
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
