"""docker-compose.yml from container specs (Compose Specification, validated by the tests).

Compose interpolates `$VAR` and `${VAR}` anywhere in the file, so every string that came from
the plan or the user has its `$` doubled; only the variables this module means to read from
the host (HF_TOKEN, HEAD_NODE_IP) are left as interpolations.
"""

from __future__ import annotations

import shlex
from typing import Any, Optional

from sizer.deploy.spec import ContainerSpec, Mount

CACHE_VOLUME = "model-cache"
HEALTH_INTERVAL = "30s"
HEALTH_TIMEOUT = "10s"
HEALTH_RETRIES = 3
# Devices a ROCm container needs (AMD's container docs; Ollama docs/docker.mdx: --device /dev/kfd --device /dev/dri).
AMD_DEVICES = ["/dev/kfd", "/dev/dri"]


class _Raw(str):
    """A string compose should interpolate (left as written)."""


def escape(value: Any) -> Any:
    """Double every `$` of every string (compose's escape), except :class:`_Raw` ones; plain types out."""
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {escape(k): escape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape(v) for v in value]
    return value


def _volume(mount: Mount) -> dict[str, Any]:
    if mount.kind == "cache":
        return {"type": "volume", "source": CACHE_VOLUME, "target": mount.target}
    return {"type": "bind", "source": mount.source, "target": mount.target, "read_only": mount.read_only}


def _config_name(service: str, index: int) -> str:
    return f"{service}-file-{index}"


def _gpu_reservation(spec: ContainerSpec) -> Optional[dict[str, Any]]:
    if spec.gpu_vendor != "nvidia" or not spec.gpus:
        return None
    device: dict[str, Any] = {"driver": "nvidia"}
    if spec.gpu_device_ids:
        device["device_ids"] = list(spec.gpu_device_ids)
    else:
        device["count"] = spec.gpus
    device["capabilities"] = ["gpu"]
    return {"resources": {"reservations": {"devices": [device]}}}


def _environment(spec: ContainerSpec) -> dict[str, Any]:
    env: dict[str, Any] = dict(spec.env)
    for name in spec.secrets:
        env[name] = _Raw(f"${{{name}:-}}")
    if spec.head_address_env:
        name = spec.head_address_env
        env[name] = _Raw(f"${{{name}:-}}")  # required only by the worker profile; its script checks it
    return env


def service(spec: ContainerSpec, *, host: str, published_port: int) -> dict[str, Any]:
    """One compose service for a container spec."""
    body: dict[str, Any] = {"image": spec.image}
    if spec.role in ("head", "worker"):
        body["profiles"] = [spec.role]
    if spec.entrypoint is not None:
        body["entrypoint"] = list(spec.entrypoint)
    body["command"] = list(spec.args)
    env = _environment(spec)
    if env:
        body["environment"] = env
    if spec.host_network:
        body["network_mode"] = "host"
    elif spec.port and spec.role != "worker":
        body["ports"] = [{"target": spec.port, "host_ip": host, "published": str(published_port), "protocol": "tcp"}]
    if spec.mounts:
        body["volumes"] = [_volume(m) for m in spec.mounts]
    if spec.files:
        body["configs"] = [{"source": _config_name(spec.name, i), "target": path} for i, path in enumerate(spec.files)]
    if spec.shm_size:
        body["shm_size"] = spec.shm_size
    if spec.gpu_vendor == "amd" and spec.gpus:
        body["devices"] = list(AMD_DEVICES)
        body["group_add"] = ["video"]
    reservation = _gpu_reservation(spec)
    if reservation:
        body["deploy"] = reservation
    if spec.health_test:
        body["healthcheck"] = {
            "test": ["CMD", *spec.health_test],
            "interval": HEALTH_INTERVAL,
            "timeout": HEALTH_TIMEOUT,
            "retries": HEALTH_RETRIES,
            "start_period": f"{spec.start_period_s}s",
        }
    body["restart"] = "unless-stopped"
    return body


def job_service(spec: ContainerSpec) -> dict[str, Any]:
    """A one-shot service that runs the spec's jobs once the server reports healthy."""
    script = " && ".join(shlex.join(job) for job in spec.jobs)
    body: dict[str, Any] = {
        "image": spec.image,
        "entrypoint": ["/bin/sh", "-c"],
        "command": [script],
        "environment": dict(spec.job_env),
        "depends_on": {spec.name: {"condition": "service_healthy"}},
    }
    binds = [_volume(m) for m in spec.mounts if m.kind == "bind"]  # e.g. a local GGUF the job hands to the server
    if binds:
        body["volumes"] = binds
    if spec.files:
        body["configs"] = [{"source": _config_name(spec.name, i), "target": path} for i, path in enumerate(spec.files)]
    body["restart"] = "no"
    return body


def compose_document(specs: list[ContainerSpec], *, project: str, host: str, published_port: int, meta: dict[str, Any]) -> dict[str, Any]:
    """The whole compose file as data: services, the model-cache volume, inline configs, an x-sizer note."""
    services: dict[str, Any] = {}
    configs: dict[str, Any] = {}
    for spec in specs:
        services[spec.name] = service(spec, host=host, published_port=published_port)
        if spec.jobs:
            services[f"{spec.name}-init"] = job_service(spec)
        for index, (_path, content) in enumerate(spec.files.items()):
            configs[_config_name(spec.name, index)] = {"content": content}
    document: dict[str, Any] = {"name": project, "x-sizer": meta, "services": services}
    if any(m.kind == "cache" for s in specs for m in s.mounts):
        document["volumes"] = {CACHE_VOLUME: {}}
    if configs:
        document["configs"] = configs
    return escape(document)


def unescape(value: Any) -> Any:
    """What compose makes of an escaped value when nothing is interpolated (tests read settings back with it)."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, dict):
        return {k: unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescape(v) for v in value]
    return value
