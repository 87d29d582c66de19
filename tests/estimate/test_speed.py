"""The speed model: published llama-bench / vLLM rows within the issue's tolerances, and its mechanisms.

The row mapping lives in benchmarks/speed_accuracy.py (``python benchmarks/speed_accuracy.py`` prints
every row); this file imports it so the test and the benchmark cannot disagree.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from sizer.engines.base import get_engine
from sizer.estimate import speed
from sizer.estimate.api import estimate, resolve_model, weights_for
from sizer.hardware_spec import parse_hardware_spec

REPO = Path(__file__).resolve().parents[2]


def _benchmark():
    spec = importlib.util.spec_from_file_location("speed_accuracy", REPO / "benchmarks" / "speed_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


BENCH = _benchmark()
HAVE_GROUND_TRUTH = (BENCH.ground_truth_path() / "throughput.json").exists()
needs_ground_truth = pytest.mark.skipif(not HAVE_GROUND_TRUTH, reason="the shared ground truth sits beside the repository")
CASES, SKIPS = BENCH.map_rows() if HAVE_GROUND_TRUTH else ([], [])


@pytest.fixture(scope="module")
def results():
    if not HAVE_GROUND_TRUTH:
        pytest.skip("the shared ground truth sits beside the repository")
    out = {}
    for case in CASES:
        prepared = BENCH.prepare(case)
        out[case.index] = BENCH.Result(prepared, BENCH.predict(prepared))
    return out


# --------------------------------------------------------------------------- ground truth


@needs_ground_truth
@pytest.mark.parametrize("index", [c.index for c in CASES], ids=[f"row{c.index}-{c.test}{c.tokens}" for c in CASES])
def test_row_within_worst_tolerance(results, index):
    result = results[index]
    if result.predicted is None:
        pytest.skip(result.prepared.error or "; ".join(result.prepared.plan.prefill_missing))
    assert abs(result.error) < BENCH.WORST_TOLERANCE_PCT, f"row {index}: predicted {result.predicted:.1f}, published {result.case.observed}"


@needs_ground_truth
@pytest.mark.parametrize("test", ["tg", "pp", "all"])
def test_median_error_per_test_kind(results, test):
    summary = BENCH.summarize(list(results.values()))
    rows, median, worst = summary[(test, "all")]
    assert rows >= (100 if test != "all" else 400)
    assert median < BENCH.MEDIAN_TOLERANCE_PCT
    assert worst < BENCH.WORST_TOLERANCE_PCT


@needs_ground_truth
def test_median_error_per_device_kind(results):
    for (test, kind), (rows, median, _) in BENCH.summarize(list(results.values())).items():
        if rows >= 10:
            assert median < BENCH.MEDIAN_TOLERANCE_PCT, (test, kind, median)


@needs_ground_truth
def test_every_skipped_row_has_a_reason():
    assert len(CASES) + len(SKIPS) == len(BENCH.load_rows())
    for skip in SKIPS:
        assert skip.reason and len(skip.reason) > 15


@needs_ground_truth
def test_recorded_fit_matches_the_data_file(results):
    """data/speed.json's fit summary is what the current constants produce (refit with --fit --write)."""
    recorded = speed.load_constants()["fit_summary"]["abs_error_pct"]
    for (test, kind), (rows, median, _) in BENCH.summarize(list(results.values())).items():
        entry = recorded[f"{test}/{kind}"]
        hint = "data/speed.json is stale: python benchmarks/speed_accuracy.py --fit --write"
        assert entry["rows"] == pytest.approx(rows, rel=0.1), hint
        assert entry["median"] == pytest.approx(median, abs=1.0), hint


