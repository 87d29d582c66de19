"""What each engine's deployment section decides: model names and tags, Apple Silicon, several
nodes, formats, notes, and the smoke test."""

from __future__ import annotations

import json

import pytest
import yaml

from sizer.catalog import get_model, model_entries
from sizer.deploy import Deployment, deploy
from sizer.engines.ollama import LIBRARY_ONLY_TAG, LIBRARY_TAGS, ollama_model_tag
from sizer.errors import InvalidInputError, UnsupportedError
from sizer.estimate.api import estimate
from tests.deploy._support import (
    argv_of,
    compose_of,
    deployment_for,
    estimate_for,
    run_script,
    value,
)

# --------------------------------------------------------------------------- Ollama tags


@pytest.mark.parametrize(
    "model, quant, tag",
    [
        ("llama-3.1-8b-instruct", "Q4_K_M", "llama3.1:8b-instruct-q4_K_M"),
        ("llama-3.1-8b-instruct", "Q8_0", "llama3.1:8b-instruct-q8_0"),
        ("llama-3.1-8b-instruct", "F16", "llama3.1:8b-instruct-fp16"),
        ("mistral-7b-instruct-v0.3", "Q5_K_M", "mistral:7b-instruct-v0.3-q5_K_M"),
        ("gemma-3-4b-it", "Q4_K_M", "gemma3:4b-it-q4_K_M"),
        ("deepseek-r1-distill-qwen-7b", "Q8_0", "deepseek-r1:7b-qwen-distill-q8_0"),
        ("gpt-oss-20b", "MXFP4_MOE", "gpt-oss:20b"),
    ],
)
def test_ollama_tag_encodes_the_quantization(model, quant, tag):
    entry = get_model(model)
    assert ollama_model_tag(entry, quant, entry.hf_repo) == (tag, None)


def test_a_quantization_the_library_does_not_publish_is_pulled_from_hugging_face():
    entry = get_model("gemma-3-4b-it")
    tag, why = ollama_model_tag(entry, "Q5_K_M", entry.hf_repo)
    assert tag == "hf.co/google/gemma-3-4b-it:Q5_K_M" and "q4_K_M" in why


def test_a_model_outside_the_library_is_pulled_from_hugging_face():
    entry = get_model("qwen3-8b")
    assert ollama_model_tag(entry, "Q4_K_M", entry.hf_repo) == ("hf.co/Qwen/Qwen3-8B:Q4_K_M", "this model is not in Ollama's library")


def test_every_catalog_ollama_tag_has_a_tag_rule():
    tags = {e.ollama_tag for e in model_entries() if e.ollama_tag}
    assert tags - set(LIBRARY_TAGS) - set(LIBRARY_ONLY_TAG) == set()


def test_the_hugging_face_repository_given_replaces_the_library_tag(tmp_path):
    deployment = deploy(estimate_for("ollama-gpu"), hf_repo="bartowski/Meta-Llama-3.1-8B-Instruct-GGUF")
    calls = run_script(deployment.artifact("run.sh").content, tmp_path)
    assert argv_of(calls, "ollama", first="pull") == ["pull", "hf.co/bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M"]


def test_ollama_spreads_over_several_gpus_when_the_plan_does():
    assert "OLLAMA_SCHED_SPREAD=1" in deployment_for("ollama-multi-gpu").artifact("ollama.env").content
    assert "OLLAMA_SCHED_SPREAD" not in deployment_for("ollama-gpu").artifact("ollama.env").content


def test_ollama_compose_creates_the_model_once_the_server_is_healthy():
    services = compose_of(deployment_for("ollama-gpu"))["services"]
    init = services["ollama-init"]
    assert init["depends_on"] == {"ollama": {"condition": "service_healthy"}}
    assert "ollama create llama-3.1-8b-instruct-q4_k_m -f /sizer/Modelfile" in init["command"][0]


# --------------------------------------------------------------------------- llama.cpp


