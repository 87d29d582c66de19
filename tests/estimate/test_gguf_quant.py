"""GGUF quant mixes: llama-quant.cpp's per-tensor rules, and file sizes against published GGUFs."""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path

import pytest

from sizer.errors import InvalidInputError
from sizer.estimate.gguf_quant import (
    FALLBACK_TYPES,
    FILE_TYPES,
    FileType,
    QuantRules,
    ggml_block_sizes,
    gguf_weights,
    llama_file_type_id,
    parse_ftype,
    use_more_bits,
)
from sizer.estimate.hf_config import model_entry_from_config

REPO = Path(__file__).resolve().parents[2]


def _benchmark():
    spec = importlib.util.spec_from_file_location("gguf_accuracy", REPO / "benchmarks" / "gguf_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    module = _benchmark()
    if not (module.ground_truth_path() / "models_and_gguf_sizes.json").exists():
        pytest.skip("the shared ground truth sits beside the repository")
    return module


@pytest.fixture(scope="module")
def models(bench):
    return {label: entry for label, (entry, _) in bench._model_entries(bench.load_ground_truth()).items()}


def _types(weights) -> dict[str, str]:
    return {t.name: t.dtype for t in weights.tensors}


# --------------------------------------------------------------------------- tables


def test_parse_ftype_accepts_common_spellings():
    assert parse_ftype("q4_k_m") is FileType.Q4_K_M
    assert parse_ftype(" Q8_0 ") is FileType.Q8_0
    assert parse_ftype("fp16") is FileType.F16
    assert parse_ftype("mxfp4") is FileType.MXFP4_MOE


def test_parse_ftype_error_lists_valid_names():
    with pytest.raises(InvalidInputError) as info:
        parse_ftype("Q4_K_XXL")
    message = str(info.value)
    assert message.startswith("unknown GGUF quant type 'Q4_K_XXL'; valid: F32, F16, BF16, Q8_0, ")
    assert "IQ1_S" in message and "MXFP4_MOE" in message and "\n" not in message


def test_every_file_type_is_a_gguf_llama_file_type():
    from gguf.constants import LlamaFileType

    for ftype, info in FILE_TYPES.items():
        assert llama_file_type_id(ftype) == LlamaFileType[info.llama_file_type].value
        assert info.default_type in ggml_block_sizes()
    assert set(FILE_TYPES) == set(FileType)


def test_block_sizes_come_from_gguf():
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    assert ggml_block_sizes()["Q4_K"] == GGML_QUANT_SIZES[GGMLQuantizationType.Q4_K] == (256, 144)
    for source, target in FALLBACK_TYPES.items():
        assert ggml_block_sizes()[target][0] == 32, (source, target)


def test_use_more_bits_is_the_first_and_last_eighth_and_every_third_between():
    chosen = [i for i in range(32) if use_more_bits(i, 32)]
    assert chosen == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]


# --------------------------------------------------------------------------- rules


def test_llama_8b_q4_k_m_mix(models):
    types = _types(gguf_weights(models["Llama-3.1-8B"], "Q4_K_M"))
    assert types["output.weight"] == "Q6_K"
    assert types["token_embd.weight"] == "Q4_K"
    assert types["blk.0.attn_norm.weight"] == "F32"
    bumped_v = [i for i in range(32) if types[f"blk.{i}.attn_v.weight"] == "Q6_K"]
    bumped_down = [i for i in range(32) if types[f"blk.{i}.ffn_down.weight"] == "Q6_K"]
    assert bumped_v == bumped_down == [i for i in range(32) if use_more_bits(i, 32)]
    assert types["blk.4.attn_v.weight"] == types["blk.4.ffn_down.weight"] == types["blk.4.attn_q.weight"] == "Q4_K"


def test_synthetic_llama_files_differ_only_by_their_header(models):
    """SIZING.md: a Llama-3.1-8B-shaped file quantized by llama.cpp; the three sizes share one header."""
    measured = {"Q4_K_M": 4_915_755_072, "Q8_0": 8_535_791_680, "Q2_K": 3_174_152_256}
    headers = set()
    for ftype, size in measured.items():
        weights = gguf_weights(models["Llama-3.1-8B"], ftype)
        padded_data = weights.file_bytes - weights.header_bytes
        headers.add(size - padded_data)
    assert len(headers) == 1  # tensor data exact for all three mixes
    assert 0 < headers.pop() < 4_000_000


