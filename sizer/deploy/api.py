"""`deploy(estimate, machine, ...)`: the files that start an engine with the estimate's settings.

The engine module (``sizer/engines/<engine>.py``, section "deployment") decides the commands,
files and container specs; this module checks the caller's input, builds the compose file and
the Kubernetes manifests from the container specs, and ends every plan with a smoke test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from sizer.deploy.result import FORMATS, Artifact, Deployment, PlanSummary
from sizer.deploy.spec import DeployRequest, EnginePlan
from sizer.deploy.text import (
    check_host,
    check_port,
    check_text,
    check_word,
    client_host,
    dns_label,
    one_line,
)
from sizer.errors import InvalidInputError, SizerError, UnsupportedError
from sizer.estimate.result import Estimate
from sizer.types import Machine, ModelEntry


def normalize_formats(formats: Union[str, Iterable[str], None]) -> set[str]:
    """The formats asked for; 'all' (or nothing) means every one."""
    if formats is None:
        return set(FORMATS)
    chosen = {formats} if isinstance(formats, str) else set(formats)
    if not chosen or "all" in chosen:
        return set(FORMATS)
    unknown = sorted(chosen - set(FORMATS))
    if unknown:
        raise InvalidInputError(f"unknown format {', '.join(map(repr, unknown))}; choose from {', '.join(FORMATS)} or all")
    return chosen


def _catalog_entry(estimate: Estimate) -> Optional[ModelEntry]:
    if estimate.model.source != "catalog":
        return None
    from sizer.catalog import get_model

    try:
        return get_model(estimate.model.id)
    except SizerError:
        return None


def _machine_for(estimate: Estimate, notes: list[str]) -> Optional[Machine]:
    if not estimate.hardware:
        return None
    from sizer.hardware_spec import parse_hardware_spec

    try:
        return parse_hardware_spec(estimate.hardware)
    except SizerError as exc:
        notes.append(f"hardware '{one_line(estimate.hardware)}' could not be read again ({exc}); artifacts assume no GPU details")
        return None


def deploy(
    estimate: Estimate,
    machine: Optional[Machine] = None,
    *,
    formats: Union[str, Iterable[str], None] = None,
    host: str = "0.0.0.0",
    port: Optional[int] = None,
    system_prompt: Optional[str] = None,
    stop: Optional[Sequence[str]] = None,
    model_path: Union[str, Path, None] = None,
    hf_repo: Optional[str] = None,
) -> Deployment:
    """Commands, a Modelfile, docker-compose.yml and Kubernetes manifests that run `estimate` as planned.

    `machine` is the hardware the estimate was made for (parsed again from `estimate.hardware`
    when omitted).  `model_path` is a local GGUF file or checkpoint directory to load instead
    of downloading; `hf_repo` a Hugging Face repository to download instead of the model's own
    (a GGUF conversion for llama.cpp/Ollama, a pre-quantized checkpoint for vLLM/TGI).
    """
    chosen = normalize_formats(formats)
    named = chosen if formats is not None and chosen != set(FORMATS) else set()  # formats asked for by name
    check_host(host)
    if port is not None:
        check_port(port)
    if system_prompt is not None:
        check_text("system prompt", system_prompt)
    stops = tuple(check_text("stop sequence", s) for s in (stop or ()))
    if any(not s for s in stops):
        raise InvalidInputError("a stop sequence is empty")
    path = None
    if model_path is not None:
        path = Path(check_word("model path", str(model_path))).expanduser().absolute()
        check_word("model path", str(path))
    if hf_repo is not None:
        check_word("Hugging Face repository", hf_repo)
    notes: list[str] = []
    if machine is None:
        machine = _machine_for(estimate, notes)

    from sizer.engines.base import get_engine

    engine = get_engine(estimate.backend)
    if not hasattr(engine, "deployment"):
        raise UnsupportedError(f"sizer cannot write deployment files for {estimate.backend} yet")
    request = DeployRequest(
        estimate=estimate,
        machine=machine,
        host=host,
        port=port,
        system_prompt=system_prompt,
        stop=stops,
        model_path=path,
        hf_repo=hf_repo,
        entry=_catalog_entry(estimate),
    )
    plan: EnginePlan = engine.deployment(request)
    if estimate.fits is False:
        notes.append("the estimate says this plan does NOT fit the hardware: the engine will fail to load or run out of memory")
    notes.extend(plan.notes)
    if plan.no_container_reason:
        notes.append(plan.no_container_reason)

    artifacts: list[Artifact] = []
    if "commands" in chosen:
        artifacts.extend(plan.commands)
    if "modelfile" in chosen:
        if plan.modelfile is not None:
            artifacts.append(plan.modelfile)
        elif "modelfile" in named:
            notes.append(f"{estimate.backend} has no Modelfile; that format is Ollama's")
    if "compose" in chosen:
        if plan.containers:
            artifacts.append(_compose_artifact(request, plan))
    if "kubernetes" in chosen:
        if plan.kubernetes and plan.containers:
            artifacts.append(_kubernetes_artifact(request, plan))
            notes.append(
                "kubernetes.yaml keeps the model cache on each node's disk (hostPath /var/lib/sizer/model-cache; use a "
                "PersistentVolumeClaim where the cluster has one), reads HF_TOKEN from Secret hf-token (key token) when it "
                "exists, and selects nodes by nvidia.com/gpu.product derived from the device name: check it with "
                "`kubectl get nodes -L nvidia.com/gpu.product`"
            )
        elif not plan.kubernetes and "kubernetes" in named:
            notes.append(f"no Kubernetes manifests for {estimate.backend}: sizer writes them for vLLM and TGI")

    root_url = f"http://{client_host(host)}:{plan.port}"
    ollama = plan.modelfile is not None  # its Modelfile already carries SYSTEM and stop
    from sizer.deploy.smoke import smoke_tests

    artifacts.extend(
        smoke_tests(
            label=request.label(),
            root_url=root_url,
            health_path=plan.health_path,
            model=plan.served_model_name,
            system_prompt=None if ollama else system_prompt,
            stop=() if ollama else stops,
            where=plan.smoke_where,
        )
    )
    summary = PlanSummary(
        model_id=estimate.model.id,
        model_name=estimate.model.name,
        backend=estimate.backend,
        quant=estimate.quant,
        hardware=estimate.hardware,
        placement=estimate.placement,
        fits=estimate.fits,
        settings=estimate.settings,
        model_source=plan.model_source,
        served_model_name=plan.served_model_name,
        base_url=root_url + "/v1",
        nodes=request.nodes,
    )
    return Deployment(plan=summary, estimate=estimate, artifacts=artifacts, notes=notes)


def _meta(request: DeployRequest) -> dict[str, str]:
    e = request.estimate
    return {
        "generated-by": "sizer",
        "model": e.model.name,
        "quant": e.quant,
        "backend": e.backend,
        "hardware": e.hardware or "unspecified",
        "placement": e.placement or "unspecified",
    }


def _compose_artifact(request: DeployRequest, plan: EnginePlan) -> Artifact:
    from sizer.deploy.compose import compose_document
    from sizer.deploy.yamlout import dump

    e = request.estimate
    document = compose_document(
        plan.containers,
        project=dns_label("sizer", e.backend, e.model.id),
        host=request.host,
        published_port=plan.port,
        meta=_meta(request),
    )
    return Artifact(name="docker compose file", kind="compose", filename="docker-compose.yml", content=dump(document), language="yaml")


def _kubernetes_artifact(request: DeployRequest, plan: EnginePlan) -> Artifact:
    from sizer.deploy.kubernetes import manifests
    from sizer.deploy.yamlout import dump_all

    e = request.estimate
    documents = manifests(
        plan.containers,
        instance=dns_label(e.backend, e.model.id),
        engine=e.backend,
        service_port=plan.port,
        meta=_meta(request),
    )
    return Artifact(name="Kubernetes manifests", kind="kubernetes", filename="kubernetes.yaml", content=dump_all(documents), language="yaml")