def test_row_mapping():
    row = {"hardware_id": "nvidia-rtx-4090", "hardware": "RTX 4090", "gpu_count": 4, "backend": "CUDA", "settings": "", "source": ""}
    assert BENCH._hardware(row)[0] == "4xrtx-4090"
    row = {"hardware_id": "apple-m2-ultra", "hardware": "Apple M2 Ultra 76-core GPU 192GB", "gpu_count": 1}
    assert BENCH._hardware(row)[0] == "m2-ultra-76c@192"
    assert BENCH._hardware({"hardware_id": "nvidia-gb10-dgx-spark", "hardware": "GB10", "gpu_count": 1})[0] == "dgx-spark"
    assert BENCH._parse_test("pp2048@d4096", {}) == ("pp", 2048, 4096)
    assert BENCH._parse_test("tg512", {}) == ("tg", 512, 0)
    assert BENCH.is_legacy_build({"build": "4426e298 (2824)"}) and not BENCH.is_legacy_build({"build": "2f68ce7cf (6918)"})


# --------------------------------------------------------------------------- mechanisms


def decode(model: str, hardware: str, **kwargs) -> float:
    result = estimate(model, hardware=hardware, **kwargs)
    assert result.throughput is not None and result.throughput.decode_tokens_per_s
    return result.throughput.decode_tokens_per_s


def test_moe_decodes_faster_than_a_dense_model_of_the_same_size():
    moe = estimate("qwen3-30b-a3b", quant="Q4_K_M", hardware="rtx-4090@64", ctx=4096)
    dense = estimate("qwen3-32b", quant="Q4_K_M", hardware="rtx-4090@64", ctx=4096)
    assert moe.placement == dense.placement == "gpu"
    assert moe.memory.weights_bytes == pytest.approx(dense.memory.weights_bytes, rel=0.1)
    assert moe.throughput.decode_tokens_per_s > 3 * dense.throughput.decode_tokens_per_s


def test_partial_offload_is_slower_than_full_gpu():
    full = estimate("llama-3.1-8b-instruct", hardware="rtx-4090@64", ctx=4096)
    partial = estimate("llama-3.1-8b-instruct", hardware="rtx-4090@64", ctx=4096, gpu_layers=16)
    assert full.placement == "gpu" and partial.placement == "partial-offload"
    assert partial.throughput.decode_tokens_per_s < full.throughput.decode_tokens_per_s / 3
    assert partial.throughput.prefill_tokens_per_s < full.throughput.prefill_tokens_per_s


def test_a_70b_model_spilling_to_ram_is_slower_than_on_two_gpus():
    assert decode("llama-3.1-70b-instruct", "rtx-4090@64") < decode("llama-3.1-70b-instruct", "2xrtx-4090@64") / 4


def test_ram_bandwidth_unknown_uses_the_generic_platform_with_a_note():
    result = estimate("llama-3.1-70b-instruct", hardware="rtx-4090", gpu_layers=40)
    assert any("cpu-ddr5-5600-2ch" in n or "DDR5-5600" in n for n in result.throughput.notes)


def test_tensor_parallel_over_nvlink_beats_pcie():
    """Same bandwidth and TFLOPS (A100 40GB SXM vs PCIe); only the link between the GPUs differs."""
    nvlink = estimate("llama-3.1-8b-instruct", backend="vllm", quant="bf16", hardware="2xa100-sxm-40gb")
    pcie = estimate("llama-3.1-8b-instruct", backend="vllm", quant="bf16", hardware="2xa100-pcie-40gb")
    assert nvlink.settings.tensor_parallel == pcie.settings.tensor_parallel == 2
    assert nvlink.throughput.decode_tokens_per_s > pcie.throughput.decode_tokens_per_s * 1.05
    single = estimate("llama-3.1-8b-instruct", backend="vllm", quant="bf16", hardware="a100-sxm-40gb")
    assert single.throughput.decode_tokens_per_s < pcie.throughput.decode_tokens_per_s


def test_allreduce_cost():
    nvlink = speed.Link("nvlink", 300.0, 10e-6)
    pcie = speed.Link("pcie", 31.5, 25e-6)
    assert speed.allreduce_seconds(1, 8192, pcie) == 0.0
    assert speed.allreduce_seconds(2, 8192, nvlink) < speed.allreduce_seconds(2, 8192, pcie)
    # Large messages: bandwidth term, 2(tp-1)/tp of the message
    assert speed.allreduce_seconds(4, 1e9, pcie) == pytest.approx(25e-6 + 1.5e9 / 31.5e9)


