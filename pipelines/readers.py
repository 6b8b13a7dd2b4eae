"""Read one delivered file into an Arrow table of text: the code lives in
:mod:`pipelines.ingest.readers`, one module per format; this module keeps the names ingest, the
synthetic county and the tests import.
"""

from __future__ import annotations

from pipelines.ingest.readers import (
    FORMATS,
    HEADER_SCAN_ROWS,
    FeedHeaderScore,
    FileContent,
    ReadLimits,
    read_delivery,
)

__all__ = ["FileContent", "FeedHeaderScore", "ReadLimits", "read_delivery", "FORMATS", "HEADER_SCAN_ROWS"]