def test_tied_embedding_takes_the_output_type(models):
    types = _types(gguf_weights(models["Llama-3.2-1B"], "Q4_K_M"))
    assert "output.weight" not in types and types["token_embd.weight"] == "Q6_K"


def test_row_length_not_a_multiple_of_256_falls_back(models):
    qwen05 = gguf_weights(models["Qwen2.5-0.5B"], "Q4_K_M")  # hidden 896
    types = _types(qwen05)
    assert types["token_embd.weight"] == "Q8_0"  # tied, and 896 % 256 != 0 → Q8_0
    assert types["blk.0.attn_q.weight"] == "Q5_0"
    assert qwen05.fallback_tensors > 0
    qwen72 = _types(gguf_weights(models["Qwen2.5-72B"], "Q4_K_M"))  # intermediate 29568
    assert qwen72["blk.0.ffn_down.weight"] == "Q8_0"  # Q6_K → Q8_0
    assert qwen72["blk.11.ffn_down.weight"] == "Q5_0"  # Q4_K → Q5_0
    assert _types(gguf_weights(models["Qwen2.5-72B"], "IQ2_XXS"))["blk.40.ffn_down.weight"] == "IQ4_NL"


def test_70b_attn_v_gets_q5_k(models):
    types = _types(gguf_weights(models["Llama-3.1-70B"], "Q3_K_S"))
    assert {types[f"blk.{i}.attn_v.weight"] for i in range(80)} == {"Q5_K"}
    types = _types(gguf_weights(models["Llama-3.1-8B"], "Q3_K_S"))
    assert types["blk.10.attn_v.weight"] == "Q3_K"


def test_eight_expert_models_bump_attention(models):
    types = _types(gguf_weights(models["Mixtral-8x7B"], "Q4_K_M"))
    assert types["blk.5.attn_v.weight"] == types["blk.5.attn_k.weight"] == "Q8_0"
    assert types["blk.5.attn_output.weight"] == "Q5_K"
    assert types["blk.0.ffn_down_exps.weight"] == "Q6_K"
    assert types["blk.4.ffn_down_exps.weight"] == "Q4_K"
    assert types["blk.0.ffn_gate_inp.weight"] == "F32"  # the router is never quantized


def test_gqa_bump_for_q2_k(models):
    assert _types(gguf_weights(models["Llama-3.1-8B"], "Q2_K"))["blk.0.attn_v.weight"] == "Q4_K"  # n_gqa 4
    assert _types(gguf_weights(models["Phi-3-mini-4k"], "Q2_K"))["blk.0.attn_qkv.weight"] == "Q3_K"  # MHA


def test_mxfp4_moe(models):
    gpt_oss = models["gpt-oss-120b"]
    types = _types(gguf_weights(gpt_oss, "MXFP4_MOE"))
    assert types["blk.0.ffn_up_exps.weight"] == "MXFP4"
    assert types["blk.0.attn_q.weight"] == types["output.weight"] == types["token_embd.weight"] == "Q8_0"
    assert types["blk.0.ffn_up_exps.bias"] == "F32"
    # A float file keeps gpt-oss's native MXFP4 experts (convert_hf_to_gguf writes them as they ship).
    f16 = _types(gguf_weights(gpt_oss, "F16"))
    assert f16["blk.0.ffn_down_exps.weight"] == "MXFP4" and f16["blk.0.attn_q.weight"] == "F16"


def test_imatrix_is_implied_where_llama_quantize_requires_one(models):
    assert gguf_weights(models["Llama-3.1-8B"], "IQ2_XXS").imatrix is True
    assert gguf_weights(models["Llama-3.1-8B"], "Q4_K_M").imatrix is False
    with_imatrix = _types(gguf_weights(models["Llama-3.1-8B"], "Q4_0", imatrix=True))
    assert with_imatrix["blk.0.ffn_down.weight"] == "Q4_1" and with_imatrix["blk.4.ffn_down.weight"] == "Q4_0"


