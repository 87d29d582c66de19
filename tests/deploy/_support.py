"""What the deployment tests share: the matrix of plans, the shared schemas and flag lists,
a way to run generated scripts with recording stand-ins for the engines, and a Python port of
Ollama's Modelfile parser."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
GOLDEN = Path(__file__).resolve().parent / "golden"

# The hostile strings every quoting test feeds in: the issue's own, and one per shell expansion.
HOSTILE = [
    '"; rm -rf ~ #',
    "'; touch pwned-single; echo '",
    "$(touch pwned-subst) `touch pwned-tick` ${HOME}",
    "a\\\\b & touch pwned-amp | cat > pwned-redirect",
]


@dataclass(frozen=True)
class Case:
    """One plan of the matrix: a model on an engine and a hardware spec."""

    id: str
    backend: str
    model: str
    hardware: Optional[str]
    estimate_kwargs: tuple[tuple[str, Any], ...] = ()
    deploy_kwargs: tuple[tuple[str, Any], ...] = ()
    shape: str = ""  # gpu, multi-gpu, partial-offload, cpu, apple, multi-node, subset, neutral
    tags: frozenset[str] = field(default_factory=frozenset)


CASES = [
    Case("llamacpp-gpu", "llama.cpp", "llama-3.1-8b-instruct", "rtx-4090@64", shape="gpu"),
    Case("llamacpp-multi-gpu", "llama.cpp", "qwen2.5-32b-instruct", "2xrtx-3090@128", shape="multi-gpu"),
    Case("llamacpp-partial", "llama.cpp", "qwen2.5-32b-instruct", "rtx-4060@64", shape="partial-offload"),
    Case("llamacpp-cpu", "llama.cpp", "llama-3.1-8b-instruct", "epyc-9004-12ch@256", shape="cpu"),
    Case("llamacpp-apple", "llama.cpp", "llama-3.1-8b-instruct", "m2-max-38c@64", shape="apple"),
    Case("llamacpp-amd", "llama.cpp", "llama-3.1-8b-instruct", "rx-7900-xtx@64", shape="gpu"),
    Case("ollama-gpu", "ollama", "llama-3.1-8b-instruct", "rtx-4090@64", shape="gpu",
         deploy_kwargs=(("system_prompt", "You are a careful assistant."), ("stop", ("<|eot_id|>",)))),
    Case("ollama-multi-gpu", "ollama", "qwen2.5-32b-instruct", "2xrtx-3090@128", shape="multi-gpu"),
    Case("ollama-partial", "ollama", "qwen2.5-32b-instruct", "rtx-4060@64", shape="partial-offload",
         estimate_kwargs=(("ctx", 8192), ("parallel", 2), ("kv_type", "q8_0"))),
    Case("ollama-cpu", "ollama", "llama-3.1-8b-instruct", "epyc-9004-12ch@256", shape="cpu"),
    Case("ollama-apple", "ollama", "gemma-3-12b-it", "m2-max-38c@64", shape="apple"),
    Case("vllm-gpu", "vllm", "llama-3.1-8b-instruct", "rtx-4090", shape="gpu"),
    Case("vllm-multi-gpu", "vllm", "llama-3.3-70b-instruct", "4xa100-sxm-80gb", shape="multi-gpu",
         estimate_kwargs=(("ctx", 16384), ("parallel", 8), ("kv_type", "fp8"), ("gpu_memory_utilization", 0.9))),
    Case("vllm-subset", "vllm", "llama-3.1-8b-instruct", "3xl4", shape="subset", estimate_kwargs=(("quant", "fp8"),)),
    Case("vllm-multi-node", "vllm", "llama-3.1-405b-instruct", "2x8xh100-sxm", shape="multi-node",
         estimate_kwargs=(("quant", "fp8"),)),
    Case("vllm-neutral", "vllm", "llama-3.1-8b-instruct", None, shape="neutral"),
    Case("tgi-gpu", "tgi", "llama-3.1-8b-instruct", "rtx-4090", shape="gpu"),
    Case("tgi-multi-gpu", "tgi", "llama-3.3-70b-instruct", "4xa100-sxm-80gb", shape="multi-gpu",
         estimate_kwargs=(("kv_type", "fp8"), ("ctx", 32768))),
    Case("tgi-nf4", "tgi", "llama-3.1-8b-instruct", "l4", shape="gpu", estimate_kwargs=(("quant", "nf4"),)),
]
CASE_BY_ID = {case.id: case for case in CASES}


@lru_cache(maxsize=None)
def estimate_for(case_id: str):
    from sizer.estimate.api import estimate

    case = CASE_BY_ID[case_id]
    return estimate(case.model, backend=case.backend, hardware=case.hardware, **dict(case.estimate_kwargs))


@lru_cache(maxsize=None)
def deployment_for(case_id: str):
    from sizer.deploy import deploy

    case = CASE_BY_ID[case_id]
    return deploy(estimate_for(case_id), **dict(case.deploy_kwargs))


def case_ids(*, backend: Optional[str] = None, kinds: tuple[str, ...] = ()) -> list[str]:
    """Ids of the cases (of one backend) whose deployment has an artifact of every kind given."""
    chosen = []
    for case in CASES:
        if backend and case.backend != backend:
            continue
        if kinds and not all(deployment_for(case.id).of_kind(kind) for kind in kinds):
            continue
        chosen.append(case.id)
    return chosen


# --------------------------------------------------------------------------- shared files


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared sits beside the repository)")
    return path


@lru_cache(maxsize=None)
def _validator(*parts: str):
    from jsonschema import Draft7Validator

    schema = json.loads(shared_file(*parts).read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def compose_errors(document: dict) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in _validator("schemas", "compose-spec.json").iter_errors(document)]


KUBERNETES_SCHEMAS = {"Deployment": "deployment-apps-v1.json", "Service": "service-v1.json"}


def kubernetes_errors(document: dict) -> list[str]:
    kind = document.get("kind")
    if kind not in KUBERNETES_SCHEMAS:
        return [f"kind {kind!r} has no schema in ../shared/schemas/kubernetes"]
    validator = _validator("schemas", "kubernetes", KUBERNETES_SCHEMAS[kind])
    return [f"{kind} {list(e.path)}: {e.message}" for e in validator.iter_errors(document)]


@lru_cache(maxsize=None)
def flag_list(name: str) -> frozenset[str]:
    """One engine's flags from ../shared/flags/<name>.txt ('#' lines are comments)."""
    lines = shared_file("flags", f"{name}.txt").read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def options(argv: list[str]) -> list[str]:
    """The option words of an argv (a `--flag=value` counts as `--flag`)."""
    return [word.split("=", 1)[0] for word in argv if word.startswith("-")]


