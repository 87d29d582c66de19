"""GGUF quant mixes: llama-quant.cpp's per-tensor rules, and file sizes against published GGUFs."""

from __future__ import annotations

import hashlib
import importlib.util
import statistics
import sys
from pathlib import Path

import pytest

from sizer.errors import InvalidInputError
from sizer.estimate.gguf_quant import (
    FALLBACK_TYPES,
    FILE_TYPES,
    FTYPES_2023_12,
    FileType,
    QuantRules,
    ggml_block_sizes,
    gguf_weights,
    llama_file_type_id,
    parse_ftype,
    tensors_2023_12,
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
    with pytest.raises(InvalidInputError, match="unknown llama.cpp rules revision 'old'; valid: current, name-based, 2023-12"):
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


# --------------------------------------------------------------------------- rules of December 2023


def test_2023_12_converter_wrote_one_2d_tensor_per_expert(models):
    mixtral = models["Mixtral-8x7B"]
    names = {t.name: t for t in tensors_2023_12(mixtral)}
    assert not any("_exps" in n for n in names)
    assert names["blk.0.ffn_gate.7.weight"].shape == (4096, 14336)
    assert names["blk.31.ffn_down.0.weight"].shape == (14336, 4096)
    assert sum(1 for n in names if ".ffn_up." in n) == 32 * 8
    # Same parameters as the 3-D layout, and a dense model's list is unchanged.
    current = gguf_weights(mixtral, "F32").total_bytes
    assert gguf_weights(mixtral, "F32", rules="2023-12").total_bytes == current
    assert [t.name for t in tensors_2023_12(models["Llama-3.1-8B"])] == [
        t.name for t in gguf_weights(models["Llama-3.1-8B"], "F16").tensors
    ]


def test_2023_12_mixtral_experts_keep_the_base_type(models):
    """get_k_quant_type matched 'ffn_down.weight': the per-expert blk.N.ffn_down.E.weight never did."""
    q2 = _types(gguf_weights(models["Mixtral-8x7B"], "Q2_K", rules="2023-12"))
    assert q2["blk.0.ffn_down.3.weight"] == q2["blk.0.ffn_gate.3.weight"] == q2["blk.0.ffn_up.3.weight"] == "Q2_K"
    assert q2["blk.0.attn_v.weight"] == q2["blk.0.attn_k.weight"] == "Q8_0"  # 8 experts
    assert q2["blk.0.attn_output.weight"] == "Q3_K"  # no 8-expert Q5_K bump yet
    assert q2["blk.0.ffn_gate_inp.weight"] == "F16"  # a 2-D router: converted F16, never quantized
    assert q2["output.weight"] == "Q6_K" and q2["token_embd.weight"] == "Q2_K"
    q3 = _types(gguf_weights(models["Mixtral-8x7B"], "Q3_K_M", rules="2023-12"))
    assert q3["blk.0.ffn_down.0.weight"] == "Q3_K" and q3["blk.0.attn_output.weight"] == "Q4_K"
    assert _types(gguf_weights(models["Mixtral-8x7B"], "Q3_K_M"))["blk.0.ffn_down_exps.weight"] == "Q5_K"


def test_2023_12_q2_k_made_ffn_gate_and_up_q3_k(models):
    mistral = models["Mistral-7B-v0.2 (vocab 32000)"]
    old = _types(gguf_weights(mistral, "Q2_K", rules="2023-12"))
    assert {old[f"blk.5.{k}.weight"] for k in ("ffn_gate", "ffn_up", "ffn_down", "attn_output", "attn_v")} == {"Q3_K"}
    assert old["blk.5.attn_q.weight"] == old["blk.5.attn_k.weight"] == "Q2_K"
    new = _types(gguf_weights(mistral, "Q2_K"))
    assert new["blk.5.ffn_gate.weight"] == new["blk.5.ffn_up.weight"] == "Q2_K"
    assert new["blk.5.attn_v.weight"] == "Q4_K"  # n_gqa 4: a later rule
    # Above Q2_K the December 2023 mix of a dense 32-layer model is today's.
    for ftype in ("Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"):
        assert gguf_weights(mistral, ftype, rules="2023-12").file_bytes == gguf_weights(mistral, ftype).file_bytes


def test_2023_12_k_quant_fallbacks_and_limits(models):
    config = {
        "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 2880, "intermediate_size": 7680,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 90, "vocab_size": 32000,
        "max_position_embeddings": 4096, "tie_word_embeddings": False,
    }
    odd = model_entry_from_config(config)  # 2880 is not a multiple of 256
    weights = gguf_weights(odd, "Q3_K_M", rules="2023-12")
    types = _types(weights)
    assert types["output.weight"] == "Q8_0"
    assert types["blk.1.attn_q.weight"] == "Q4_1"  # Q3_K → Q4_1 then (Q4_0 today)
    assert types["blk.1.attn_output.weight"] == "Q5_0"  # Q4_K → Q5_0
    assert weights.fallback_tensors > 0
    assert _types(gguf_weights(odd, "Q3_K_M"))["blk.1.attn_q.weight"] == "Q4_0"
    assert FileType.IQ2_XS not in FTYPES_2023_12 and FileType.Q6_K in FTYPES_2023_12
    with pytest.raises(InvalidInputError, match="December 2023 had no file type IQ2_XS"):
        gguf_weights(models["Mixtral-8x7B"], "IQ2_XS", rules="2023-12")
    with pytest.raises(InvalidInputError, match="no importance matrix"):
        gguf_weights(models["Mixtral-8x7B"], "Q4_K_M", rules="2023-12", imatrix=True)
    with pytest.raises(InvalidInputError, match="LLAMA architecture"):
        gguf_weights(models["Qwen3-30B-A3B"], "Q4_K_M", rules="2023-12")


#: Files made by llama.cpp of December 2023 that the later rules miss by more than 10%.
DECEMBER_2023_ROWS = (
    "mixtral-8x7b-instruct-v0.1.Q2_K.gguf",
    "mixtral-8x7b-v0.1.Q2_K.gguf",
    "mixtral-8x7b-instruct-v0.1.Q3_K_M.gguf",
    "mixtral-8x7b-v0.1.Q3_K_M.gguf",
    "mistral-7b-instruct-v0.2.Q2_K.gguf",
)


def test_december_2023_uploads_within_one_percent_under_their_rules(bench, models):
    rows = {r.row["file"]: r for r in bench.evaluate() if r.row["file"] in DECEMBER_2023_ROWS}
    assert set(rows) == set(DECEMBER_2023_ROWS)
    for name, r in rows.items():
        assert r.status == "checked" and r.rules == "2023-12", name
        assert bench.RULES_BY_REPO[r.row["repo"]][0] == "2023-12"
        model = models[r.row["model"]]
        old = gguf_weights(model, r.quant, rules="2023-12").file_bytes
        assert old == r.estimate_bytes
        assert abs(old / r.published_bytes - 1) < 0.01, (name, old / r.published_bytes - 1)
        later = gguf_weights(model, r.quant, rules="current").file_bytes
        assert abs(later / r.published_bytes - 1) > 0.10, name  # what the 2023-12 rules are for


#: rules="current" sizes of every checked or split row outside RULES_BY_REPO, as computed before the
#: 2023-12 rules were added: (rows, total bytes, sha256 of the "repo/file|unit=bytes" lines in ground-truth
#: order). Regenerate only for a deliberate change to the current rules or the header estimate.
CURRENT_RULES_BASELINE = (264, 2_417_763_145_216, "77f5c37f0b0a31e8a89b0e1c619330dcfcb1e5cc27ea8b1765f7cd232820d2a8")


def test_current_rules_unchanged_for_every_other_row(bench, models):
    lines = []
    for r in bench.evaluate():
        if r.status not in ("checked", "split") or r.row["repo"] in bench.RULES_BY_REPO:
            continue
        assert r.rules == bench.RULES, r.row["file"]
        model = models[r.row["model"]]
        kwargs = {
            "imatrix": True if r.row["repo"].startswith(bench.IMATRIX_UPLOADERS) else None,
            "separate_output": r.row["repo"] in bench.SEPARATE_OUTPUT_REPOS,
        }
        current = gguf_weights(model, r.quant, rules="current", **kwargs).file_bytes
        # The benchmark's estimate for these rows is the name-based one, as before.
        assert gguf_weights(model, r.quant, rules=bench.RULES, **kwargs).file_bytes == r.estimate_bytes
        lines.append(f"{r.row['repo']}/{r.row['file']}|{r.row['unit']}={current}")
    total = sum(int(line.rsplit("=", 1)[1]) for line in lines)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert (len(lines), total, digest) == CURRENT_RULES_BASELINE


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