def test_rules_revisions_differ_only_for_fused_qkv(models):
    for label in ("Llama-3.1-8B", "Qwen3-30B-A3B", "gemma-2-9b", "DeepSeek-V3"):
        for ftype in ("Q4_K_M", "Q3_K_L", "IQ2_M", "Q2_K"):
            current = gguf_weights(models[label], ftype, rules="current")
            legacy = gguf_weights(models[label], ftype, rules="name-based")
            assert current.total_bytes == legacy.total_bytes, (label, ftype)
    phi = models["Phi-3-mini-4k"]
    assert _types(gguf_weights(phi, "Q3_K_L", rules=QuantRules.CURRENT))["blk.0.attn_qkv.weight"] == "Q5_K"
    assert _types(gguf_weights(phi, "Q3_K_L", rules=QuantRules.NAME_BASED))["blk.0.attn_qkv.weight"] == "Q4_K"
    with pytest.raises(InvalidInputError, match="unknown llama.cpp rules revision 'old'; valid: current, name-based"):
        gguf_weights(phi, "Q4_K_M", rules="old")


def test_every_file_type_for_every_architecture(models):
    for label in ("Llama-3.2-1B", "Qwen2.5-0.5B", "Mixtral-8x7B", "gemma-3-1b", "Phi-3-mini-4k", "DeepSeek-V3",
                  "gpt-oss-20b", "Llama-4-Scout", "Qwen3-30B-A3B"):
        for ftype in FileType:
            weights = gguf_weights(models[label], ftype)
            assert weights.total_bytes == (
                sum(weights.layer_bytes) + weights.token_embd_bytes + weights.output_bytes + weights.other_bytes
            )
            assert weights.file_bytes > weights.total_bytes
            assert len(weights.layer_bytes) == models[label].num_layers


def test_separate_output_adds_an_output_tensor(models):
    tied = gguf_weights(models["Qwen2.5-1.5B"], "Q8_0")
    untied = gguf_weights(models["Qwen2.5-1.5B"], "Q8_0", separate_output=True)
    assert tied.output_bytes == 0 and untied.output_bytes > 0


# --------------------------------------------------------------------------- published files

def test_published_gguf_sizes(bench):
    results = bench.evaluate()
    checked = [r for r in results if r.status == "checked"]
    assert len(checked) >= 250
    unexplained = [
        f"{r.row['file']} ({r.row['repo']}): {r.rel_error:+.2%}"
        for r in checked
        if r.excess_error > 0.01 and r.row["file"] not in bench.KNOWN_DISAGREEMENTS
    ]
    assert unexplained == []
    agreeing = [abs(r.rel_error) for r in checked if r.row["file"] not in bench.KNOWN_DISAGREEMENTS]
    assert statistics.median(agreeing) < 0.005
    # Every known disagreement is still a disagreement (else drop it from the list).
    still = {r.row["file"] for r in checked if r.excess_error > 0.01}
    assert set(bench.KNOWN_DISAGREEMENTS) == still


def test_exact_byte_rows_within_a_quarter_percent(bench):
    """Files known to the byte: the estimate (rules + header estimate) within 0.3%."""
    rows = [r for r in bench.evaluate() if r.status == "checked" and r.row["unit"] == "bytes"]
    assert len(rows) >= 20
    worst = max(rows, key=lambda r: abs(r.rel_error))
    assert abs(worst.rel_error) < 0.003, (worst.row["file"], worst.rel_error)


def test_config_json_round_trip_to_a_file_size():
    """From a raw config.json to a GGUF size in one go (Llama-3.1-8B Q4_K_M: 4,920,739,168 bytes)."""
    config = {
        "model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "intermediate_size": 14336,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
        "max_position_embeddings": 131072, "tie_word_embeddings": False,
    }
    size = gguf_weights(model_entry_from_config(config), "Q4_K_M").file_bytes
    assert size == pytest.approx(4_920_739_168, rel=0.001)


def test_gpt_oss_experts_stay_mxfp4_in_every_file_type():
    # llama-quantize does not requantize already-quantized tensors, so gpt-oss's natively MXFP4
    # experts keep their type whatever the file type; only the rest of the model changes.
    from sizer.catalog import get_model

    model = get_model("gpt-oss-20b")
    for ftype in ("Q8_0", "Q4_K_M", "Q2_K"):
        types = {t.dtype for t in gguf_weights(model, ftype).tensors if "_exps" in t.name and t.name.endswith("weight")}
        assert types == {"MXFP4"}, ftype
