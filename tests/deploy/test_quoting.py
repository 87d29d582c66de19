"""A hostile model name, repository, path, system prompt or stop sequence cannot break out of a
generated command: the scripts run (with stand-ins for the engines) and every value arrives
as one intact argument; YAML and Modelfiles read back to the same text."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from sizer.deploy import deploy
from sizer.deploy.compose import unescape
from sizer.errors import InvalidInputError
from tests.deploy._support import (
    HOSTILE,
    argv_of,
    k8s_unescape,
    modelfile_parameters,
    pwned,
    run_script,
    value,
)
from tests.deploy._support import estimate_for as _estimate_for

BASE = {"llama.cpp": "llamacpp-gpu", "ollama": "ollama-gpu", "vllm": "vllm-gpu", "tgi": "tgi-gpu"}


def hostile_estimate(backend: str, text: str):
    """The backend's base plan, its model renamed (name, id and repository) to `text`."""
    e = _estimate_for(BASE[backend])
    return e.model_copy(update={"model": e.model.model_copy(update={"name": text, "id": text, "hf_repo": text})})


def _scripts(deployment) -> list[str]:
    return [a.content for a in deployment.artifacts if a.language == "sh"]


def _run_all(deployment, tmp_path: Path):
    calls = []
    for index, script in enumerate(_scripts(deployment)):
        workdir = tmp_path / f"s{index}"
        workdir.mkdir()
        calls += run_script(script, workdir)
        assert pwned(workdir) == []
    return calls


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_repository_reaches_llama_server_as_one_argument(text, tmp_path):
    deployment = deploy(hostile_estimate("llama.cpp", text))
    argv = argv_of(_run_all(deployment, tmp_path), "llama-server")
    assert value(argv, "--hf-repo") == f"{text}:Q4_K_M"


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_repository_reaches_vllm_serve_as_one_argument(text, tmp_path):
    deployment = deploy(hostile_estimate("vllm", text))
    argv = argv_of(_run_all(deployment, tmp_path), "vllm", first="serve")
    assert argv[1] == text and value(argv, "--served-model-name") == text


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_repository_reaches_the_tgi_launcher_as_one_argument(text, tmp_path):
    deployment = deploy(hostile_estimate("tgi", text))
    argv = argv_of(_run_all(deployment, tmp_path), "docker", first="run")
    assert value(argv, "--model-id") == text


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_repository_reaches_ollama_pull_as_one_argument(text, tmp_path):
    deployment = deploy(hostile_estimate("ollama", text))
    assert argv_of(_run_all(deployment, tmp_path), "ollama", first="pull") == ["pull", f"hf.co/{text}:Q4_K_M"]


@pytest.mark.parametrize("backend", ["llama.cpp", "ollama", "vllm"])
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_model_path_stays_one_argument(backend, text, tmp_path):
    path = f"/models/{text}/model.gguf"
    deployment = deploy(_estimate_for(BASE[backend]), model_path=path)
    calls = _run_all(deployment, tmp_path)
    if backend == "llama.cpp":
        assert value(argv_of(calls, "llama-server"), "--model") == path
    elif backend == "vllm":
        assert argv_of(calls, "vllm", first="serve")[1] == path
    else:
        assert modelfile_parameters(deployment.artifact("Modelfile").content)["FROM"] == [path]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_model_path_is_bound_intact_in_compose(text):
    path = f"/models/{text}/model.gguf"
    compose = unescape(yaml.safe_load(deploy(_estimate_for("llamacpp-gpu"), model_path=path).artifact("docker-compose.yml").content))
    service = compose["services"]["llama-server"]
    assert {"type": "bind", "source": path, "target": path, "read_only": True} in service["volumes"]
    assert value(service["command"], "--model") == path


def test_tgi_refuses_a_path_docker_mount_cannot_hold():
    with pytest.raises(InvalidInputError, match="--mount"):
        deploy(_estimate_for("tgi-gpu"), model_path='/models/a,b"c')


