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
    code = "import sizer; sizer.estimate('qwen3-8b', quant='Q4_K_S')"  # not in the shipped table
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    files = list(tmp_path.glob("weights-*.json"))
    assert len(files) == 1 and "qwen3-8b|Q4_K_S|gguf" in files[0].read_text()


def test_a_corrupt_cache_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("SIZER_CACHE_DIR", str(tmp_path))
    cache.reset()
    (tmp_path / f"weights-{cache.cache_key()}.json").write_text("{not json")
    assert cache.get("qwen3-8b", "Q4_K_S", "gguf") is None


def test_an_unwritable_cache_directory_is_ignored(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SIZER_CACHE_DIR", str(blocker / "sub"))
    cache.reset()
    cache.put("qwen3-8b", "Q4_K_M", "gguf", _compute_weights(ModelInput(get_model("qwen3-8b"), "catalog"), "Q4_K_M", "gguf"))
    cache.save()  # must not raise


def test_off_disables_the_user_cache(monkeypatch):
    monkeypatch.setenv("SIZER_CACHE_DIR", "off")
    cache.reset()
    assert cache.cache_dir() is None and cache.get("qwen3-8b", "Q4_K_S", "gguf") is None


def test_the_shipped_table_was_built_from_this_catalog_and_these_rules():
    import json

    shipped = json.loads(cache.SHIPPED_TABLE.read_text())
    cache.reset()
    assert shipped["key"] == cache.cache_key(), "rebuild it: python -m sizer.estimate.cache"


def test_shipped_entries_equal_freshly_computed_breakdowns(monkeypatch):
    monkeypatch.setenv("SIZER_CACHE_DIR", "off")
    cache.reset()
    for model_id, quant, weights_format in (("llama-3.1-70b-instruct", "Q4_K_M", "gguf"), ("qwen3-30b-a3b", "awq", "safetensors"),
                                            ("gpt-oss-20b", "MXFP4_MOE", "gguf")):
        computed = _compute_weights(ModelInput(get_model(model_id), "catalog"), quant, weights_format)
        assert cache.get(model_id, quant, weights_format) == computed
