"""Import Great Expectations without the modules it imports only for what the night never runs.

``import great_expectations`` imports ``scipy.stats`` (for the KL-divergence and KS-test
expectations) and ``altair`` (for the KL-divergence chart) at its own import, though the feed
contracts use neither. That is 1.2-1.4 s of the ~3.2 s GX takes to import (2 cores, CPython 3.11,
GX 1.24.1), all of it GIL-holding Python in the validation thread that runs beside the night's
SQL. :func:`import_gx` puts those modules off: each is a stand-in in ``sys.modules`` until
something reads one of its attributes, which imports the real module whole, as usual.

The standard library's ``importlib.util.LazyLoader`` does not do here: on 3.11 the import system
reads ``__spec__`` of a module it finds in ``sys.modules``, and that read already loads a lazy one.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

__all__ = ["DEFERRED", "import_gx"]

DEFERRED = ("scipy.stats", "altair")

_lock = threading.RLock()


class _Deferred(types.ModuleType):
    """Stands in for a module not imported yet; its first attribute read imports the module."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(_load(self), attr)


def _load(stand_in: _Deferred) -> types.ModuleType:
    name = stand_in.__name__
    with _lock:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        real = importlib.import_module(name)
        vars(stand_in).update(vars(real))  # whoever holds the stand-in reads the module's own names
    return real


def _defer(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stand_in = _Deferred(name)
    stand_in.__spec__ = spec
    stand_in.__file__ = spec.origin
    if spec.submodule_search_locations is not None:
        stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = stand_in


def import_gx() -> types.ModuleType:
    """``great_expectations``, imported with :data:`DEFERRED` put off."""
    with _lock:
        if "great_expectations" not in sys.modules:
            for name in DEFERRED:
                _defer(name)
    import great_expectations

    return great_expectations
