"""The two catalogs, data/hardware.json and data/models.json: loading, validation, look-up.

The files live at the top of the repository and ship inside the wheel as ``sizer/data``; an
editable install or a checkout reads them from the repository.  ``SIZER_DATA_DIR`` points
sizer at another folder (tests use it for broken files).
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional, TypeVar

from pydantic import BaseModel, ValidationError

from sizer.errors import DataFileError, UnknownIdError
from sizer.types import HardwareCatalog, HardwareEntry, ModelCatalog, ModelEntry, slugify

T = TypeVar("T", bound=BaseModel)


def data_dir() -> Path:
    """The folder holding hardware.json and models.json."""
    override = os.environ.get("SIZER_DATA_DIR")
    if override:
        return Path(override)
    packaged = Path(__file__).resolve().parent / "data"
    if (packaged / "models.json").is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "data"


def _describe_location(document: object, loc: tuple) -> str:
    """"models[12] (id 'qwen3-8b') field head_dim" from a pydantic error location."""
    if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(document, dict):
        entries = document.get(loc[0])
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        where = f"{loc[0]}[{loc[1]}]" + (f" (id '{entry_id}')" if entry_id else "")
        field = ".".join(str(part) for part in loc[2:])
        return f"{where} field {field}" if field else where
    return "field " + ".".join(str(part) for part in loc) if loc else "document"


def load_validated(path: Path, model: type[T]) -> T:
    """Read and validate one JSON data file; any problem is a one-line DataFileError."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _describe_location(document, tuple(first["loc"]))
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise DataFileError(f"{path}: {where}: {first['msg']}{more}") from None


def _check_unique(path: Path, entries: Iterable[BaseModel], keys_of) -> dict[str, BaseModel]:
    index: dict[str, BaseModel] = {}
    for entry in entries:
        for key in keys_of(entry):
            key = key.lower()
            other = index.get(key)
            if other is not None and other is not entry:
                if getattr(other, "id") == key or getattr(entry, "id") == key:
                    raise DataFileError(f"{path}: '{key}' names both '{other.id}' and '{entry.id}'")
                continue  # a shared alias (Apple core variants) is resolved by the matcher
            index[key] = entry
    return index


@lru_cache(maxsize=None)
def _hardware() -> tuple[HardwareCatalog, dict[str, HardwareEntry]]:
    path = data_dir() / "hardware.json"
    catalog = load_validated(path, HardwareCatalog)
    index = _check_unique(path, catalog.hardware, lambda e: [e.id, *e.aliases])
    return catalog, index  # type: ignore[return-value]


@lru_cache(maxsize=None)
def _models() -> tuple[ModelCatalog, dict[str, ModelEntry]]:
    path = data_dir() / "models.json"
    catalog = load_validated(path, ModelCatalog)
    keys = lambda e: [e.id, e.hf_repo, *e.aliases, *([e.ollama_tag] if e.ollama_tag else [])]  # noqa: E731
    index = _check_unique(path, catalog.models, keys)
    return catalog, index  # type: ignore[return-value]


def clear_cache() -> None:
    """Forget loaded catalogs (tests switch SIZER_DATA_DIR)."""
    _hardware.cache_clear()
    _models.cache_clear()


def hardware_entries() -> list[HardwareEntry]:
    return list(_hardware()[0].hardware)


def model_entries() -> list[ModelEntry]:
    return list(_models()[0].models)


def _suggest(name: str, keys: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name.lower(), list(keys), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def get_model(name: str) -> ModelEntry:
    """A model by id, Hugging Face repo id, alias or Ollama tag (case-insensitive)."""
    index = _models()[1]
    entry = index.get(name.strip().lower())
    if entry is None:
        raise UnknownIdError(f"unknown model '{name}'{_suggest(name, index)}; `sizer models` lists them")
    return entry


def get_hardware(name: str) -> HardwareEntry:
    """A hardware entry by id or alias (case-insensitive)."""
    index = _hardware()[1]
    key = name.strip().lower()
    entry = index.get(key)
    if entry is None:
        entry = _by_slug().get(slugify(name))
    if entry is None:
        raise UnknownIdError(f"unknown hardware '{name}'{_suggest(name, index)}; `sizer hardware` lists them")
    return entry


# Words drivers put in device names that the catalog's slugs leave out.
_VENDOR_WORDS = ("nvidia", "geforce", "tesla", "amd", "radeon", "instinct", "apple", "graphics", "generation")


def _name_key(text: str) -> str:
    words = [w for w in slugify(text).split("-") if w and w not in _VENDOR_WORDS]
    return "-".join(words)


@lru_cache(maxsize=None)
def _by_slug() -> dict[str, HardwareEntry]:
    index: dict[str, HardwareEntry] = {}
    for entry in hardware_entries():
        for key in (entry.id, entry.name, *entry.aliases):
            index.setdefault(slugify(key), entry)
    return index


def match_accelerator(
    name: str,
    *,
    vendor: Optional[str] = None,
    memory_bytes: Optional[int] = None,
    gpu_cores: Optional[int] = None,
) -> Optional[HardwareEntry]:
    """The catalog entry for a device name a driver reported, or None.

    Drivers report one name for several products (NVML says "NVIDIA GeForce RTX 3060" for the
    8 GB and the 12 GB card; sysctl says "Apple M2 Max" for 30 and 38 GPU cores), so the
    memory size and core count pick among the entries that share the name.
    """
    key = _name_key(name)
    if not key:
        return None
    candidates = []
    for entry in hardware_entries():
        if entry.kind == "cpu-platform" or (vendor and entry.vendor != vendor):
            continue
        names = {_name_key(n) for n in (entry.name, *entry.aliases)} | {_name_key(entry.id)}
        # Drivers give one name to memory variants (RTX 3080 10 GB / 12 GB): match the id without its size.
        names.add(re.sub(r"-\d+gb$", "", _name_key(entry.id)))
        if key in names:
            candidates.append(entry)
    if not candidates:
        return None
    if gpu_cores is not None:
        by_cores = [e for e in candidates if e.gpu_cores == gpu_cores]
        candidates = by_cores or candidates
    if memory_bytes is not None and len(candidates) > 1:
        gib = memory_bytes / 2**30

        def distance(entry: HardwareEntry) -> float:
            sizes = [entry.memory_gib] if entry.memory_gib else entry.memory_options_gib
            return min((abs(size - gib) for size in sizes), default=float("inf"))

        candidates.sort(key=distance)
    if memory_bytes is not None and candidates[0].kind == "gpu" and candidates[0].memory_gib:
        # A card whose memory is far from every catalog variant is another product (RTX 3060 8 GB).
        if abs(candidates[0].memory_gib - memory_bytes / 2**30) > 0.15 * candidates[0].memory_gib:
            return None
    return candidates[0]