def test_longer_context_lowers_decode_speed():
    short = estimate("llama-3.1-8b-instruct", hardware="rtx-4090", ctx=32768, prompt_tokens=512)
    long = estimate("llama-3.1-8b-instruct", hardware="rtx-4090", ctx=32768, prompt_tokens=30000)
    assert long.throughput.decode_tokens_per_s < short.throughput.decode_tokens_per_s * 0.9
    assert long.throughput.time_to_first_token_s > 30 * short.throughput.time_to_first_token_s


def test_flash_attention_off_reads_the_cache_once_per_query_head():
    on = estimate("llama-3.1-8b-instruct", hardware="rtx-4090", ctx=32768, prompt_tokens=30000, flash_attn=True)
    off = estimate("llama-3.1-8b-instruct", hardware="rtx-4090", ctx=32768, prompt_tokens=30000, flash_attn=False)
    assert off.throughput.decode_tokens_per_s < on.throughput.decode_tokens_per_s
    assert off.throughput.prefill_tokens_per_s < on.throughput.prefill_tokens_per_s


def test_prefill_left_unknown_without_catalog_tflops():
    result = estimate("llama-3.1-8b-instruct", hardware="m2-max-38c@64")
    assert result.throughput.decode_tokens_per_s
    assert result.throughput.prefill_tokens_per_s is None and result.throughput.time_to_first_token_s is None
    assert any("TFLOPS" in note for note in result.throughput.notes)


def test_cpu_only_and_apple():
    cpu = estimate("llama-3.1-8b-instruct", hardware="cpu@64")
    assert cpu.placement == "cpu"
    # ~4.9 GB read per token at 89.6 GB/s: a handful of tokens per second, and compute-bound prefill
    assert 5 < cpu.throughput.decode_tokens_per_s < 20
    assert cpu.throughput.prefill_tokens_per_s < 200
    server = estimate("llama-3.1-8b-instruct", hardware="epyc-9004-12ch@384")
    assert server.throughput.decode_tokens_per_s > 3 * cpu.throughput.decode_tokens_per_s
    mac = estimate("llama-3.1-8b-instruct", hardware="m2-ultra-76c@192")
    assert mac.placement == "unified-memory" and mac.throughput.decode_tokens_per_s > 40


def test_decode_is_bandwidth_bound():
    """Twice the bytes per token, about half the speed; more bandwidth, more speed."""
    q4 = decode("llama-3.1-8b-instruct", "rtx-4090", quant="Q4_K_M")
    f16 = decode("llama-3.1-8b-instruct", "rtx-4090", quant="F16")
    assert 2.3 < q4 / f16 < 3.5
    assert decode("llama-3.1-8b-instruct", "rtx-3090") < q4


def test_per_layer_floor_lowers_effective_bandwidth_of_fast_parts():
    """An 8B model reaches a smaller share of peak bandwidth on an H100 than a 70B one does."""

    def share(model: str, hardware: str) -> float:
        result = estimate(model, hardware=hardware, ctx=1024, prompt_tokens=1)
        bytes_per_token = sum(d.weights_bytes for d in result.memory.devices if d.device != "cpu")
        bandwidth = parse_hardware_spec(hardware).hosts[0].accelerators[0].memory_bandwidth_gb_s * 1e9
        return result.throughput.decode_tokens_per_s * bytes_per_token / bandwidth

    assert share("llama-3.1-8b-instruct", "h100-sxm") < share("llama-3.1-70b-instruct", "h100-sxm") - 0.05
    assert share("llama-3.1-8b-instruct", "h100-sxm") < share("llama-3.1-8b-instruct", "rtx-4060-ti-16gb")


# --------------------------------------------------------------------------- serving