def option_values(argv: list[str]) -> dict[str, list[str]]:
    """flag -> the words after it up to the next flag."""
    values: dict[str, list[str]] = {}
    current: Optional[str] = None
    for word in argv:
        if word.startswith("-"):
            current = word
            values.setdefault(current, [])
        elif current is not None:
            values[current].append(word)
    return values


def value(argv: list[str], flag: str) -> str:
    found = option_values(argv)[flag]
    assert len(found) == 1, f"{flag} takes one value, got {found}"
    return found[0]


# --------------------------------------------------------------------------- running scripts

FAKE_PROGRAMS = ("llama-server", "ollama", "vllm", "docker", "ray", "python3", "curl")
RECORDED_ENV_PREFIXES = ("OLLAMA_", "HF_", "HEAD_NODE_IP", "LLAMA_")


@dataclass
class Call:
    """One run of a stand-in: its argv (program name first) and the environment variables sizer sets."""

    argv: list[str]
    env: dict[str, str]


def run_script(script: str, workdir: Path, *, env: Optional[dict[str, str]] = None) -> list[Call]:
    """Run a generated sh script with recording stand-ins for the engines; return every call they got.

    The stand-ins print nothing and succeed, so the script runs to its end; anything the
    script runs that is not a stand-in is the real program.  HOME is a scratch directory with
    a file in it that must survive.
    """
    bindir = workdir / "fakebin"
    bindir.mkdir(exist_ok=True)
    log = workdir / "calls.jsonl"
    for program in FAKE_PROGRAMS:
        fake = bindir / program
        fake.write_text(
            f"#!{sys.executable}\nimport json, os, sys\n"
            f"prefixes = {RECORDED_ENV_PREFIXES!r}\n"
            "env = {k: v for k, v in os.environ.items() if k.startswith(prefixes)}\n"
            "with open(os.environ['FAKE_ARGV_LOG'], 'a') as f:\n"
            "    f.write(json.dumps({'argv': [os.path.basename(sys.argv[0])] + sys.argv[1:], 'env': env}) + '\\n')\n"
        )
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    path = workdir / "script.sh"
    path.write_text(script)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    (home / "keep").write_text("still here")
    environment = {"PATH": f"{bindir}{os.pathsep}/usr/bin{os.pathsep}/bin", "FAKE_ARGV_LOG": str(log), "HOME": str(home)}
    environment.update(env or {})
    result = subprocess.run(["sh", str(path)], cwd=workdir, env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (home / "keep").exists(), "the script removed files in HOME"
    if not log.exists():
        return []
    return [Call(**json.loads(line)) for line in log.read_text().splitlines()]


def argv_of(calls: list[Call], program: str, *, first: Optional[str] = None) -> list[str]:
    """The single call of `program` (whose first argument is `first`, when given), without the program name."""
    found = [c.argv[1:] for c in calls if c.argv[0] == program and (first is None or c.argv[1:2] == [first])]
    assert len(found) == 1, f"expected one call of {program} {first or ''}, got {found}"
    return found[0]


def pwned(workdir: Path) -> list[str]:
    """Files a hostile string would have created had it escaped its quoting."""
    return sorted(p.name for p in workdir.rglob("pwned*"))


def k8s_unescape(text: str) -> str:
    """What Kubernetes makes of `$$` in command/args/env values."""
    return text.replace("$$", "$")


# --------------------------------------------------------------------------- Ollama's Modelfile parser

_VALID_COMMANDS = {"from", "license", "template", "system", "adapter", "draft", "renderer", "parser", "parameter", "message", "requires"}


def _go_is_print(ch: str) -> bool:
    return ch.isprintable()  # strconv.IsPrint: letters, marks, numbers, punctuation, symbols and ' '


def _unquote(text: str) -> tuple[str, bool]:
    if text.startswith('"""'):
        if len(text) >= 6 and text.endswith('"""'):
            return text[3:-3], True
        return "", False
    if text.startswith('"'):
        if len(text) >= 2 and text.endswith('"'):
            return text[1:-1], True
        return "", False
    return text, True


def parse_modelfile(text: str) -> list[tuple[str, str]]:
    """(command, value) pairs, as ollama/ollama parser/parser.go ParseFile reads a Modelfile."""
    commands: list[tuple[str, str]] = []
    name, state, buffer, role = "", "nil", [], ""

    def step(ch: str, current: str) -> tuple[str, str]:
        space, newline = ch in " \t", ch in "\r\n"
        if current == "nil":
            if ch == "#":
                return "comment", ""
            if space or newline:
                return "nil", ""
            return "name", ch
        if current == "name":
            if ch.isascii() and ch.isalpha():
                return "name", ch
            if space:
                return "value", ""
            raise ValueError("invalid command")
        if current == "value":
            return ("nil", ch) if newline or space else ("value", ch)
        if current == "parameter":
            if ch.isascii() and (ch.isalnum() or ch == "_"):
                return "parameter", ch
            if space:
                return "value", ""
            raise ValueError("unexpected EOF")
        if current == "message":
            if ch.isascii() and ch.isalpha():
                return "message", ch
            if space:
                return "value", ""
            raise ValueError("unexpected EOF")
        return ("nil", "") if newline else ("comment", "")

    for ch in text:
        nxt, out = step(ch, state)
        if nxt != state:
            word = "".join(buffer)
            if state == "name":
                if word.lower() not in _VALID_COMMANDS:
                    raise ValueError(f"invalid command {word!r}")
                lowered = word.lower()
                if lowered == "from":
                    name = "model"
                elif lowered == "parameter":
                    nxt = "parameter"
                elif lowered == "message":
                    nxt, name = "message", lowered
                else:
                    name = lowered
            elif state == "parameter":
                name = word
            elif state == "message":
                role = word
            elif state == "value":
                value_, ok = _unquote(word.strip())
                if not ok or out in (" ", "\t"):
                    buffer.append(out)
                    continue
                if role:
                    value_, role = f"{role}: {value_}", ""
                commands.append((name, value_))
            buffer, state = [], nxt
        if out and _go_is_print(out):
            buffer.append(out)
    if state == "value":
        value_, ok = _unquote("".join(buffer).strip())
        if not ok:
            raise ValueError("unexpected EOF")
        commands.append((name, value_))
    elif state not in ("nil", "comment"):
        raise ValueError("unexpected EOF")
    return commands


# --------------------------------------------------------------------------- the server's argv, everywhere


def compose_of(deployment) -> dict:
    import yaml

    from sizer.deploy.compose import unescape

    return unescape(yaml.safe_load(deployment.artifact("docker-compose.yml").content))


def manifests_of(deployment) -> list[dict]:
    import yaml

    return list(yaml.safe_load_all(deployment.artifact("kubernetes.yaml").content))


def _k8s_container(deployment, component: str) -> dict:
    for doc in manifests_of(deployment):
        if doc["kind"] == "Deployment" and doc["metadata"]["labels"]["app.kubernetes.io/component"] == component:
            return doc["spec"]["template"]["spec"]["containers"][0]
    raise KeyError(component)


def _script_argv(script: str, workdir: Path, program: str, first: Optional[str] = None) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    return argv_of(run_script(script, workdir, env={"HEAD_NODE_IP": "10.0.0.1"}), program, first=first)


def server_argvs(case_id: str, workdir: Path) -> dict[str, list[str]]:
    """The engine's own arguments in every artifact that starts it: {artifact: argv without program/subcommand}."""
    deployment = deployment_for(case_id)
    backend = CASE_BY_ID[case_id].backend
    names = {a.filename for a in deployment.artifacts}
    found: dict[str, list[str]] = {}
    if backend == "llama.cpp":
        found["run.sh"] = _script_argv(deployment.artifact("run.sh").content, workdir / "run", "llama-server")
        if "docker-compose.yml" in names:
            found["docker-compose.yml"] = compose_of(deployment)["services"]["llama-server"]["command"]
    elif backend == "vllm":
        if "run.sh" in names:
            found["run.sh"] = _script_argv(deployment.artifact("run.sh").content, workdir / "run", "vllm", "serve")[1:]
            found["docker-compose.yml"] = compose_of(deployment)["services"]["vllm"]["command"]
            found["kubernetes.yaml"] = [k8s_unescape(a) for a in _k8s_container(deployment, "server")["args"]]
        else:
            found["run-head.sh"] = _script_argv(deployment.artifact("run-head.sh").content, workdir / "head", "vllm", "serve")[1:]
            script = compose_of(deployment)["services"]["vllm-head"]["command"][0]
            found["docker-compose.yml"] = _script_argv(script, workdir / "compose", "vllm", "serve")[1:]
            script = k8s_unescape(_k8s_container(deployment, "head")["args"][0])
            found["kubernetes.yaml"] = _script_argv(script, workdir / "k8s", "vllm", "serve")[1:]
    elif backend == "tgi":
        docker = _script_argv(deployment.artifact("run.sh").content, workdir / "run", "docker", "run")
        image = next(i for i, word in enumerate(docker) if word.startswith("ghcr.io/huggingface/text-generation-inference"))
        found["run.sh"] = docker[image + 1:]
        found["docker-compose.yml"] = compose_of(deployment)["services"]["tgi"]["command"]
        found["kubernetes.yaml"] = [k8s_unescape(a) for a in _k8s_container(deployment, "server")["args"]]
    return found


def ollama_server_env(case_id: str, workdir: Path) -> dict[str, dict[str, str]]:
    """The Ollama server environment in every artifact that sets it: {artifact: {NAME: value}}."""
    deployment = deployment_for(case_id)
    found: dict[str, dict[str, str]] = {}
    lines = deployment.artifact("ollama.env").content.splitlines()
    found["ollama.env"] = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    calls = run_script(deployment.artifact("run.sh").content, workdir)
    found["run.sh"] = next(c.env for c in calls if c.argv[:2] == ["ollama", "create"])
    if "docker-compose.yml" in {a.filename for a in deployment.artifacts}:
        found["docker-compose.yml"] = dict(compose_of(deployment)["services"]["ollama"]["environment"])
    return found


def modelfile_parameters(text: str) -> dict[str, list[str]]:
    """PARAMETER name -> values, plus 'FROM' and 'SYSTEM', from Ollama's own parsing rules."""
    found: dict[str, list[str]] = {}
    for name, value_ in parse_modelfile(text):
        key = {"model": "FROM", "system": "SYSTEM"}.get(name, name)
        found.setdefault(key, []).append(value_)
    return found
