"""The settings in the artifacts read back equal the estimate's: context, parallel sequences,
KV cache type, GPU layers, tensor/pipeline parallel size and memory utilization — in every
artifact that starts the engine (script, compose file, manifests)."""

from __future__ import annotations

import pytest
import yaml

from tests.deploy._support import (
    case_ids,
    compose_of,
    deployment_for,
    estimate_for,
    manifests_of,
    modelfile_parameters,
    ollama_server_env,
    option_values,
    server_argvs,
    value,
)


def _proportions(values):
    total = sum(values)
    return [v / total for v in values]


@pytest.mark.parametrize("case_id", case_ids(backend="llama.cpp"))
def test_llama_server_flags_carry_the_estimated_settings(case_id, tmp_path):
    s = estimate_for(case_id).settings
    for artifact, argv in server_argvs(case_id, tmp_path).items():
        assert int(value(argv, "--ctx-size")) == s.n_ctx, artifact
        assert int(value(argv, "--parallel")) == s.parallel, artifact
        assert int(value(argv, "--n-gpu-layers")) == s.gpu_layers, artifact
        assert value(argv, "--cache-type-k") == s.kv_type_k and value(argv, "--cache-type-v") == s.kv_type_v, artifact
        assert value(argv, "--flash-attn") == ("on" if s.flash_attn else "off"), artifact
        assert int(value(argv, "--batch-size")) == s.n_batch and int(value(argv, "--ubatch-size")) == s.n_ubatch, artifact
        assert value(argv, "--fit") == "off", artifact


@pytest.mark.parametrize("case_id", [c for c in case_ids(backend="llama.cpp") if estimate_for(c).settings.tensor_split])
def test_llama_server_tensor_split_has_the_estimated_proportions(case_id, tmp_path):
    expected = _proportions(estimate_for(case_id).settings.tensor_split)
    for artifact, argv in server_argvs(case_id, tmp_path).items():
        split = [float(v) for v in value(argv, "--tensor-split").split(",")]
        assert _proportions(split) == pytest.approx(expected, rel=1e-6), artifact


@pytest.mark.parametrize("case_id", ["llamacpp-cpu", "ollama-cpu"])
def test_threads_are_the_hosts_physical_cores(case_id, tmp_path):
    cores = 96  # epyc-9004-12ch in the hardware catalog
    deployment = deployment_for(case_id)
    if deployment.plan.backend == "llama.cpp":
        assert {int(value(argv, "--threads")) for argv in server_argvs(case_id, tmp_path).values()} == {cores}
    else:
        assert modelfile_parameters(deployment.artifact("Modelfile").content)["num_thread"] == [str(cores)]


@pytest.mark.parametrize("case_id", case_ids(backend="ollama"))
def test_ollama_environment_carries_the_estimated_settings(case_id, tmp_path):
    s = estimate_for(case_id).settings
    for artifact, env in ollama_server_env(case_id, tmp_path).items():
        assert int(env["OLLAMA_CONTEXT_LENGTH"]) == s.ctx, artifact
        assert int(env["OLLAMA_NUM_PARALLEL"]) == s.parallel, artifact
        assert env["OLLAMA_KV_CACHE_TYPE"] == s.kv_type_k, artifact
        assert env["OLLAMA_FLASH_ATTENTION"] == ("1" if s.flash_attn else "0"), artifact
        assert env["OLLAMA_MAX_LOADED_MODELS"] == "1", artifact


@pytest.mark.parametrize("case_id", case_ids(backend="ollama"))
def test_modelfile_carries_the_estimated_context(case_id):
    deployment = deployment_for(case_id)
    parameters = modelfile_parameters(deployment.artifact("Modelfile").content)
    assert parameters["num_ctx"] == [str(estimate_for(case_id).settings.ctx)]


@pytest.mark.parametrize("case_id", case_ids(backend="ollama"))
def test_modelfile_sets_num_gpu_only_for_a_planned_partial_offload(case_id):
    e = estimate_for(case_id)
    parameters = modelfile_parameters(deployment_for(case_id).artifact("Modelfile").content)
    if e.placement == "partial-offload":
        assert parameters["num_gpu"] == [str(e.settings.gpu_layers)]
    else:
        assert "num_gpu" not in parameters


@pytest.mark.parametrize("case_id", case_ids(backend="vllm"))
def test_vllm_serve_flags_carry_the_estimated_settings(case_id, tmp_path):
    s = estimate_for(case_id).settings
    kv = {"auto": "auto", "fp8": "fp8", "bf16": "bfloat16", "fp16": "float16"}[s.kv_type_k]
    for artifact, argv in server_argvs(case_id, tmp_path).items():
        assert int(value(argv, "--max-model-len")) == s.ctx, artifact
        assert float(value(argv, "--gpu-memory-utilization")) == s.gpu_memory_utilization, artifact
        assert int(value(argv, "--tensor-parallel-size")) == s.tensor_parallel, artifact
        assert int(value(argv, "--pipeline-parallel-size")) == s.pipeline_parallel, artifact
        assert int(value(argv, "--max-num-seqs")) == s.max_num_seqs, artifact
        assert int(value(argv, "--max-num-batched-tokens")) == s.max_num_batched_tokens, artifact
        assert value(argv, "--kv-cache-dtype") == kv, artifact