def _inputs(model: str, backend: str, hardware: str, **kwargs):
    machine = parse_hardware_spec(hardware)
    result = estimate(model, backend=backend, hardware=machine, **kwargs)
    model_input = resolve_model(model)
    weights = weights_for(model_input, result.quant, get_engine(backend).weights_format)
    return result, model_input.entry, weights, machine


def test_serving_throughput_grows_with_users_until_kv_or_compute_binds():
    result, model, weights, machine = _inputs("llama-3.1-8b-instruct", "vllm", "h100-sxm", quant="bf16", ctx=8192)
    capacity = result.memory.max_concurrency
    assert capacity and capacity > 8
    one = speed.serving_throughput(result, model, weights, machine, 1)
    eight = speed.serving_throughput(result, model, weights, machine, 8)
    assert one[0] == pytest.approx(one[1])
    assert eight[0] > 5 * one[0]  # weights are read once per step for every sequence
    assert eight[1] < one[1]
    crowd = int(capacity) * 4
    full = speed.serving_throughput(result, model, weights, machine, int(capacity))
    over = speed.serving_throughput(result, model, weights, machine, crowd)
    assert over[0] == pytest.approx(full[0])  # the KV pool caps the batch
    assert over[1] == pytest.approx(full[0] / crowd)


def test_serving_throughput_hits_the_compute_roofline():
    result, model, weights, machine = _inputs("llama-3.1-8b-instruct", "vllm", "h100-sxm", quant="bf16", ctx=2048, gpu_memory_utilization=0.95)
    users = int(result.memory.max_concurrency)
    aggregate, _ = speed.serving_throughput(result, model, weights, machine, users)
    peak = machine.hosts[0].accelerators[0].bf16_tflops * 1e12
    flops_per_token = 2 * result.model.params_total
    assert aggregate * flops_per_token < peak


def test_serving_llamacpp_uses_its_slots():
    result, model, weights, machine = _inputs("llama-3.1-8b-instruct", "llama.cpp", "rtx-4090", parallel=4, ctx=4096)
    aggregate, per_user = speed.serving_throughput(result, model, weights, machine, 8)
    single = result.throughput.decode_tokens_per_s
    assert single < aggregate < 4 * single
    assert per_user == pytest.approx(aggregate / 8)


def test_speed_is_fast():
    result, model, weights, machine = _inputs("llama-3.1-70b-instruct", "llama.cpp", "2xrtx-4090@64")
    start = time.perf_counter()
    for _ in range(50):
        speed.attach_throughput(result, model, weights, machine, 512)
    assert (time.perf_counter() - start) / 50 < 0.002


# --------------------------------------------------------------------------- tensor rate and board power


def _accelerator(spec: str):
    accelerator = parse_hardware_spec(spec).hosts[0].accelerators[0]
    return accelerator, speed._catalog_entry(accelerator)


def test_only_geforce_doubles_the_catalog_rate_for_fp16_accumulation():
    """GeForce runs FP16 with FP32 accumulate at half its FP16-accumulate rate; workstation and data-centre parts run both at full rate."""
    for spec, factor in (("rtx-4090", 2.0), ("rtx-3090", 2.0), ("rtx-6000-ada", 1.0), ("rtx-5000-ada", 1.0), ("rtx-a6000", 1.0), ("l40s", 1.0), ("a100-pcie-80gb", 1.0)):
        accelerator, entry = _accelerator(spec)
        rate, _, _ = speed.matmul_tflops(accelerator, entry, "llama.cpp", "F16")
        assert rate == pytest.approx(accelerator.fp16_tflops * factor), spec


