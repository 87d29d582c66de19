"""A disk cache of catalog models' weight breakdowns, so that every `sizer` process need not redo them.

Weights of a catalog model depend only on the catalog and on sizer's own rules, so the cache key is a
hash of data/models.json and of the modules that compute weights: any change to either starts a fresh
file.  The cache lives in ``$SIZER_CACHE_DIR`` (else ``$XDG_CACHE_HOME/sizer`` or ``~/.cache/sizer``);
``SIZER_CACHE_DIR=off`` disables it.  It is written atomically at exit and never required: an
unreadable or unwritable cache is ignored.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Optional

from sizer import __version__
from sizer.estimate.weights import Weights

# The modules whose code decides a weight breakdown.
_RULE_MODULES = ("tensors.py", "gguf_quant.py", "formats.py", "weights.py", "hf_config.py", "api.py")

_entries: Optional[dict[str, dict]] = None
_dirty = False


def cache_dir() -> Optional[Path]:
    configured = os.environ.get("SIZER_CACHE_DIR")
    if configured:
        return None if configured.lower() == "off" else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sizer"


@lru_cache(maxsize=1)
def cache_key() -> str:
    from sizer.catalog import data_dir

    digest = hashlib.sha256(__version__.encode())
    digest.update((data_dir() / "models.json").read_bytes())
    here = Path(__file__).resolve().parent
    for name in _RULE_MODULES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def _path() -> Optional[Path]:
    directory = cache_dir()
    return directory / f"weights-{cache_key()}.json" if directory else None


SHIPPED_TABLE = Path(__file__).resolve().parent / "weights_table.json"


def _read_json(path: Path) -> dict:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _load() -> dict[str, dict]:
    """The shipped table (when built from this very catalog and code) overlaid by the user's cache."""
    global _entries
    if _entries is None:
        shipped = _read_json(SHIPPED_TABLE)
        _entries = dict(shipped.get("entries", {})) if shipped.get("key") == cache_key() else {}
        path = _path()
        if path is not None:
            _entries.update(_read_json(path))
    return _entries


def _key(model_id: str, quant: str, weights_format: str) -> str:
    return f"{model_id}|{quant}|{weights_format}"


def get(model_id: str, quant: str, weights_format: str) -> Optional[Weights]:
    record = _load().get(_key(model_id, quant, weights_format))
    if record is None:
        return None
    try:
        return Weights(**{k: _tuples(v) for k, v in record.items()})
    except TypeError:
        return None


def _tuples(value):
    """JSON lists back into the tuples the frozen record holds (nested for repackable_bytes)."""
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def put(model_id: str, quant: str, weights_format: str, weights: Weights) -> None:
    global _dirty
    _load()[_key(model_id, quant, weights_format)] = asdict(weights)
    _dirty = True


@atexit.register
def save() -> None:
    """Write the cache if this process added to it (atomically: a temporary file renamed into place)."""
    global _dirty
    path = _path() if _dirty else None
    if path is None or _entries is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".weights-", suffix=".tmp", delete=False) as handle:
            json.dump(_entries, handle, separators=(",", ":"))
        os.replace(handle.name, path)
        _dirty = False
    except OSError:
        pass


def reset() -> None:
    """Forget what was loaded (tests switch SIZER_CACHE_DIR)."""
    global _entries, _dirty
    _entries, _dirty = None, False
    cache_key.cache_clear()


def get_params(model_id: str) -> Optional[tuple[int, int]]:
    record = _load().get(f"{model_id}|params")
    return (int(record[0]), int(record[1])) if isinstance(record, list) and len(record) == 2 else None


def put_params(model_id: str, total: int, active: int) -> None:
    global _dirty
    _load()[f"{model_id}|params"] = [total, active]
    _dirty = True


def build_shipped_table() -> int:
    """Compute the breakdowns the recommender needs for every catalog model and write SHIPPED_TABLE.

    Run after changing data/models.json or a weight rule (tests/estimate/test_cache.py says when):
    ``python -m sizer.estimate.cache``.  The first `sizer recommend` after installing then reads
    instead of computing.
    """
    from sizer.catalog import model_entries
    from sizer.estimate.api import ModelInput, _compute_weights
    from sizer.estimate.tensors import active_parameter_count, parameter_count
    from sizer.engines.base import engine_names, get_engine
    from sizer.recommend import SMALL_MODEL_F16

    entries: dict[str, object] = {}
    for model in model_entries():
        total, active = parameter_count(model), active_parameter_count(model)
        entries[f"{model.id}|params"] = [total, active]
        engines = [get_engine(name) for name in engine_names()]
        wanted = {(e.weights_format, q) for e in engines for q in e.quant_ladder(model, total, SMALL_MODEL_F16)}
        for weights_format, quant in sorted(wanted):
            weights = _compute_weights(ModelInput(model, "catalog"), quant, weights_format)
            entries[_key(model.id, quant, weights_format)] = asdict(weights)
    SHIPPED_TABLE.write_text(json.dumps({"key": cache_key(), "entries": entries}, separators=(",", ":"), sort_keys=True) + "\n")
    return len(entries)


if __name__ == "__main__":
    print(f"{build_shipped_table()} entries written to {SHIPPED_TABLE}")