def test_llama_cpp_downloads_repo_and_quant_and_says_the_repo_may_hold_no_gguf(tmp_path):
    deployment = deployment_for("llamacpp-gpu")
    argv = argv_of(run_script(deployment.artifact("run.sh").content, tmp_path), "llama-server")
    assert value(argv, "--hf-repo") == "meta-llama/Llama-3.1-8B-Instruct:Q4_K_M"
    assert any("GGUF" in note for note in deployment.notes)


def test_a_plan_from_a_local_gguf_needs_its_path():
    e = estimate_for("llamacpp-gpu")
    from_file = e.model_copy(update={"model": e.model.model_copy(update={"source": "gguf", "hf_repo": "local"})})
    with pytest.raises(InvalidInputError, match="model_path"):
        deploy(from_file)


def test_llama_cpp_image_follows_the_gpu_vendor():
    images = {case: compose_of(deployment_for(case))["services"]["llama-server"]["image"]
              for case in ("llamacpp-gpu", "llamacpp-amd", "llamacpp-cpu")}
    assert images == {
        "llamacpp-gpu": "ghcr.io/ggml-org/llama.cpp:server-cuda",
        "llamacpp-amd": "ghcr.io/ggml-org/llama.cpp:server-rocm",
        "llamacpp-cpu": "ghcr.io/ggml-org/llama.cpp:server",
    }


# --------------------------------------------------------------------------- Apple Silicon


@pytest.mark.parametrize("case_id", ["llamacpp-apple", "ollama-apple"])
def test_apple_silicon_gets_native_commands_and_no_container(case_id):
    deployment = deployment_for(case_id)
    assert deployment.of_kind("command") and not deployment.of_kind("compose")
    assert any("Metal" in note and "Docker" in note for note in deployment.notes)


# --------------------------------------------------------------------------- vLLM and TGI


def test_vllm_on_several_nodes_starts_a_ray_head_then_serves_with_the_ray_backend(tmp_path):
    deployment = deployment_for("vllm-multi-node")
    calls = run_script(deployment.artifact("run-head.sh").content, tmp_path)
    assert [c.argv[0] for c in calls] == ["ray", "python3", "vllm"]
    assert calls[0].argv[1:] == ["start", "--head", "--port=6379"]
    assert value(calls[2].argv[2:], "--distributed-executor-backend") == "ray"


def test_vllm_workers_join_the_head_given_in_head_node_ip(tmp_path):
    calls = run_script(deployment_for("vllm-multi-node").artifact("run-worker.sh").content, tmp_path, env={"HEAD_NODE_IP": "10.0.0.1"})
    assert [c.argv for c in calls] == [["ray", "start", "--address=10.0.0.1:6379", "--block"]]


def test_a_vllm_worker_without_head_node_ip_stops_with_a_message(tmp_path):
    import subprocess

    script = tmp_path / "w.sh"
    script.write_text(deployment_for("vllm-multi-node").artifact("run-worker.sh").content)
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "HEAD_NODE_IP" in result.stderr


def test_vllm_says_when_the_checkpoint_must_be_pre_quantized():
    e = estimate("llama-3.1-8b-instruct", backend="vllm", hardware="l4", quant="awq")
    assert any("awq" in note and "hf_repo" in note for note in deploy(e).notes)


def test_tgi_and_vllm_refuse_hardware_they_cannot_use():
    with pytest.raises(UnsupportedError):
        estimate("llama-3.1-8b-instruct", backend="vllm", hardware="m2-max-38c@64")
    with pytest.raises(UnsupportedError):
        estimate("llama-3.1-8b-instruct", backend="tgi", hardware="cpu@64")
    with pytest.raises(UnsupportedError):
        estimate("llama-3.1-405b-instruct", backend="tgi", hardware="2x8xh100-sxm", quant="fp8")


