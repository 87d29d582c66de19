"""`sizer estimate` for every input kind, engine, format, cache type and placement, in both forms."""

from __future__ import annotations

import json

import jsonschema
import pytest
from click.testing import CliRunner

from sizer.cli import cli
from sizer.output import json_schema
from tests.conftest import ground_truth
from tests.estimate.test_gguf_file import dense_tensors, llama_meta, write_gguf

GIB = 2**30


def estimate_json(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["estimate", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    jsonschema.Draft202012Validator(json_schema("estimate")).validate(document)
    return document["data"]


def test_the_json_form_has_the_published_keys():
    data = estimate_json("llama-3.1-8b-instruct")
    for key in ("weights_bytes", "kv_cache_bytes", "compute_bytes", "overhead_bytes", "total_bytes", "devices"):
        assert key in data["memory"]
    memory = data["memory"]
    assert memory["total_bytes"] == sum(memory[k] for k in ("weights_bytes", "kv_cache_bytes", "compute_bytes", "overhead_bytes"))


def test_the_human_form_is_a_table_per_device():
    output = CliRunner().invoke(cli, ["estimate", "llama-3.1-8b-instruct", "--hardware", "rtx-4090@64"]).output
    assert "device  layers  weights" in output and "cuda0" in output and "placement: gpu — fits" in output


def test_a_config_json_input(tmp_path):
    model = next(m for m in ground_truth("models_and_gguf_sizes.json")["models"] if m["id"] == "Qwen2.5-7B")
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "qwen2", **model["config"]}))
    data = estimate_json(str(tmp_path))
    assert data["model"]["source"] == "config.json" and data["model"]["architecture"] == "qwen2"


def test_a_gguf_input_uses_the_files_own_tensor_sizes(tmp_path):
    path = write_gguf(tmp_path / "tiny.gguf", "llama", llama_meta, dense_tensors())
    data = estimate_json(str(path))
    assert data["model"]["source"] == "gguf" and data["quant"] == "Q4_K_M"
    from sizer.estimate.gguf_file import read_gguf_header

    header = read_gguf_header(path)
    assert data["memory"]["weights_bytes"] == sum(t.n_bytes for t in header.tensors)


@pytest.mark.parametrize("quant", ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS", "Q3_K_M", "IQ3_M", "Q2_K", "IQ2_M", "IQ1_S"])
def test_every_gguf_quant(quant):
    assert estimate_json("llama-3.1-8b-instruct", "-q", quant)["quant"] == quant


@pytest.mark.parametrize(
    ("backend", "quant"),
    [("vllm", "bf16"), ("vllm", "fp8"), ("vllm", "awq"), ("vllm", "gptq"), ("vllm", "int8"), ("tgi", "nf4"), ("tgi", "eetq"), ("tgi", "fp4")],
)
def test_every_checkpoint_format(backend, quant):
    data = estimate_json("llama-3.1-8b-instruct", "-b", backend, "-q", quant, "--hardware", "h100-sxm")
    assert data["weights_format"] == "safetensors" and data["fits"] is True


def test_mxfp4_is_gpt_oss_native_format():
    assert estimate_json("gpt-oss-20b", "-b", "vllm", "--hardware", "h100-sxm")["quant"] == "mxfp4"
    assert estimate_json("gpt-oss-20b")["quant"] == "MXFP4_MOE"


@pytest.mark.parametrize(("kv_type", "ratio"), [("f16", 1.0), ("q8_0", 34 / 64), ("q4_0", 18 / 64)])
def test_llama_cpp_cache_types(kv_type, ratio):
    base = estimate_json("llama-3.1-8b-instruct", "--ctx", "8192")["memory"]["kv_cache_bytes"]
    assert estimate_json("llama-3.1-8b-instruct", "--ctx", "8192", "--kv-type", kv_type)["memory"]["kv_cache_bytes"] == pytest.approx(base * ratio)


def test_fp8_cache_doubles_vllm_kv_capacity():
    auto = estimate_json("llama-3.1-8b-instruct", "-b", "vllm", "--hardware", "h100-sxm")["memory"]["kv_capacity_tokens"]
    fp8 = estimate_json("llama-3.1-8b-instruct", "-b", "vllm", "--hardware", "h100-sxm", "--kv-type", "fp8")["memory"]["kv_capacity_tokens"]
    assert fp8 == pytest.approx(2 * auto, rel=0.01)


@pytest.mark.parametrize(
    ("args", "placement"),
    [
        (("--hardware", "rtx-4090@64"), "gpu"),
        (("--hardware", "2xrtx-3090@128", "-q", "Q8_0", "--ctx", "32768", "-m", "llama-3.3-70b-instruct"), "partial-offload"),
        (("--hardware", "2xrtx-3090@128", "-m", "qwen2.5-32b-instruct"), "multi-gpu"),
        (("--hardware", "rtx-4060@64", "-m", "llama-3.1-70b-instruct"), "partial-offload"),
        (("--hardware", "cpu@64"), "cpu"),
        (("--hardware", "m3-max-40c@64"), "unified-memory"),
        (("--hardware", "2x8xh100-sxm", "-b", "vllm", "-m", "llama-3.1-405b-instruct"), "multi-node"),
        (("--hardware", "4xa100-sxm-80gb", "-b", "vllm", "-m", "llama-3.1-70b-instruct"), "multi-gpu"),
        (("--hardware", "2xl40s", "-b", "tgi", "-m", "llama-3.1-70b-instruct", "-q", "awq"), "multi-gpu"),
    ],
)
def test_every_placement(args, placement):
    args = list(args)
    model = "llama-3.1-8b-instruct"
    if "-m" in args:
        model = args.pop(args.index("-m") + 1)
        args.remove("-m")
    assert estimate_json(model, *args)["placement"] == placement


def test_multi_node_vllm_splits_layers_across_nodes():
    data = estimate_json("llama-3.1-405b-instruct", "-b", "vllm", "--hardware", "2x8xh100-sxm")
    assert data["settings"]["tensor_parallel"] == 8 and data["settings"]["pipeline_parallel"] == 2
    assert {d["device"].split("/")[0] for d in data["memory"]["devices"]} == {"node-0", "node-1"}


def test_apple_gpu_memory_stays_under_the_working_set_limit():
    data = estimate_json("qwen2.5-32b-instruct", "--hardware", "m2-max-38c@64")
    metal = next(d for d in data["memory"]["devices"] if d["device"].startswith("metal"))
    assert metal["total_bytes"] <= metal["capacity_bytes"] <= 64 * GIB * 0.75 + 1


def test_ollama_takes_its_context_default_from_vram():
    assert estimate_json("llama-3.1-8b-instruct", "-b", "ollama", "--hardware", "rtx-4060@32")["settings"]["ctx"] == 4096
    assert estimate_json("llama-3.1-8b-instruct", "-b", "ollama", "--hardware", "rtx-4090@64")["settings"]["ctx"] == 32768
    assert estimate_json("llama-3.1-8b-instruct", "-b", "ollama", "--hardware", "h100-sxm@256")["settings"]["ctx"] == 131072
