"""Give memory the night has finished with back to the operating system.

Arrow's allocator (mimalloc in the pyarrow wheel) and glibc's malloc keep freed memory for reuse, so
a night's resident memory stays at the high-water mark of its largest delivery plus whatever ran
beside it (the feed contracts' thread, DuckDB): at 5M persons one registry delivery's frame is about
a GiB. Called between deliveries; costs milliseconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["release_memory"]

log = logging.getLogger(__name__)

_libc = None


def release_memory() -> None:
    """Return unused Arrow pool memory and (glibc) free heap pages to the operating system."""
    global _libc
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - an allocator without the call
        log.debug("arrow pool: release_unused not available")
    if _libc is None:
        name = ctypes.util.find_library("c")
        _libc = ctypes.CDLL(name) if name else False
    trim = getattr(_libc, "malloc_trim", None) if _libc else None
    if trim is not None:  # glibc only
        trim(0)
