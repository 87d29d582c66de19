"""The two catalogs: valid, sourced, big enough, and every name resolves to its entry."""

from __future__ import annotations

import json
import re

import pytest

from sizer import catalog
from sizer.errors import DataFileError, UnknownIdError
from sizer.types import SLUG


def test_hardware_catalog_has_every_required_kind():
    entries = catalog.hardware_entries()
    kinds = {kind: sum(1 for e in entries if e.kind == kind) for kind in ("gpu", "apple-silicon", "cpu-platform")}
    assert len(entries) >= 60
    assert kinds["gpu"] >= 40 and kinds["apple-silicon"] >= 16 and kinds["cpu-platform"] >= 4


def test_model_catalog_has_at_least_fifty_models_across_the_families():
    entries = catalog.model_entries()
    assert len(entries) >= 50
    assert {"llama", "qwen", "mistral", "phi", "gemma", "deepseek", "gpt-oss"} <= {e.family for e in entries}
    assert any(e.is_mla for e in entries) and any(e.is_moe for e in entries)
    assert any(e.layer_pattern and "S" in e.layer_pattern for e in entries)


@pytest.mark.parametrize("entries", [catalog.hardware_entries, catalog.model_entries])
def test_every_entry_names_its_source(entries):
    for entry in entries():
        sources = [entry.source] if isinstance(entry.source, str) else entry.source
        assert sources and all(s.strip() for s in sources), entry.id


@pytest.mark.parametrize("entries", [catalog.hardware_entries, catalog.model_entries])
def test_ids_are_lowercase_slugs(entries):
    for entry in entries():
        assert re.match(SLUG, entry.id), entry.id


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("llama-3.1-8b-instruct", "llama-3.1-8b-instruct"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct"),
        ("llama3.1:8b", "llama-3.1-8b-instruct"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b-instruct"),
    ],
)
def test_model_aliases_resolve_to_the_entry(name, expected):
    assert catalog.get_model(name).id == expected


def test_an_unknown_model_is_an_error_with_suggestions():
    with pytest.raises(UnknownIdError, match="unknown model 'llama-3.1-8b-instrct'.*did you mean llama-3.1-8b-instruct"):
        catalog.get_model("llama-3.1-8b-instrct")


@pytest.mark.parametrize(
    ("reported", "memory_gib", "cores", "expected"),
    [
        ("NVIDIA GeForce RTX 4090", 23.99, None, "rtx-4090"),
        ("NVIDIA H100 80GB HBM3", 79.65, None, "h100-sxm"),
        ("NVIDIA A100-SXM4-80GB", 79.15, None, "a100-sxm-80gb"),
        ("Tesla T4", 15.0, None, "t4"),
        ("NVIDIA GeForce RTX 3080", 12.0, None, "rtx-3080-12gb"),
        ("NVIDIA GeForce RTX 3080", 10.0, None, "rtx-3080-10gb"),
        ("Apple M2 Max", None, 30, "m2-max-30c"),
        ("Apple M2 Max", None, 38, "m2-max-38c"),
    ],
)
def test_driver_names_match_their_catalog_entry(reported, memory_gib, cores, expected):
    memory = int(memory_gib * 2**30) if memory_gib else None
    assert catalog.match_accelerator(reported, memory_bytes=memory, gpu_cores=cores).id == expected


def test_a_memory_variant_missing_from_the_catalog_is_not_matched_to_another():
    assert catalog.match_accelerator("NVIDIA GeForce RTX 3060", memory_bytes=8 * 2**30) is None


def _broken_copy(tmp_path, mutate) -> None:
    for name in ("hardware.json", "models.json"):
        document = json.loads((catalog.data_dir() / name).read_text())
        mutate(name, document)
        (tmp_path / name).write_text(json.dumps(document))


def test_a_broken_data_file_names_the_file_the_entry_and_the_field(tmp_path, monkeypatch):
    def break_head_dim(name, document):
        if name == "models.json":
            document["models"][3]["head_dim"] = -1

    _broken_copy(tmp_path, break_head_dim)
    monkeypatch.setenv("SIZER_DATA_DIR", str(tmp_path))
    catalog.clear_cache()
    model_id = json.loads((tmp_path / "models.json").read_text())["models"][3]["id"]
    with pytest.raises(DataFileError, match=rf"models\.json: models\[3\] \(id '{re.escape(model_id)}'\) field head_dim: Input should be greater than 0"):
        catalog.model_entries()


def test_an_entry_without_a_source_is_rejected(tmp_path, monkeypatch):
    def drop_source(name, document):
        if name == "hardware.json":
            del document["hardware"][0]["source"]

    _broken_copy(tmp_path, drop_source)
    monkeypatch.setenv("SIZER_DATA_DIR", str(tmp_path))
    catalog.clear_cache()
    with pytest.raises(DataFileError, match=r"hardware\.json: hardware\[0\] .* field source: Field required"):
        catalog.hardware_entries()


def test_data_files_validate_against_their_published_schemas():
    import jsonschema

    from sizer.output import json_schema

    for name, schema_name in (("hardware.json", "hardware-catalog"), ("models.json", "models-catalog")):
        document = json.loads((catalog.data_dir() / name).read_text())
        jsonschema.Draft202012Validator(json_schema(schema_name)).validate(document)