def test_tgi_serves_from_its_image_on_port_80_published_as_asked(tmp_path):
    deployment = deploy(estimate_for("tgi-gpu"), port=9000, host="127.0.0.1")
    docker = argv_of(run_script(deployment.artifact("run.sh").content, tmp_path), "docker", first="run")
    assert value(docker, "-p") == "127.0.0.1:9000:80"
    assert deployment.plan.base_url == "http://127.0.0.1:9000/v1"


# --------------------------------------------------------------------------- formats, notes, smoke test


def test_formats_choose_the_artifacts_and_the_smoke_test_always_comes():
    deployment = deploy(estimate_for("vllm-gpu"), formats={"compose"})
    assert [a.kind for a in deployment.artifacts] == ["compose", "smoke-test", "smoke-test"]


def test_an_unknown_format_is_refused():
    with pytest.raises(InvalidInputError, match="helm"):
        deploy(estimate_for("vllm-gpu"), formats={"helm"})


def test_asking_for_manifests_an_engine_lacks_says_so():
    deployment = deploy(estimate_for("llamacpp-gpu"), formats={"kubernetes"})
    assert not deployment.of_kind("kubernetes")
    assert any("Kubernetes" in note for note in deployment.notes)


def test_a_plan_that_does_not_fit_is_flagged():
    e = estimate_for("vllm-gpu").model_copy(update={"fits": False})
    assert any("NOT fit" in note for note in deploy(e).notes)


def test_custom_host_and_port_reach_the_command_the_compose_file_and_the_smoke_test(tmp_path):
    deployment = deploy(estimate_for("llamacpp-gpu"), host="127.0.0.1", port=9090)
    argv = argv_of(run_script(deployment.artifact("run.sh").content, tmp_path), "llama-server")
    assert (value(argv, "--host"), value(argv, "--port")) == ("127.0.0.1", "9090")
    port = compose_of(deployment)["services"]["llama-server"]["ports"][0]
    assert (port["host_ip"], port["published"], port["target"]) == ("127.0.0.1", "9090", 8080)
    assert "http://127.0.0.1:9090/health" in deployment.artifact("smoke-test.sh").content


@pytest.mark.parametrize("case_id", ["llamacpp-gpu", "ollama-gpu", "vllm-gpu", "tgi-gpu"])
def test_smoke_test_asks_the_served_model_at_the_base_url(case_id, tmp_path):
    deployment = deployment_for(case_id)
    calls = run_script(deployment.artifact("smoke-test.sh").content, tmp_path)
    health, chat = (c.argv for c in calls)
    assert health[1] == deployment.plan.base_url.removesuffix("/v1") + {"ollama": "/api/version"}.get(deployment.plan.backend, "/health")
    assert chat[1] == deployment.plan.base_url + "/chat/completions"
    assert json.loads(value(chat[1:], "-d"))["model"] == deployment.plan.served_model_name
    python = deployment.artifact("smoke-test.py").content
    compile(python, "smoke-test.py", "exec")
    assert repr(deployment.plan.base_url) in python and repr(deployment.plan.served_model_name) in python


def test_the_deployment_serializes_to_json_with_its_plan():
    document = json.loads(deployment_for("vllm-multi-node").model_dump_json())
    assert Deployment.model_validate(document).plan.nodes == 2
    assert {a["filename"] for a in document["artifacts"]} >= {"run-head.sh", "run-worker.sh", "kubernetes.yaml"}


def test_a_device_neutral_plan_still_gets_containers_for_its_gpus():
    compose = yaml.safe_load(deployment_for("vllm-neutral").artifact("docker-compose.yml").content)
    assert compose["services"]["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]["count"] == 1


def test_the_text_rendering_shows_every_file_under_its_name():
    from sizer.deploy import render_deployment

    deployment = deployment_for("ollama-gpu")
    text = render_deployment(deployment)
    assert all(f"# ==> {a.filename} (" in text and a.content.rstrip("\n") in text for a in deployment.artifacts)
