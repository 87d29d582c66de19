"""The disk cache of catalog weights: same answers, kept between processes, ignored when unusable."""

from __future__ import annotations

import subprocess
import sys

from sizer.estimate import cache
from sizer.estimate.api import ModelInput, _compute_weights
from sizer.catalog import get_model


def test_a_cached_breakdown_equals_the_computed_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SIZER_CACHE_DIR", str(tmp_path))
    cache.reset()
    computed = _compute_weights(ModelInput(get_model("qwen3-8b"), "catalog"), "Q4_K_M", "gguf")
    cache.put("qwen3-8b", "Q4_K_M", "gguf", computed)
    cache.save()
    cache.reset()
    assert cache.get("qwen3-8b", "Q4_K_M", "gguf") == computed


def test_a_second_process_reads_what_the_first_wrote(tmp_path):
    env = {"SIZER_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    code = "import sizer; sizer.estimate('qwen3-8b', quant='Q5_K_M')"
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    files = list(tmp_path.glob("weights-*.json"))
    assert len(files) == 1 and "qwen3-8b|Q5_K_M|gguf" in files[0].read_text()


def test_a_corrupt_cache_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("SIZER_CACHE_DIR", str(tmp_path))
    cache.reset()
    (tmp_path / f"weights-{cache.cache_key()}.json").write_text("{not json")
    assert cache.get("qwen3-8b", "Q4_K_M", "gguf") is None


def test_an_unwritable_cache_directory_is_ignored(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SIZER_CACHE_DIR", str(blocker / "sub"))
    cache.reset()
    cache.put("qwen3-8b", "Q4_K_M", "gguf", _compute_weights(ModelInput(get_model("qwen3-8b"), "catalog"), "Q4_K_M", "gguf"))
    cache.save()  # must not raise


def test_off_disables_the_cache(monkeypatch):
    monkeypatch.setenv("SIZER_CACHE_DIR", "off")
    cache.reset()
    assert cache.cache_dir() is None and cache.get("qwen3-8b", "Q4_K_M", "gguf") is None