def test_power_caps_the_achieved_rate_not_the_peak():
    assert speed.achieved_tflops(300.0, 0.5, 300.0, 0.4) == pytest.approx(120.0)  # power binds: 0.4 × 300 W
    assert speed.achieved_tflops(100.0, 0.5, 300.0, 0.4) == pytest.approx(50.0)  # the kernels' share binds
    assert speed.achieved_tflops(300.0, 0.5, None, 0.4) == pytest.approx(150.0)  # no board power: no cap
    assert speed.achieved_tflops(300.0, 0.5, 300.0, None) == pytest.approx(150.0)  # generation without a limit
    assert speed.achieved_tflops(600.0, 0.5, 300.0, 0.4, fp16_equivalent=2.0) == pytest.approx(240.0)  # FP8 counts double


def test_same_die_at_lower_board_power_prefills_slower():
    """RTX 6000 Ada and RTX 4090 are both AD102; the 300 W workstation board has the higher peak but the 450 W one is faster."""

    def prefill(hardware: str) -> float:
        return estimate("llama-3.1-8b-instruct", quant="F16", hardware=hardware, ctx=4096, prompt_tokens=512).throughput.prefill_tokens_per_s

    workstation, geforce = prefill("rtx-6000-ada"), prefill("rtx-4090")
    assert _accelerator("rtx-6000-ada")[0].fp16_tflops > speed.matmul_tflops(*_accelerator("rtx-4090"), "llama.cpp", "F16")[0]
    assert workstation < 0.85 * geforce
    # A100 PCIe (300 W) and SXM (400 W): GA100 is not power-limited, both prefill alike.
    assert prefill("a100-pcie-80gb") == pytest.approx(prefill("a100-sxm-80gb"), rel=0.02)


def test_power_generation_and_fallbacks():
    constants = speed.load_constants()
    table = constants["power"]["tensor_fp16_tflops_per_watt"]
    assert speed.power_generation(*_accelerator("rtx-3090")) == "nvidia-8.6"
    assert speed.power_generation(*_accelerator("rtx-6000-ada")) == "nvidia-8.9"
    assert speed.tflops_per_watt(constants, "nvidia-8.0") is None  # GA100: no limit in the data
    assert speed.tflops_per_watt(constants, "nvidia-12.0") == table["nvidia-8.9"]["value"]  # Blackwell GDDR7 as Ada
    assert speed.tflops_per_watt(constants, "nvidia-10.0") == table["nvidia-9.0"]["value"]  # Blackwell HBM as Hopper
    assert speed.tflops_per_watt(constants, speed.power_generation(*_accelerator("mi300x"))) == table["nvidia-8.9"]["value"]
    assert speed.tflops_per_watt(constants, None) == table["nvidia-8.9"]["value"]
    # Older processes are no more efficient than newer ones.
    assert table["nvidia-8.6"]["value"] < table["nvidia-8.9"]["value"] < table["nvidia-9.0"]["value"]


def test_f16_prefill_slower_than_the_same_machines_quantized_prefill_is_excluded():
    def row(quant: str, tokens_per_s: float, count: int = 4) -> dict:
        return {"hardware_id": "nvidia-x", "gpu_count": count, "model": "m", "quant": quant, "test": "pp512", "tokens_per_s": tokens_per_s, "build": "abc (2824)", "backend": "CUDA"}

    flagged = BENCH._f16_slower_than_quantized([row("Q4_K_M", 4671.0), row("F16", 2428.0), row("Q4_K_M", 3000.0, 1), row("F16", 3900.0, 1)])
    assert list(flagged) == [1] and "Q4_K_M" in flagged[1]
    # Current builds run quantized prefill on int8 tensor cores (MMQ): no such comparison.
    assert not BENCH._f16_slower_than_quantized([dict(row("Q4_K_M", 4671.0), build="abc (6000)"), dict(row("F16", 2428.0), build="abc (6000)")])


@needs_ground_truth
def test_anomalous_rows_are_excluded_with_their_reason():
    reasons = {skip.index: skip.reason for skip in SKIPS if skip.excluded}
    assert "Q4_K_M prefill" in reasons[345]  # 4x RTX 5000 Ada, 8B F16 pp512
    assert "did not pipeline" in reasons[346]
    assert "2x and 6x RTX 3090" in reasons[86]
