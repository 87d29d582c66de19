"""Bad input is one line and exit code 2, never a traceback; the config parser survives anything."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sizer.cli import cli
from sizer.errors import SizerError
from sizer.estimate.hf_config import model_entry_from_config


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(result, starts: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {starts}"), result.output
    assert result.output.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (("--ctx", "-5"), "context length must be between 1 and"),
        (("--ctx", "99999999999"), "context length must be between 1 and"),
        (("--parallel", "0"), "parallel sequences must be between 1 and"),
        (("-q", "Q9_K"), "llama.cpp has no quantization 'Q9_K'"),
        (("-b", "vllm", "-q", "Q4_K_M"), "Q4_K_M is a GGUF type and vllm loads safetensors"),
        (("-b", "vllm", "--kv-type", "q8_0"), "vLLM has no --kv-cache-dtype 'q8_0'"),
        (("--kv-type", "q4_0", "--no-flash-attn"), "llama.cpp needs flash attention for a quantized V cache"),
        (("--hardware", "rtx-4090@@"), "cannot read hardware spec"),
        (("--hardware", "no-such-gpu"), "unknown hardware 'no-such-gpu'"),
        (("--hardware", "m2-max-38c@48"), "'m2-max-38c' is sold with"),
        (("--hardware", "2xm2-max-38c"), "'m2-max-38c' is an Apple chip"),
        (("-b", "vllm", "--hardware", "8xh100-sxm", "-tp", "3"), "vLLM: 32 attention heads are not divisible by tensor-parallel size 3"),
        (("-b", "vllm", "--hardware", "cpu@64"), "vLLM needs a CUDA or ROCm GPU"),
        (("--gpu-layers", "500", "--hardware", "rtx-4090"), "--gpu-layers must be between 0 and 33"),
    ],
)
def test_bad_estimate_options_are_one_line_errors(args, starts):
    one_line_error(run("estimate", "llama-3.1-8b-instruct", *args), starts)


def test_a_config_missing_fields_names_them(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "hidden_size": 4096}))
    one_line_error(run("estimate", str(path)), f"{path}: missing num_hidden_layers")


def test_an_unsupported_architecture_is_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "bloom", "n_layer": 2}))
    one_line_error(run("estimate", str(path)), "")
    assert "bloom" in run("estimate", str(path)).output


def test_a_config_that_is_not_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    one_line_error(run("estimate", str(path)), f"{path}")


def test_a_truncated_gguf(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF\x03\x00\x00\x00\x05")
    one_line_error(run("estimate", str(path)), "model.gguf: truncated")


def test_a_missing_file_is_not_mistaken_for_a_catalog_id(tmp_path):
    one_line_error(run("estimate", str(tmp_path / "missing.gguf")), "")


# --------------------------------------------------------------------------- property-based

FIELDS = ["model_type", "num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
          "head_dim", "vocab_size", "max_position_embeddings", "tie_word_embeddings", "sliding_window", "layer_types",
          "num_local_experts", "num_experts_per_tok", "moe_intermediate_size", "kv_lora_rank", "text_config"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["llama", "qwen2", "qwen3_moe", "gemma3", "deepseek_v3", "gpt_oss", "llama4", "mixtral", "phi3"]),
    st.lists(st.sampled_from(["full_attention", "sliding_attention", "x"]), max_size=8), st.dictionaries(st.sampled_from(FIELDS), st.integers(), max_size=5),
)


@settings(max_examples=300, deadline=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=len(FIELDS)))
def test_config_parser_returns_a_model_or_one_sizer_error(config):
    try:
        entry = model_entry_from_config(config)
    except SizerError as exc:
        assert "\n" not in str(exc)
        return
    assert entry.num_layers > 0 and entry.hidden_size > 0


@settings(max_examples=100, deadline=1000)
@given(st.integers(min_value=1, max_value=1 << 22), st.integers(min_value=1, max_value=64))
def test_any_legal_context_and_parallelism_gives_a_consistent_breakdown(ctx, parallel):
    from sizer.estimate.api import estimate

    result = estimate("qwen2.5-0.5b-instruct", ctx=ctx, parallel=parallel)
    memory = result.memory
    assert memory.total_bytes == memory.weights_bytes + memory.kv_cache_bytes + memory.compute_bytes + memory.overhead_bytes
    assert result.settings.n_ctx % 256 == 0 and result.settings.n_ctx >= ctx * parallel - 256 * parallel
