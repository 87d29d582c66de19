"""YAML out of data structures with PyYAML (never string templates), keys in the order built.

Multi-line strings (an inline Modelfile, a start-up script) are written as literal blocks
(`|`) so they read as they will run; PyYAML falls back to a quoted scalar by itself when a
block cannot hold the text exactly.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable


@lru_cache(maxsize=1)
def _dumper() -> type:
    import yaml

    class Dumper(yaml.SafeDumper):
        """SafeDumper that writes multi-line strings as literal blocks and never anchors/aliases."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    def represent_str(dumper: yaml.SafeDumper, data: str) -> Any:
        lines = data.split("\n")
        block = len(lines) > 1 and all(line.isprintable() for line in lines)  # no NEL/LS/PS or other breaks
        style = "|" if block else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, represent_str)
    return Dumper


def _options() -> dict[str, Any]:
    return {"Dumper": _dumper(), "sort_keys": False, "default_flow_style": False, "allow_unicode": False, "width": 4096}


def dump(document: Any) -> str:
    import yaml

    return yaml.dump(document, **_options())


def dump_all(documents: Iterable[Any]) -> str:
    import yaml

    return yaml.dump_all(list(documents), explicit_start=True, **_options())
