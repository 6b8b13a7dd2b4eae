"""One exception hierarchy; every message tells the user what to do next.

Each error carries the exit status ``doudi`` ends with when it stops a command (``exit_code``):
2 for a usage, path or policy error (nothing was changed), 5 when the warehouse is held by another
process, 6 when a night's data was saved but what it publishes (exports, casework store, monthly
report) could not be written. ``expected_failure`` turns the failures a user or a machine can cause
(a path that is a folder, a file where a folder belongs, no permission, a full disk) into such errors.
"""

from __future__ import annotations

import errno

__all__ = [
    "DoudiError",
    "PolicyError",
    "FeedRejected",
    "WarehouseError",
    "WarehouseBusy",
    "PublishFailed",
    "expected_failure",
]


class DoudiError(Exception):
    """Base of every error the pipeline raises on purpose."""

    exit_code = 2


class PolicyError(DoudiError):
    """A rule or region-policy file is invalid: the night stops before it starts."""


class FeedRejected(DoudiError):
    """A delivered file cannot be used at all (unreadable, undecodable, missing a required column)."""


class WarehouseError(DoudiError):
    """The warehouse path is not a DuckDB warehouse that can be opened (a folder, a CSV, no permission)."""


class WarehouseBusy(WarehouseError):
    """Another process holds the warehouse (DuckDB: one writer at a time): nothing was changed, try again."""

    exit_code = 5


class PublishFailed(DoudiError):
    """The night's data is saved, but its exports, casework publish or monthly report could not be written."""

    exit_code = 6


_OS_REASONS = {
    errno.EISDIR: "{name} is a folder: give a file name",
    errno.ENOTDIR: "a part of {name} is a file, not a folder",
    errno.EEXIST: "{name} is a file where a folder is expected",
    errno.ENOENT: "{name} does not exist",
    errno.EACCES: "no permission to write or read {name}",
    errno.EPERM: "{name} may not be changed (read-only or immutable)",
    errno.EROFS: "{name} is on a read-only file system",
    errno.ENOSPC: "no space left on the disk of {name}",
    errno.EDQUOT: "disk quota exceeded writing {name}",
}


def expected_failure(exc: BaseException) -> DoudiError | None:
    """The one-line error for a failure the user or the machine caused, or None for a bug.

    ``DoudiError`` stands as it is; an ``OSError`` from the file system (and DuckDB's ``IOException``,
    its form of the same) becomes a ``DoudiError`` naming the path and what is wrong with it. Anything
    else is a defect and keeps its traceback.
    """
    if isinstance(exc, DoudiError):
        return exc
    if isinstance(exc, OSError) and exc.errno is not None:
        name = exc.filename if exc.filename is not None else "a file"
        template = _OS_REASONS.get(exc.errno)
        if template:
            return DoudiError(template.format(name=name))
        return DoudiError(f"{name}: {exc.strerror or exc}")
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is a dependency
        return None
    if isinstance(exc, duckdb.IOException):  # DuckDB could not read or write a file (COPY TO, a spill)
        return DoudiError(str(exc).removeprefix("IO Error: "))
    return None