@pytest.mark.parametrize("case_id", case_ids(backend="vllm"))
def test_vllm_names_the_estimated_quantization(case_id, tmp_path):
    from sizer.engines.vllm import Vllm

    e = estimate_for(case_id)
    method = Vllm().quantization_flag(e.quant)
    for argv in server_argvs(case_id, tmp_path).values():
        if method:
            assert value(argv, "--quantization") == method
        else:
            assert value(argv, "--dtype") == {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[e.quant]


@pytest.mark.parametrize("case_id", case_ids(backend="tgi"))
def test_tgi_launcher_flags_carry_the_estimated_settings(case_id, tmp_path):
    s = estimate_for(case_id).settings
    for artifact, argv in server_argvs(case_id, tmp_path).items():
        assert int(value(argv, "--max-total-tokens")) == s.ctx, artifact
        assert int(value(argv, "--max-input-tokens")) == s.ctx - 1, artifact
        assert int(value(argv, "--num-shard")) == s.tensor_parallel, artifact
        assert float(value(argv, "--cuda-memory-fraction")) == s.gpu_memory_utilization, artifact
        assert int(value(argv, "--max-batch-prefill-tokens")) == s.max_num_batched_tokens, artifact
        if s.kv_type_k == "auto":
            assert "--kv-cache-dtype" not in option_values(argv), artifact
        else:
            assert value(argv, "--kv-cache-dtype") == s.kv_type_k, artifact


def _gpus_per_node(case_id: str) -> int:
    e = estimate_for(case_id)
    deployment = deployment_for(case_id)
    if e.backend in ("vllm", "tgi"):
        return e.settings.tensor_parallel * e.settings.pipeline_parallel // deployment.plan.nodes
    return len([d for d in e.memory.devices if d.kind == "gpu"]) if e.settings.gpu_layers else 0


@pytest.mark.parametrize("case_id", case_ids(kinds=("compose",)))
def test_compose_reserves_the_gpus_the_plan_uses(case_id):
    compose = compose_of(deployment_for(case_id))
    for name, service in compose["services"].items():
        if name.endswith("-init"):
            continue
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
        reserved = sum(d.get("count", 0) + len(d.get("device_ids", [])) for d in devices if d["driver"] == "nvidia")
        amd = len(service.get("devices", [])) > 0
        assert reserved == (0 if amd else _gpus_per_node(case_id)), name


@pytest.mark.parametrize("case_id", case_ids(kinds=("kubernetes",)))
def test_kubernetes_limits_the_gpus_the_plan_uses(case_id):
    for document in manifests_of(deployment_for(case_id)):
        if document["kind"] == "Deployment":
            container = document["spec"]["template"]["spec"]["containers"][0]
            assert container["resources"]["limits"]["nvidia.com/gpu"] == _gpus_per_node(case_id)


def test_a_subset_of_the_hosts_gpus_is_reserved_by_device_id():
    # 3 x L4 and 32 heads: vLLM's largest legal tensor-parallel size is 2, so two of the three GPUs.
    service = compose_of(deployment_for("vllm-subset"))["services"]["vllm"]
    assert service["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] == ["0", "1"]


def test_partial_offload_uses_the_computed_gpu_layers_not_99(tmp_path):
    e = estimate_for("llamacpp-partial")
    assert 0 < e.settings.gpu_layers < 65
    for argv in server_argvs("llamacpp-partial", tmp_path).values():
        assert int(value(argv, "--n-gpu-layers")) == e.settings.gpu_layers


def test_multi_node_manifests_run_one_worker_per_further_node():
    documents = {d["metadata"]["name"]: d for d in manifests_of(deployment_for("vllm-multi-node"))}
    workers = [d for d in documents.values() if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-worker")]
    assert [w["spec"]["replicas"] for w in workers] == [deployment_for("vllm-multi-node").plan.nodes - 1]
    headless = [d for d in documents.values() if d["kind"] == "Service" and d["spec"].get("clusterIP") == "None"]
    assert len(headless) == 1 and headless[0]["spec"]["ports"][0]["port"] == 6379


def test_compose_and_manifests_parse_as_yaml_documents():
    deployment = deployment_for("vllm-multi-gpu")
    assert isinstance(yaml.safe_load(deployment.artifact("docker-compose.yml").content), dict)
    assert all(isinstance(d, dict) for d in manifests_of(deployment))
