"""llama.cpp's KV and compute buffers against the sizes llama.cpp itself logged.

Each case names its record in ../shared/ground_truth/runtime_logs.json (or SIZING.md) and
builds the model's shape from the log (layers, KV width, vocabulary, heads).  Targets from the
rules-engine issue: KV cache exact (0.5%), compute buffers within 10%.
"""

from __future__ import annotations

import pytest

from sizer.catalog import get_model
from sizer.engines import llamacpp
from sizer.types import ModelEntry
from tests.conftest import record

MIB = 2**20


def shape(**fields) -> ModelEntry:
    """A llama-style model of the given dimensions (what a log line reveals of it)."""
    base = dict(
        id="shape", name="shape", family="test", hf_repo="test/shape", architecture="llama", num_layers=32,
        hidden_size=4096, intermediate_size=11008, num_attention_heads=32, num_kv_heads=32, head_dim=128,
        vocab_size=32000, tie_word_embeddings=False, max_context=1 << 20, source="test",
    )
    base.update(fields)
    return ModelEntry(**base)


LLAMA2_7B = shape()
MISTRAL_7B = shape(num_kv_heads=8, intermediate_size=14336, vocab_size=32000)
QWEN25_3B = shape(num_layers=36, hidden_size=2048, num_attention_heads=16, num_kv_heads=2, vocab_size=151936, intermediate_size=11008)


def mib(text: str) -> float:
    return float(text.split()[0].replace(",", "."))


def kv_total(model: ModelEntry, ctx: int, parallel: int = 1, ubatch: int = 512, type_k: str = "f16", type_v: str = "f16") -> int:
    layout = llamacpp.kv_layout(model, ctx, parallel, ubatch)
    return sum(llamacpp.layer_kv_bytes(model, layout, type_k, type_v))


def gpu_compute(model: ModelEntry, ctx: int, flash_attn: bool, *, layers=None, output: bool = True, ubatch: int = 512) -> int:
    layout = llamacpp.kv_layout(model, ctx, 1, ubatch)
    layers = range(model.num_layers) if layers is None else layers
    peaks = [llamacpp.layer_compute_peak(model, il, layout, ubatch, flash_attn) for il in layers]
    if output:
        peaks.append(llamacpp.output_peak(model, ubatch))
    return max(peaks)


# --------------------------------------------------------------------------- KV cache: exact


@pytest.mark.parametrize(
    ("record_id", "model", "ctx", "key", "expected_mib"),
    [
        ("lcpp-qwen25-3b-llamasharp", QWEN25_3B, 4096, "KV self size", "144.00 MiB"),
        ("lcpp-7b-mha-4gpu-specdec", LLAMA2_7B, 4096, "KV self size", "2048.00 MiB"),
        ("lcpp-mistral7b-class-2k-vs-32k-nofa", MISTRAL_7B, 2048, "KV self size @2048", "256.00 MiB"),
        ("lcpp-mistral7b-class-2k-vs-32k-nofa", MISTRAL_7B, 32768, "KV self size @32768", "4096.00 MiB"),
    ],
)
def test_kv_cache_equals_the_logged_buffer(record_id, model, ctx, key, expected_mib):
    logged = mib(record("llama_cpp", record_id)["measured"][key]) * MIB
    assert kv_total(model, ctx) == pytest.approx(logged, rel=0.005)


def test_kv_cache_of_a_million_tokens_matches_the_failed_allocation():
    # 137438953504 bytes = the KV buffer llama.cpp tried to allocate (+32 bytes of alignment).
    logged = int(record("llama_cpp", "lcpp-llama3-8b-1048k-kv-fail")["measured"]["failed CPU buffer allocation (KV cache)"].split()[0])
    assert kv_total(get_model("llama-3.1-8b-instruct"), 1048576) == pytest.approx(logged, rel=1e-6)


def test_kv_cache_of_llama_3_1_8b_at_8k_is_one_gib():
    # ../shared/SIZING.md §2: "8192 tokens = 1 GiB exactly (llama.cpp logs KV buffer size = 1024.00 MiB)".
    assert kv_total(get_model("llama-3.1-8b-instruct"), 8192) == 1024 * MIB


