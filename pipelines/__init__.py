"""doudi's nightly pipeline.

Until issue 21's package move, a module may already have the folder of its future package beside it
(``ingest.py`` and ``ingest/``, which holds ``sources/`` and ``readers/``). Python would load the
module and never look into the folder; the finder below loads such a module *as* a package whose
path is that folder, so that ``pipelines.ingest.sources`` imports. Once the module has moved into its
folder (``ingest/__init__.py`` or another name there), the finder finds nothing to do.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent


class _ModuleBesideItsPackage(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        prefix, _, name = fullname.rpartition(".")
        if prefix != __name__ or not name:
            return None
        module, folder = _HERE / f"{name}.py", _HERE / name
        if not module.is_file() or not folder.is_dir() or (folder / "__init__.py").exists():
            return None
        return importlib.util.spec_from_file_location(fullname, module, submodule_search_locations=[str(folder)])


if not any(isinstance(f, _ModuleBesideItsPackage) for f in sys.meta_path):
    sys.meta_path.insert(0, _ModuleBesideItsPackage())
