"""What an expert would choose, asserted on the scenarios the issue names."""

from __future__ import annotations

import pytest

from sizer.errors import InvalidInputError
from sizer.recommend import recommend

SIXTEEN_BIT = {"F16", "BF16", "bf16", "fp16"}


@pytest.fixture(scope="module")
def seventy_b_on_a_4090():
    return recommend(["llama-3.1-70b-instruct"], hardware="rtx-4090@64", top=None)


def test_a_70b_model_on_one_24gb_gpu_is_never_a_16_bit_plan(seventy_b_on_a_4090):
    assert seventy_b_on_a_4090.options
    assert not [o for o in seventy_b_on_a_4090.options if o.quant in SIXTEEN_BIT]


def test_a_70b_model_on_one_24gb_gpu_is_partial_offload_or_a_small_quant(seventy_b_on_a_4090):
    for option in seventy_b_on_a_4090.options:
        assert option.placement == "partial-offload" or option.quant.startswith(("IQ2", "Q2", "IQ3", "Q3"))


def test_the_70b_16_bit_vllm_plan_is_rejected_with_its_reason(seventy_b_on_a_4090):
    reasons = [r.reason for r in seventy_b_on_a_4090.rejected if r.backend == "vllm" and r.quant == "bf16"]
    assert reasons and "GiB" in reasons[0]


def test_a_cpu_only_machine_never_gets_vllm():
    result = recommend(["qwen2.5-7b-instruct"], hardware="cpu@64", top=None)
    assert result.options and {o.backend for o in result.options} <= {"llama.cpp", "ollama"}
    assert {o.placement for o in result.options} == {"cpu"}
    assert any(r.backend == "vllm" and "CUDA or ROCm GPU" in r.reason for r in result.rejected)


def test_fifty_users_on_an_h100_get_vllm_with_its_kv_capacity():
    result = recommend(["llama-3.1-8b-instruct"], hardware="h100-sxm@256", users=50)
    best = result.options[0]
    assert best.backend == "vllm"
    assert best.memory.kv_capacity_tokens and best.memory.kv_capacity_tokens >= 50 * 8192
    assert any("paged KV pool" in reason for reason in best.reasons)


def test_an_apple_silicon_mac_gets_llama_cpp_or_ollama_within_the_working_set():
    result = recommend(["qwen2.5-32b-instruct"], hardware="m2-max-38c@64", top=None)
    assert result.options and {o.backend for o in result.options} <= {"llama.cpp", "ollama"}
    for option in result.options:
        for device in option.memory.devices:
            if device.device.startswith("metal"):
                assert device.total_bytes <= device.capacity_bytes
    assert any(r.backend == "vllm" for r in result.rejected)


def test_a_model_too_big_for_the_mac_is_rejected_not_squeezed():
    result = recommend(["llama-3.1-405b-instruct"], hardware="m1-8c@16", top=None)
    assert result.options == []
    assert result.rejected


def test_fp8_is_rejected_below_compute_capability_8_9():
    result = recommend(["llama-3.1-8b-instruct"], hardware="a100-sxm-80gb@256", backends=["vllm"], top=None)
    assert any(r.quant == "fp8" and "8.9" in r.reason for r in result.rejected)


def test_whole_catalog_without_models_groups_the_best_model_per_size():
    result = recommend(hardware="rtx-4090@64", top=2)
    groups = [o.group for o in result.options]
    assert len(set(o.model for o in result.options)) == len(result.options)
    assert all(groups.count(g) <= 2 for g in groups)


def test_every_option_quotes_the_published_quality_of_its_quant(seventy_b_on_a_4090):
    option = next(o for o in seventy_b_on_a_4090.options if o.quant == "Q4_K_M")
    assert option.quality and "Q4_K_M: about +0.1755 perplexity vs 16-bit on Llama-3-8B" == option.quality.summary
    assert option.quality.source


@pytest.mark.parametrize(("kwargs", "message"), [({"ctx": 0}, "context length"), ({"users": 0}, "users"), ({"prefer": "cheap"}, "prefer")])
def test_bad_workloads_are_input_errors(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        recommend(["llama-3.1-8b-instruct"], hardware="rtx-4090", **kwargs)