def test_mla_cache_holds_the_latent_and_rope_key():
    measured = record("llama_cpp", "lcpp-deepseek-mla-pr11446")["measured"]
    logged = mib(measured["KV self size (MLA)"]) * MIB
    assert kv_total(get_model("deepseek-v3"), 32768) == pytest.approx(logged, rel=0.005)


def test_quantized_mla_cache_uses_q8_0_blocks():
    logged = mib(record("other", "iklcpp-deepseek-r1-mla-q8-32k")["measured"]["KV self size"]) * MIB
    assert kv_total(get_model("deepseek-r1"), 32768, type_k="q8_0", type_v="q8_0") == pytest.approx(logged, rel=0.005)


def test_parallel_slots_multiply_the_cells():
    # Ollama with parallel 4 and num_ctx 2048 runs -c 8192 -np 4: 896 MiB for a Llama-3.2-3B shape.
    logged = mib(record("ollama", "ollama-28layer-3b-80gb-par4")["measured"]["memory.required.kv"]) * MIB
    assert kv_total(get_model("llama-3.2-3b-instruct"), 2048, parallel=4) == pytest.approx(logged, rel=0.005)


@pytest.mark.parametrize(("model_id", "swa_mib", "global_mib"), [("gemma-3-27b-it", 624, 320), ("gemma-3-12b-it", 480, 256)])
def test_gemma3_sliding_layers_keep_window_plus_ubatch_cells(model_id, swa_mib, global_mib):
    # const-llamacpp-gemma3-swa-table: at 4k context and batch 512 the local cache is 1536 cells.
    model = get_model(model_id)
    layout = llamacpp.kv_layout(model, 4096, 1, 512)
    per_layer = llamacpp.layer_kv_bytes(model, layout, "f16", "f16")
    sliding = sum(b for il, b in enumerate(per_layer) if model.layer_kind(il) == "S")
    full = sum(b for il, b in enumerate(per_layer) if model.layer_kind(il) == "F")
    assert (sliding / MIB, full / MIB) == (pytest.approx(swa_mib, rel=0.005), pytest.approx(global_mib, rel=0.005))


