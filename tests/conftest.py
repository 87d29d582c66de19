"""Shared fixtures: an isolated environment, the shared ground truth, model shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path_factory):
    """No variable from the developer's shell changes what sizer does; the disk cache is the session's own."""
    for name in ("SIZER_DATA_DIR", "SIZER_DEBUG", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIZER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "sizer-cache"))
    from sizer import catalog

    catalog.clear_cache()
    yield
    catalog.clear_cache()


def ground_truth(name: str) -> dict:
    """A file of ../shared/ground_truth (real measurements with sources)."""
    path = SHARED / "ground_truth" / name
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared ground truth sits beside the repository)")
    return json.loads(path.read_text())


def record(section: str, record_id: str) -> dict:
    """One record of runtime_logs.json by id."""
    for item in ground_truth("runtime_logs.json")[section]:
        if item["id"] == record_id:
            return item
    raise KeyError(record_id)
