"""What `deploy()` hands an engine, and what the engine hands back.

An engine module turns a :class:`DeployRequest` into an :class:`EnginePlan`: its launch
commands and files, and a :class:`ContainerSpec` per container role.  The compose and
Kubernetes builders in this package only ever see container specs, so they know nothing
about any one engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from sizer.deploy.result import Artifact
from sizer.estimate.result import Estimate
from sizer.types import Accelerator, Host, Machine, ModelEntry

Role = Literal["server", "head", "worker"]


@dataclass(frozen=True)
class Mount:
    """A volume of a container: the shared model cache (a named volume) or a host path bound at the same path."""

    target: str
    source: Optional[str] = None  # host path for a bind mount; None = the named cache volume
    read_only: bool = False
    kind: Literal["cache", "bind"] = "cache"


@dataclass
class ContainerSpec:
    """One container an engine needs: the compose service / Kubernetes Deployment builders consume it."""

    name: str  # role-level name: "llama-server", "ollama", "vllm", "vllm-worker", "tgi"
    image: str
    args: list[str]  # appended to the entrypoint
    port: int  # the port the server listens on inside the container (0 = serves no HTTP)
    health_path: Optional[str]  # HTTP path that answers 200 once the model is loaded
    health_test: Optional[list[str]] = None  # compose healthcheck in exec form (what the image can run)
    entrypoint: Optional[list[str]] = None  # None = the image's own
    env: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # env vars taken from the host (compose) or a Secret (Kubernetes): HF_TOKEN
    gpu_vendor: Optional[str] = None  # "nvidia", "amd" or None (CPU)
    gpus: int = 0
    gpu_device_ids: Optional[list[str]] = None  # a subset of the host's GPUs; None = any `gpus` of them
    gpu_product: Optional[str] = None  # device name, for the Kubernetes node selector
    shm_size: Optional[str] = None  # "1g"
    mounts: list[Mount] = field(default_factory=list)
    role: Role = "server"
    replicas: int = 1
    start_period_s: int = 600  # model download + load before health checks count
    host_network: bool = False  # multi-node (Ray needs every node reachable on its own address)
    jobs: list[list[str]] = field(default_factory=list)  # one-shot commands once the server is healthy (compose only)
    job_env: dict[str, str] = field(default_factory=dict)  # environment of those commands
    head_address_env: Optional[str] = None  # worker: env var the builders set to the head's address
    cluster_port: Optional[int] = None  # head: the port workers join on (Ray's GCS)
    liveness_command: Optional[list[str]] = None  # a container without HTTP: an exec liveness probe
    files: dict[str, str] = field(default_factory=dict)  # path in the container -> content (compose configs)


@dataclass
class EnginePlan:
    """An engine's deployment: launch files, container roles, how clients reach it."""

    served_model_name: str
    model_source: str
    port: int  # where clients connect on the host
    health_path: str
    commands: list[Artifact] = field(default_factory=list)  # kind command / env
    modelfile: Optional[Artifact] = None
    containers: list[ContainerSpec] = field(default_factory=list)
    no_container_reason: Optional[str] = None
    kubernetes: bool = False
    smoke_where: str = "on the machine that runs the server"
    notes: list[str] = field(default_factory=list)


@dataclass
class DeployRequest:
    """The estimate to deploy and the caller's choices, with what every engine derives from them."""

    estimate: Estimate
    machine: Optional[Machine]
    host: str
    port: Optional[int]
    system_prompt: Optional[str]
    stop: tuple[str, ...]
    model_path: Optional[Path]
    hf_repo: Optional[str]
    entry: Optional[ModelEntry]  # the catalog entry, when the model came from the catalog

    @property
    def settings(self):
        return self.estimate.settings

    @property
    def first_host(self) -> Optional[Host]:
        return self.machine.hosts[0] if self.machine else None

    @property
    def nodes(self) -> int:
        return len(self.machine.hosts) if self.machine else 1

    @property
    def accelerators(self) -> list[Accelerator]:
        host = self.first_host
        return list(host.accelerators) if host else []

    @property
    def apple(self) -> bool:
        return any(a.vendor == "apple" for a in self.accelerators)

    @property
    def gpu_vendor(self) -> Optional[str]:
        vendors = {a.vendor for a in self.accelerators if not a.unified_memory}
        return vendors.pop() if len(vendors) == 1 else None

    @property
    def threads(self) -> Optional[int]:
        """Threads for the CPU work: the estimate's, else the host's physical cores (llama.cpp's own rule)."""
        if self.settings.threads:
            return self.settings.threads
        host = self.first_host
        return host.cpu.physical_cores if host and host.cpu.physical_cores else None

    @property
    def repo(self) -> Optional[str]:
        """The Hugging Face repository to load: the caller's, else the model's (None for a local-only model)."""
        if self.hf_repo:
            return self.hf_repo
        repo = self.estimate.model.hf_repo
        return repo if repo and repo != "local" else None

    def label(self) -> str:
        e = self.estimate
        where = e.hardware or "no hardware given"
        return f"{e.model.name} ({e.quant}) with {e.backend} on {where}"
