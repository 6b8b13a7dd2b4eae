"""Policy problems as ``path:line: key: problem``: the line of the YAML node a pydantic error names."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelines.core.errors import PolicyError

__all__ = ["invalid", "line_of"]


def line_of(root: yaml.Node | None, loc: tuple) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location (or of its nearest parent)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def invalid(path: Path, root: yaml.Node | None, errors: list[tuple[tuple, str]]) -> PolicyError:
    lines = []
    for loc, msg in errors:
        line = line_of(root, loc)
        lines.append(f"{path}:{line}: {'.'.join(str(p) for p in loc) or '(file)'}: {msg}")
    return PolicyError("invalid policy:\n  " + "\n  ".join(lines))
