"""Tensor lists: llama.cpp names and ggml shapes, and parameter counts against official figures."""

from __future__ import annotations

import re

import pytest

from sizer.estimate.hf_config import model_entry_from_config
from sizer.estimate.tensors import (
    LAYOUTS,
    TensorBytes,
    WeightsBreakdown,
    active_parameter_count,
    layout_for,
    model_tensors,
    parameter_count,
)
from tests.conftest import ground_truth

#: Configs the ground truth copies without a field every real config.json has.
CONFIG_FILL_INS = {"DeepSeek-R1-Distill-Qwen-7B": {"vocab_size": 152064}}

#: Official counts that are rounded card figures or include parts the text decoder does not have.
COUNT_EXCEPTIONS = {
    "Phi-4": "card says '14B'; the checkpoint holds 14.66B (HF: 14.7B)",
    "Mistral-Nemo-12B": "card says '12B'; the checkpoint holds 12.25B",
    "Qwen3-1.7B": "card rounds 1.72B to '1.7B'",
    "Llama-4-Scout": "109B includes the vision encoder; the text decoder is 107.8B",
}


def _entries():
    out = {}
    for model in ground_truth("models_and_gguf_sizes.json")["models"]:
        config = {**model["config"], **CONFIG_FILL_INS.get(model["id"], {})}
        out[model["id"]] = (model, model_entry_from_config(config, id=model["id"].lower(), name=model["id"]))
    return out


@pytest.fixture(scope="module")
def entries():
    return _entries()


def test_parameter_counts_match_official_figures(entries):
    checked = 0
    for model_id, (model, entry) in entries.items():
        official = model["params_total"]
        if official is None or model_id in COUNT_EXCEPTIONS:
            continue
        count = parameter_count(entry)
        assert count == pytest.approx(official, rel=0.01), model_id
        checked += 1
    assert checked >= 25


def test_exact_counts_where_a_checkpoint_or_gguf_gives_one(entries):
    """bf16 index total_size / 2 and GGUF metadata counts are exact: so is the tensor list."""
    exact = 0
    for model_id, (model, entry) in entries.items():
        other = model.get("params_other") or {}
        count = parameter_count(entry)
        if "bf16_index_total_size_bytes" in other:
            assert count == other["bf16_index_total_size_bytes"] // 2, model_id
            exact += 1
        if "gguf_metadata_params" in other:
            # Llama 3.2 GGUFs carry rope_freqs (head_dim/2 floats for Llama-3 RoPE scaling), not in ModelEntry.
            rope_freqs = entry.head_dim // 2 if model_id.startswith("Llama-3") else 0
            assert count + rope_freqs == other["gguf_metadata_params"], model_id
            exact += 1
        if "gguf_metadata_params_official_Qwen_GGUF" in other:
            # Qwen's own GGUFs of these tied models store a second copy of the embedding as output.weight.
            assert count + entry.vocab_size * entry.hidden_size == other["gguf_metadata_params_official_Qwen_GGUF"]
            exact += 1
    assert exact >= 12


@pytest.mark.parametrize(
    "model_id, official_active, count_token_embedding",
    [
        ("Mixtral-8x7B", 12.9e9, True),
        ("Qwen3-30B-A3B", 3.3e9, True),
        ("Qwen3-235B-A22B", 22e9, True),
        ("DeepSeek-V3", 37e9, False),
        ("gpt-oss-120b", 5.13e9, False),  # OpenAI counts the unembedding, not the embedding lookup
        ("gpt-oss-20b", 3.61e9, False),
        ("Llama-4-Scout", 17e9, True),
    ],
)
def test_active_parameters(entries, model_id, official_active, count_token_embedding):
    entry = entries[model_id][1]
    active = active_parameter_count(entry, count_token_embedding=count_token_embedding)
    assert active == pytest.approx(official_active, rel=0.02)


def test_names_are_llama_cpp_tensor_names_of_the_architecture(entries):
    """Every tensor name is one gguf-py's MODEL_TENSORS allows for the architecture's GGUF arch."""
    from gguf.constants import MODEL_ARCH, MODEL_TENSORS, TENSOR_NAMES

    for model_id, (_, entry) in entries.items():
        arch = MODEL_ARCH[layout_for(entry).gguf_arch]
        allowed = {TENSOR_NAMES[t] for t in MODEL_TENSORS[arch]}
        for tensor in model_tensors(entry):
            base = re.sub(r"\.(weight|bias)$", "", tensor.name)
            pattern = re.sub(r"^blk\.\d+\.", "blk.{bid}.", base)
            assert pattern in allowed, f"{model_id}: {tensor.name} not in MODEL_TENSORS[{arch.name}]"


def test_shapes_are_in_ggml_order(entries):
    llama = {t.name: t for t in model_tensors(entries["Llama-3.1-8B"][1])}
    assert llama["token_embd.weight"].shape == (4096, 128256)
    assert llama["blk.0.attn_k.weight"].shape == (4096, 1024)
    assert llama["blk.0.ffn_down.weight"].shape == (14336, 4096)  # ne0 = input features
    assert llama["blk.31.attn_norm.weight"].shape == (4096,)
    assert "output.weight" in llama


def test_tied_models_have_no_output_tensor(entries):
    names = {t.name for t in model_tensors(entries["Llama-3.2-1B"][1])}
    assert "output.weight" not in names and "token_embd.weight" in names


