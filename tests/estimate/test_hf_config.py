"""config.json → ModelEntry: every supported family, the field quirks, and the one-line errors."""

from __future__ import annotations

import json

import pytest

from sizer.errors import DataFileError, UnsupportedError
from sizer.estimate.hf_config import (
    ARCHITECTURES,
    compact_pattern,
    load_config,
    model_entry_from_config,
    supported_model_types,
)
from tests.conftest import ground_truth


def _ground_truth_configs():
    models = ground_truth("models_and_gguf_sizes.json")["models"]
    return {m["id"]: m for m in models}


LLAMA_8B = {
    "model_type": "llama",
    "num_hidden_layers": 32,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}


def test_every_ground_truth_config_normalizes():
    configs = _ground_truth_configs()
    failures = []
    for model_id, model in configs.items():
        try:
            model_entry_from_config(model["config"], id=model_id.lower(), name=model_id)
        except DataFileError as exc:
            failures.append(str(exc))
    # The ground truth copies DeepSeek-R1-Distill-Qwen-7B's config without vocab_size: refused, not guessed.
    assert failures == ["config.json: missing vocab_size"]


@pytest.mark.parametrize(
    "model_id, expected",
    [
        ("Llama-3.1-8B", {"architecture": "llama", "head_dim": 128, "num_kv_heads": 8, "tie_word_embeddings": False, "layer_pattern": None}),
        ("Llama-3.2-1B", {"head_dim": 64, "tie_word_embeddings": True}),
        ("Qwen2.5-7B", {"architecture": "qwen2", "attention_bias": True, "family": "qwen"}),
        ("Qwen3-8B", {"qk_norm": True, "head_dim": 128, "attention_bias": False}),
        ("Mistral-Nemo-12B", {"head_dim": 128, "num_attention_heads": 32, "hidden_size": 5120}),
        ("gemma-2-9b", {"layer_pattern": "SF", "sliding_window": 4096, "norm_per_layer": 4, "tie_word_embeddings": True, "head_dim": 256}),
        ("gemma-3-27b", {"architecture": "gemma3_text", "layer_pattern": "SSSSSF", "sliding_window": 1024, "qk_norm": True, "vocab_size": 262208}),
        ("Phi-3-mini-4k", {"architecture": "phi3", "num_kv_heads": 32, "head_dim": 96}),
        ("Mixtral-8x7B", {"num_experts": 8, "num_experts_per_token": 2, "moe_intermediate_size": 14336, "intermediate_size": 0}),
        ("Qwen3-30B-A3B", {"num_experts": 128, "num_experts_per_token": 8, "moe_intermediate_size": 768, "num_shared_experts": 0}),
        (
            "DeepSeek-V3",
            {"num_experts": 256, "num_shared_experts": 1, "first_dense_layers": 3, "kv_lora_rank": 512, "q_lora_rank": 1536,
                 "qk_rope_head_dim": 64, "head_dim": 192, "num_kv_heads": 128, "mtp_layers": 1},
        ),
        ("gpt-oss-120b", {"num_experts": 128, "moe_intermediate_size": 2880, "intermediate_size": 0, "expert_bias": True,
                              "attention_bias": True, "layer_pattern": "SF", "sliding_window": 128}),
        ("Llama-4-Scout", {"architecture": "llama4_text", "num_experts": 16, "num_shared_experts": 1, "moe_intermediate_size": 8192,
                               "intermediate_size": 16384, "layer_pattern": "CCCF", "attention_chunk_size": 8192}),
    ],
)
def test_family_quirks(model_id, expected):
    entry = model_entry_from_config(_ground_truth_configs()[model_id]["config"], id="x-1")
    for field, value in expected.items():
        assert getattr(entry, field) == value, field


def test_layer_types_list_becomes_a_compact_pattern():
    config = {**LLAMA_8B, "model_type": "gpt_oss", "num_local_experts": 32, "num_experts_per_tok": 4,
              "sliding_window": 128, "layer_types": ["sliding_attention", "full_attention"] * 16}
    assert model_entry_from_config(config).layer_pattern == "SF"
    config["layer_types"] = ["full_attention"] * 32
    assert model_entry_from_config(config).layer_pattern is None


