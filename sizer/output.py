"""The one output sink: a versioned JSON envelope for scripts, plain tables for people.

Only the result goes to stdout; warnings and hints go to stderr, so ``sizer … --json | jq``
always parses.  Every ``--json`` document is an :class:`Envelope` whose ``data`` has a
published JSON Schema (``sizer schema NAME``; committed under ``sizer/schemas/``).
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any, Callable, Generic, Literal, Optional, Sequence, TypeVar

from pydantic import BaseModel, Field, TypeAdapter

SCHEMA_VERSION = 1

DataT = TypeVar("DataT")


class ErrorItem(BaseModel):
    """One error in a JSON envelope."""

    code: str = Field(description="Stable machine-readable code, e.g. 'invalid-input'.")
    message: str


class Envelope(BaseModel, Generic[DataT]):
    """What every `--json` output of sizer is: a versioned wrapper around the command's data."""

    schema_version: int = SCHEMA_VERSION
    command: str
    status: Literal["ok", "error"] = "ok"
    data: Optional[DataT] = None
    warnings: list[str] = Field(default_factory=list)
    errors: list[ErrorItem] = Field(default_factory=list)


def _attr(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


# Command name -> the type of its `data`, imported lazily so that `sizer --help` does not
# import the estimator.  A command that adds JSON output registers its type here.
DATA_TYPES: dict[str, Callable[[], Any]] = {
    "detect": lambda: _attr("sizer.types:Machine"),
    "hardware": lambda: list[_attr("sizer.types:HardwareEntry")],  # type: ignore[misc]
    "models": lambda: list[_attr("sizer.types:ModelEntry")],  # type: ignore[misc]
    "estimate": lambda: _attr("sizer.estimate.result:Estimate"),
    "recommend": lambda: _attr("sizer.recommend.result:Recommendation"),
    "plan": lambda: _attr("sizer.recommend.result:HardwarePlan"),
    "deploy": lambda: _attr("sizer.deploy.result:Deployment"),
    "hardware-catalog": lambda: _attr("sizer.types:HardwareCatalog"),
    "models-catalog": lambda: _attr("sizer.types:ModelCatalog"),
}


def schema_names() -> list[str]:
    return sorted(DATA_TYPES)


def json_schema(name: str) -> dict:
    """The JSON Schema of a command's `--json` output, or of a catalog file (`*-catalog`)."""
    data_type = DATA_TYPES[name]()
    if name.endswith("-catalog"):
        schema = TypeAdapter(data_type).json_schema()
    else:
        schema = TypeAdapter(Envelope[data_type]).json_schema()  # type: ignore[valid-type]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://sizer.dev/schemas/{name}.schema.json"
    schema.setdefault("title", f"sizer {name}")
    return schema


def to_jsonable(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, (list, tuple)):
        return [to_jsonable(item) for item in data]
    return data


def envelope(command: str, data: Any, warnings: Sequence[str] = ()) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "status": "ok",
        "data": to_jsonable(data),
        "warnings": list(warnings),
        "errors": [],
    }


def error_envelope(command: str, code: str, message: str) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "status": "error",
        "data": None,
        "warnings": [],
        "errors": [{"code": code, "message": message}],
    }


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def warn(message: str) -> None:
    sys.stderr.write(f"Warning: {message}\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str = "") -> str:
    """A plain-text table; `align` holds 'l' or 'r' per column (default: numbers right)."""
    cells = [[("" if value is None else str(value)) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))

    def justify(i: int, value: str, raw: Any) -> str:
        side = align[i] if i < len(align) else ("r" if isinstance(raw, (int, float)) and not isinstance(raw, bool) else "l")
        return value.rjust(widths[i]) if side == "r" else value.ljust(widths[i])

    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for raw_row, row in zip(rows, cells):
        lines.append("  ".join(justify(i, v, raw_row[i]) for i, v in enumerate(row)).rstrip())
    return "\n".join(lines)


def human_bytes(value: Optional[float]) -> str:
    """Binary units, as the engines print them (llama.cpp logs MiB, vLLM GiB)."""
    if value is None:
        return "?"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= size:
            return f"{value / size:.2f} {unit}"
    return f"{int(value)} B"


def schema_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent / "schemas"


def write_schemas() -> list[str]:
    """Regenerate the committed schemas (sizer/schemas/NAME.schema.json) from the models."""
    directory = schema_dir()
    directory.mkdir(exist_ok=True)
    written = []
    for name in schema_names():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n")
        written.append(path.name)
    return written