def test_moe_tensors_keep_experts_last(entries):
    mixtral = {t.name: t for t in model_tensors(entries["Mixtral-8x7B"][1])}
    assert mixtral["blk.0.ffn_down_exps.weight"].shape == (14336, 4096, 8)
    assert mixtral["blk.0.ffn_gate_inp.weight"].shape == (4096, 8)
    gpt_oss = {t.name: t for t in model_tensors(entries["gpt-oss-20b"][1])}
    assert gpt_oss["blk.0.ffn_up_exps.bias"].shape == (2880, 32)
    assert gpt_oss["blk.0.attn_sinks.weight"].shape == (64,)
    assert gpt_oss["blk.0.attn_output.bias"].shape == (2880,)


def test_deepseek_mla_and_dense_first_layers(entries):
    tensors = {t.name: t for t in model_tensors(entries["DeepSeek-V3"][1])}
    assert tensors["blk.0.ffn_down.weight"].shape == (18432, 7168)  # first_k_dense_replace = 3
    assert "blk.2.ffn_down_exps.weight" not in tensors
    assert tensors["blk.3.ffn_down_exps.weight"].shape == (2048, 7168, 256)
    assert tensors["blk.3.ffn_up_shexp.weight"].shape == (7168, 2048)
    assert tensors["blk.0.attn_kv_a_mqa.weight"].shape == (7168, 512 + 64)
    assert tensors["blk.0.attn_k_b.weight"].shape == (128, 512, 128)  # split and transposed kv_b
    assert tensors["blk.0.attn_v_b.weight"].shape == (512, 128, 128)
    assert "blk.61.attn_norm.weight" not in tensors  # the MTP layer is not converted


def test_phi3_fuses_qkv_and_gate_up(entries):
    phi = {t.name: t for t in model_tensors(entries["Phi-3-mini-4k"][1])}
    assert phi["blk.0.attn_qkv.weight"].shape == (3072, 3 * 3072)
    assert phi["blk.0.ffn_up.weight"].shape == (3072, 2 * 8192)
    assert "blk.0.ffn_gate.weight" not in phi


def test_every_layout_names_a_gguf_architecture():
    from gguf.constants import MODEL_ARCH

    for layout in LAYOUTS.values():
        assert layout.gguf_arch in MODEL_ARCH.__members__


def test_weights_breakdown_splits_layers_embedding_output_and_rest():
    tensors = [
        TensorBytes(name="token_embd.weight", dtype="F16", bytes=100),
        TensorBytes(name="blk.0.attn_q.weight", dtype="F16", bytes=10, layer=0),
        TensorBytes(name="blk.1.attn_q.weight", dtype="F16", bytes=20, layer=1),
        TensorBytes(name="output_norm.weight", dtype="F32", bytes=4),
        TensorBytes(name="output.weight", dtype="F16", bytes=100),
    ]
    breakdown = WeightsBreakdown.from_tensors("f16", tensors, 2)
    assert breakdown.layer_bytes == [10, 20]
    assert (breakdown.token_embd_bytes, breakdown.output_bytes, breakdown.other_bytes) == (100, 100, 4)
    assert breakdown.total_bytes == 234


QWEN3_NEXT = {
    "model_type": "qwen3_next", "num_hidden_layers": 48, "hidden_size": 2048, "intermediate_size": 5120,
    "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256, "vocab_size": 151936,
    "num_experts": 512, "num_experts_per_tok": 10, "moe_intermediate_size": 512,
    "shared_expert_intermediate_size": 512, "full_attention_interval": 4, "tie_word_embeddings": False,
    "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
    "linear_num_key_heads": 16, "linear_num_value_heads": 32,
}


def test_qwen3_next_hybrid_layers():
    """Gated DeltaNet layers (3 of 4) as llama.cpp's qwen3next loader creates them; 80B total."""
    from gguf.constants import MODEL_ARCH, MODEL_TENSORS, TENSOR_NAMES

    entry = model_entry_from_config(QWEN3_NEXT)
    tensors = {t.name: t for t in model_tensors(entry)}
    assert tensors["blk.0.attn_qkv.weight"].shape == (2048, 2 * 16 * 128 + 32 * 128)
    assert tensors["blk.0.attn_gate.weight"].shape == (2048, 4096)
    assert tensors["blk.0.ssm_conv1d.weight"].shape == (4, 8192)
    assert tensors["blk.0.ssm_out.weight"].shape == (4096, 2048)
    assert tensors["blk.3.attn_q.weight"].shape == (2048, 2 * 16 * 256)  # query + output gate
    assert "blk.3.attn_qkv.weight" not in tensors and "blk.0.attn_q.weight" not in tensors
    assert tensors["blk.0.ffn_gate_inp_shexp.weight"].shape == (2048,)
    allowed = {TENSOR_NAMES[t] for t in MODEL_TENSORS[MODEL_ARCH.QWEN3NEXT]}
    for name in tensors:
        pattern = re.sub(r"^blk\.\d+\.", "blk.{bid}.", re.sub(r"\.(weight|bias)$", "", name))
        assert pattern in allowed, name
    assert parameter_count(entry) == pytest.approx(80e9, rel=0.01)


def test_linear_state_size_that_fits_no_known_layout_is_refused():
    from sizer.errors import UnsupportedError

    entry = model_entry_from_config(QWEN3_NEXT).model_copy(update={"linear_state_bytes_per_layer": 12345})
    with pytest.raises(UnsupportedError, match="linear-attention layer shapes cannot be derived"):
        model_tensors(entry)


def test_llama4_qk_norm_has_no_weights(entries):
    entry = entries["Llama-4-Scout"][1].model_copy(update={"qk_norm": True})
    assert not any("attn_q_norm" in t.name for t in model_tensors(entry))