def test_slots_without_a_unified_cache_pad_each_slot_to_256_cells():
    # unsloth PR #7530: "ctx 1024 with 3 slots allocates 1536 cells, 4 slots 1024 cells".
    model = get_model("llama-3.2-1b-instruct")
    assert llamacpp.kv_layout(model, 1024 // 3, 3, 512).n_ctx == 1536
    assert llamacpp.kv_layout(model, 256, 4, 512).n_ctx == 1024


# --------------------------------------------------------------------------- compute buffers: 10%


@pytest.mark.parametrize(
    ("record_id", "model", "ctx", "flash_attn", "key", "output_here"),
    [
        ("lcpp-qwen25-3b-llamasharp", QWEN25_3B, 4096, True, "CUDA0 compute buffer size", True),
        ("lcpp-7b-mha-4gpu-specdec", LLAMA2_7B, 4096, False, "CUDA1/2/3 compute buffer size", False),
        ("lcpp-7b-mha-4gpu-specdec", LLAMA2_7B, 4096, False, "CUDA0 compute buffer size", False),
        ("lcpp-mistral7b-class-2k-vs-32k-nofa", MISTRAL_7B, 2048, False, "CUDA0 compute buffer size @2048", True),
        ("lcpp-mistral7b-class-2k-vs-32k-nofa", MISTRAL_7B, 32768, False, "CUDA0 compute buffer size @32768", True),
    ],
)
def test_gpu_compute_buffer_within_ten_percent(record_id, model, ctx, flash_attn, key, output_here):
    logged = mib(record("llama_cpp", record_id)["measured"][key]) * MIB
    assert gpu_compute(model, ctx, flash_attn, output=output_here) == pytest.approx(logged, rel=0.10)


@pytest.mark.parametrize(
    ("record_id", "model", "ctx", "key"),
    [
        ("lcpp-mistral7b-class-2k-vs-32k-nofa", MISTRAL_7B, 2048, "CUDA_Host compute buffer size @2048"),
        ("lcpp-mistral7b-class-2k-vs-32k-nofa", MISTRAL_7B, 32768, "CUDA_Host compute buffer size @32768"),
        ("lcpp-7b-mha-4gpu-specdec", LLAMA2_7B, 4096, "CUDA_Host compute buffer size"),
        ("lcpp-qwen25-3b-llamasharp", QWEN25_3B, 4096, "CUDA_Host compute buffer size"),
    ],
)
def test_host_compute_buffer_of_a_full_offload_within_ten_percent(record_id, model, ctx, key):
    logged = mib(record("llama_cpp", record_id)["measured"][key]) * MIB
    layout = llamacpp.kv_layout(model, ctx, 1, 512)
    assert llamacpp.host_input_bytes(model, layout, 512) == pytest.approx(logged, rel=0.10)


@pytest.mark.parametrize(("ctx", "flash_attn", "expected_mib"), [(4096, True, 258.5), (32768, True, 258.5), (4096, False, 286), (32768, False, 2134)])
def test_cpu_compute_buffer_of_llama_3_2_1b(ctx, flash_attn, expected_mib):
    # ../shared/SIZING.md §3, measured on the CPU backend with n_ubatch 512.
    model = get_model("llama-3.2-1b-instruct")
    assert gpu_compute(model, ctx, flash_attn) == pytest.approx(expected_mib * MIB, rel=0.10)


def test_moe_compute_buffer_of_a_partially_offloaded_mixtral():
    logged = mib(record("llama_cpp", "lcpp-mixtral-8x7b-q8-imatrix-partial")["measured"]["CUDA0 compute buffer size"]) * MIB
    model = get_model("mixtral-8x7b-instruct-v0.1")
    assert gpu_compute(model, 512, False, layers=range(17, 32), output=False) == pytest.approx(logged, rel=0.10)


def test_output_buffer_is_one_row_of_logits_per_sequence():
    logged = mib(record("llama_cpp", "lcpp-qwen25-3b-llamasharp")["measured"]["CUDA_Host output buffer size"]) * MIB
    assert llamacpp.output_buffer_bytes(QWEN25_3B, 1) == pytest.approx(logged, rel=0.01)


# --------------------------------------------------------------------------- placement


def test_the_output_layer_needs_one_more_gpu_layer_than_the_model_has():
    devices = llamacpp.layer_devices(32, 32, [1.0])
    assert devices[:32] == [0] * 32 and devices[32] is None
    assert llamacpp.layer_devices(32, 33, [1.0])[32] == 0


def test_partial_offload_puts_the_last_layers_on_the_gpu():
    devices = llamacpp.layer_devices(32, 15, [1.0])
    assert devices[:17] == [None] * 17 and devices[17:32] == [0] * 15


def test_layer_split_follows_the_tensor_split_proportions():
    # 12/28 KV layers across two GPUs in the Command-R record came from proportions like 12:29.
    devices = llamacpp.layer_devices(40, 41, [12, 29])
    assert devices.count(0) == 12 and devices.count(1) == 29


# --------------------------------------------------------------------------- whole-GPU totals


SWEEP = "lcpp-qwen3-32b-q5km-2x3090-ctx-sweep"


def qwen3_32b_on_two_3090s(ctx: int):
    from sizer.estimate.api import estimate

    return estimate("qwen3-32b", quant="Q5_K_M", hardware="2xrtx-3090@128", ctx=ctx, flash_attn=False, gpu_layers=65)


def test_gpu_totals_of_the_context_sweep_within_five_percent_median():
    measured = record("llama_cpp", SWEEP)["measured"]
    errors = []
    for ctx, key in ((32768, "VRAM @32k"), (40960, "VRAM @40k")):
        gib_read = float(measured[key].strip("~").split("GB")[0])
        total = sum(d.total_bytes for d in qwen3_32b_on_two_3090s(ctx).memory.devices if d.device != "cpu")
        errors.append(abs(total / (gib_read * 2**30) - 1))
    import statistics

    assert statistics.median(errors) < 0.05 and max(errors) < 0.10


@pytest.mark.parametrize(("ctx", "fits"), [(32768, True), (40960, True), (46080, False), (49152, False)])
def test_the_cuda_pool_decides_which_contexts_run(ctx, fits):
    # The record: 32k and 40k run; 45k loads but runs out of memory during inference; 48k fails to load.
    assert qwen3_32b_on_two_3090s(ctx).fits is fits
