"""Kubernetes manifests from container specs: a Deployment per role and the Services in front.

Only `apps/v1 Deployment` and `v1 Service` are emitted (the kinds whose schemas the tests
validate against).  Several nodes (vLLM over Ray) become a head Deployment, a worker
Deployment with one replica per further node, a headless Service that gives the head a
stable DNS name for the workers, and the API Service.

Kubernetes expands `$(VAR)` in `command`, `args` and `env` values; `$$` is its escape, so
every `$` from the plan is doubled there.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from sizer.deploy.spec import ContainerSpec, Mount
from sizer.deploy.text import dns_label, one_line

GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}
# NVIDIA GPU Feature Discovery labels nodes with the product name, spaces turned into '-'
# (e.g. NVIDIA-A100-SXM4-80GB); a planned (catalog) name may differ from what the driver reports.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
CACHE_HOST_PATH = "/var/lib/sizer/model-cache"
PROBE_PERIOD_S = 10
SECRET_KEY = "token"


def _k8s_escape(text: str) -> str:
    return text.replace("$", "$$")


def label_value(text: str) -> str:
    """A label value: at most 63 of [A-Za-z0-9-_.], starting and ending alphanumeric."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text.strip())[:63]
    return value.strip("-_.")


def _labels(instance: str, spec: ContainerSpec, engine: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": dns_label(engine),
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": spec.role,
        "app.kubernetes.io/managed-by": "sizer",
    }


def _selector(instance: str, role: str) -> dict[str, str]:
    return {"app.kubernetes.io/instance": instance, "app.kubernetes.io/component": role}


def _volume_name(index: int, mount: Mount) -> str:
    return "model-cache" if mount.kind == "cache" else f"model-files-{index}"


def _volumes(spec: ContainerSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for index, mount in enumerate(spec.mounts):
        name = _volume_name(index, mount)
        if mount.kind == "cache":
            source: dict[str, Any] = {"hostPath": {"path": CACHE_HOST_PATH, "type": "DirectoryOrCreate"}}
        else:
            source = {"hostPath": {"path": mount.source}}
        volumes.append({"name": name, **source})
        mounts.append({"name": name, "mountPath": mount.target, **({"readOnly": True} if mount.read_only else {})})
    if spec.shm_size:
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": _quantity(spec.shm_size)}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    return volumes, mounts


def _probes(spec: ContainerSpec) -> dict[str, Any]:
    if spec.health_path and spec.port:
        check = {"httpGet": {"path": spec.health_path, "port": "http"}}
        return {
            # Downloading and loading the weights: up to start_period_s before the other probes count.
            "startupProbe": {**check, "periodSeconds": PROBE_PERIOD_S, "failureThreshold": max(spec.start_period_s // PROBE_PERIOD_S, 1)},
            "readinessProbe": {**check, "periodSeconds": PROBE_PERIOD_S, "failureThreshold": 3},
            "livenessProbe": {**check, "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 3},
        }
    if spec.liveness_command:
        return {"livenessProbe": {"exec": {"command": list(spec.liveness_command)}, "initialDelaySeconds": 60, "periodSeconds": 30, "failureThreshold": 3}}
    return {}


def _quantity(size: str) -> str:
    """A docker size ("1g") as a Kubernetes quantity ("1Gi")."""
    number, unit = size[:-1], size[-1].upper()
    return f"{number}{unit}i" if unit in "KMGT" and number.isdigit() else size


def container(spec: ContainerSpec, *, head_service: Optional[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"name": dns_label(spec.name), "image": spec.image}
    if spec.entrypoint is not None:
        body["command"] = [_k8s_escape(a) for a in spec.entrypoint]
    body["args"] = [_k8s_escape(a) for a in spec.args]
    ports = []
    if spec.port:
        ports.append({"name": "http", "containerPort": spec.port, "protocol": "TCP"})
    if spec.cluster_port:
        ports.append({"name": "cluster", "containerPort": spec.cluster_port, "protocol": "TCP"})
    if ports:
        body["ports"] = ports
    env: list[dict[str, Any]] = [{"name": k, "value": _k8s_escape(v)} for k, v in spec.env.items()]
    if spec.head_address_env and head_service:
        env.append({"name": spec.head_address_env, "value": head_service})
    for name in spec.secrets:
        secret = dns_label(name.replace("_", "-"))
        env.append({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": SECRET_KEY, "optional": True}}})
    if env:
        body["env"] = env
    if spec.gpus and spec.gpu_vendor in GPU_RESOURCE:
        body["resources"] = {"limits": {GPU_RESOURCE[spec.gpu_vendor]: spec.gpus}}
    _volumes_list, mounts = _volumes(spec)
    if mounts:
        body["volumeMounts"] = mounts
    body.update(_probes(spec))
    return body


def deployment(spec: ContainerSpec, *, instance: str, engine: str, annotations: dict[str, str], head_service: Optional[str]) -> dict[str, Any]:
    name = instance if spec.role == "server" else f"{instance}-{spec.role}"
    labels = _labels(instance, spec, engine)
    pod: dict[str, Any] = {}
    if spec.gpu_product and spec.gpu_vendor == "nvidia":
        product = label_value(spec.gpu_product)
        if product:
            pod["nodeSelector"] = {GPU_PRODUCT_LABEL: product}
    pod["containers"] = [container(spec, head_service=head_service)]
    volumes, _mounts = _volumes(spec)
    if volumes:
        pod["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": spec.replicas,
            # A new pod cannot start while the old one holds the GPUs.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _selector(instance, spec.role)},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def service(name: str, *, instance: str, role: str, engine: str, ports: list[dict[str, Any]], headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "ClusterIP"}
    if headless:
        spec["clusterIP"] = "None"
    spec["selector"] = _selector(instance, role)
    spec["ports"] = ports
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": dns_label(engine), "app.kubernetes.io/instance": instance, "app.kubernetes.io/managed-by": "sizer"},
        },
        "spec": spec,
    }


def manifests(specs: list[ContainerSpec], *, instance: str, engine: str, service_port: int, meta: dict[str, str]) -> list[dict[str, Any]]:
    """Deployments and Services for the specs (one server, or a head and its workers)."""
    instance = dns_label(instance, limit=40)  # leaves room for the -worker / -head suffixes
    annotations = {f"sizer/{key}": one_line(str(value)) for key, value in meta.items()}
    head = next((s for s in specs if s.role == "head"), None)
    head_service = f"{instance}-head" if head else None
    documents: list[dict[str, Any]] = []
    for spec in specs:
        documents.append(deployment(spec, instance=instance, engine=engine, annotations=annotations, head_service=head_service))
    front = head or next(s for s in specs if s.role == "server")
    documents.append(
        service(instance, instance=instance, role=front.role, engine=engine,
                ports=[{"name": "http", "port": service_port, "targetPort": "http", "protocol": "TCP"}])
    )
    if head is not None and head.cluster_port:
        documents.append(
            service(head_service, instance=instance, role="head", engine=engine, headless=True,  # type: ignore[arg-type]
                    ports=[{"name": "cluster", "port": head.cluster_port, "targetPort": "cluster", "protocol": "TCP"}])
        )
    return documents