def test_compact_pattern_keeps_aperiodic_layouts():
    assert compact_pattern("SSSSSF" * 8 + "SS") == "SSSSSF"
    assert compact_pattern("FFFFFFFS") == "FFFFFFFS"
    assert compact_pattern("FFFF") is None


def test_qwen3_next_hybrid_layers_and_linear_state():
    config = {
        "model_type": "qwen3_next", "num_hidden_layers": 48, "hidden_size": 2048, "intermediate_size": 5120,
        "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256, "vocab_size": 151936,
        "num_experts": 512, "num_experts_per_tok": 10, "moe_intermediate_size": 512,
        "shared_expert_intermediate_size": 512, "full_attention_interval": 4,
        "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
        "linear_num_key_heads": 16, "linear_num_value_heads": 32,
    }
    entry = model_entry_from_config(config)
    assert entry.layer_pattern == "LLLF"
    # conv (4-1)·(2·16·128 + 32·128) + recurrent 32·128·128 values, fp32
    assert entry.linear_state_bytes_per_layer == 4 * (3 * 8192 + 32 * 128 * 128)


def test_multimodal_wrapper_reads_text_config_and_top_level_tie():
    config = {
        "model_type": "llama4",
        "tie_word_embeddings": False,
        "text_config": {**LLAMA_8B, "model_type": "llama4_text", "num_local_experts": 16, "num_experts_per_tok": 1,
                        "intermediate_size": 8192, "intermediate_size_mlp": 16384},
    }
    entry = model_entry_from_config(config)
    assert entry.architecture == "llama4_text"
    assert entry.moe_intermediate_size == 8192 and entry.intermediate_size == 16384


def test_native_quantization_is_read_from_quantization_config():
    entry = model_entry_from_config({**LLAMA_8B, "quantization_config": {"quant_method": "FP8"}})
    assert entry.native_quant == "fp8"


def test_names_and_repo_pass_through():
    entry = model_entry_from_config(LLAMA_8B, id="my-llama", name="My Llama", hf_repo="me/llama", source="here.json")
    assert (entry.id, entry.name, entry.hf_repo, entry.source, entry.family) == ("my-llama", "My Llama", "me/llama", "here.json", "llama")


@pytest.mark.parametrize("field", ["num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size", "intermediate_size"])
def test_missing_required_field_is_one_line(field):
    config = {k: v for k, v in LLAMA_8B.items() if k != field}
    with pytest.raises(DataFileError) as info:
        model_entry_from_config(config)
    assert str(info.value) == f"config.json: missing {field}"


def test_unsupported_model_type_lists_the_supported_ones():
    with pytest.raises(UnsupportedError) as info:
        model_entry_from_config({**LLAMA_8B, "model_type": "bert"})
    message = str(info.value)
    assert message.startswith("config.json: model_type 'bert' is not supported; supported model types: ")
    assert message.endswith(", ".join(supported_model_types()))
    assert "\n" not in message


def test_every_supported_type_has_a_family():
    required = {"llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "gemma2", "gemma3", "gemma3_text", "phi3",
                "mixtral", "deepseek_v3", "gpt_oss", "llama4", "llama4_text", "qwen3_next"}
    assert required <= set(ARCHITECTURES)


def test_inconsistent_heads_become_a_data_error():
    with pytest.raises(DataFileError, match=r"^config.json: .*multiple of num_kv_heads"):
        model_entry_from_config({**LLAMA_8B, "num_key_value_heads": 5})


# --------------------------------------------------------------------------- load_config


def test_load_config_from_file_and_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B))
    assert load_config(tmp_path / "config.json")["hidden_size"] == 4096
    assert load_config(tmp_path)["hidden_size"] == 4096


def test_load_config_errors(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        load_config(tmp_path / "missing.json")
    with pytest.raises(DataFileError, match="no config.json in this folder"):
        load_config(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataFileError, match=r"not valid JSON \("):
        load_config(bad)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(DataFileError, match="expected a JSON object, found list"):
        load_config(listed)