@pytest.mark.parametrize("backend", ["llama.cpp", "vllm", "tgi"])
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_system_prompt_and_stop_reach_the_smoke_test_intact(backend, text, tmp_path):
    deployment = deploy(_estimate_for(BASE[backend]), system_prompt=text, stop=[text])
    calls = _run_all(deployment, tmp_path)
    chat = [c.argv for c in calls if c.argv[0] == "curl" and c.argv[1].endswith("/chat/completions")]
    body = json.loads(value(chat[0][1:], "-d"))
    assert body["messages"][0] == {"role": "system", "content": text} and body["stop"] == [text]


@pytest.mark.parametrize("text", HOSTILE + ["line one\nline two", 'ends with a quote"'])
def test_hostile_system_prompt_and_stop_read_back_from_the_modelfile(text):
    deployment = deploy(_estimate_for("ollama-gpu"), system_prompt=text, stop=[text])
    parameters = modelfile_parameters(deployment.artifact("Modelfile").content)
    assert parameters["SYSTEM"] == [text] and parameters["stop"] == [text]


@pytest.mark.parametrize("text", HOSTILE + ["line one\nline two"])
def test_hostile_system_prompt_reads_back_from_the_inline_modelfile_in_compose(text):
    compose = unescape(yaml.safe_load(deploy(_estimate_for("ollama-gpu"), system_prompt=text).artifact("docker-compose.yml").content))
    (config,) = compose["configs"].values()
    assert modelfile_parameters(config["content"])["SYSTEM"] == [text]


def test_a_modelfile_cannot_hold_three_quotes_so_it_is_refused():
    with pytest.raises(InvalidInputError, match='"""'):
        deploy(_estimate_for("ollama-gpu"), system_prompt='say """ then stop')


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_system_prompt_is_a_literal_in_the_python_snippet(text):
    source = deploy(_estimate_for("vllm-gpu"), system_prompt=text).artifact("smoke-test.py").content
    call = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "create")
    keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    assert keywords["messages"][0]["content"] == text


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_repository_round_trips_through_compose_and_manifests(text):
    deployment = deploy(hostile_estimate("vllm", text))
    compose = unescape(yaml.safe_load(deployment.artifact("docker-compose.yml").content))
    assert compose["services"]["vllm"]["command"][0] == text
    (server,) = [d for d in yaml.safe_load_all(deployment.artifact("kubernetes.yaml").content) if d["kind"] == "Deployment"]
    assert k8s_unescape(server["spec"]["template"]["spec"]["containers"][0]["args"][0]) == text


def test_compose_escapes_dollar_signs_so_nothing_is_interpolated():
    deployment = deploy(hostile_estimate("vllm", "repo/${HOME}$USER"))
    raw = yaml.safe_load(deployment.artifact("docker-compose.yml").content)
    assert raw["services"]["vllm"]["command"][0] == "repo/$${HOME}$$USER"
    assert raw["services"]["vllm"]["environment"]["HF_TOKEN"] == "${HF_TOKEN:-}"  # the one meant for the host


def test_a_model_name_with_line_breaks_cannot_leave_a_comment(tmp_path):
    e = _estimate_for("llamacpp-gpu")
    e = e.model_copy(update={"model": e.model.model_copy(update={"name": "x\ntouch pwned-newline\n#"})})
    deployment = deploy(e)
    _run_all(deployment, tmp_path)
    assert all("\ntouch pwned" not in a.content for a in deployment.artifacts)


@pytest.mark.parametrize("bad", ["-rf", "repo\nrm -rf ~", "repo\x00"])
def test_a_repository_that_would_be_read_as_an_option_or_a_new_line_is_refused(bad):
    with pytest.raises(InvalidInputError):
        deploy(_estimate_for("vllm-gpu"), hf_repo=bad)


@pytest.mark.parametrize("host", ["0.0.0.0; rm -rf ~", "$(id)", "a b", ""])
def test_a_host_that_is_no_address_is_refused(host):
    with pytest.raises(InvalidInputError, match="--host"):
        deploy(_estimate_for("ollama-gpu"), host=host)


@pytest.mark.parametrize("port", [0, 65536, True, "8080"])
def test_a_port_out_of_range_is_refused(port):
    with pytest.raises(InvalidInputError, match="--port"):
        deploy(_estimate_for("vllm-gpu"), port=port)
