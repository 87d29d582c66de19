"""Every generated compose file validates against the Compose Specification, every manifest
against the Kubernetes schemas (../shared/schemas), over the whole matrix of plans."""

from __future__ import annotations

import pytest
import yaml

from tests.deploy._support import (
    KUBERNETES_SCHEMAS,
    case_ids,
    compose_errors,
    deployment_for,
    kubernetes_errors,
)


@pytest.mark.parametrize("case_id", case_ids(kinds=("compose",)))
def test_compose_file_validates_against_the_compose_specification(case_id):
    document = yaml.safe_load(deployment_for(case_id).artifact("docker-compose.yml").content)
    assert compose_errors(document) == []


@pytest.mark.parametrize("case_id", case_ids(kinds=("kubernetes",)))
def test_kubernetes_manifests_validate_against_their_kind_schema(case_id):
    documents = list(yaml.safe_load_all(deployment_for(case_id).artifact("kubernetes.yaml").content))
    assert documents
    assert [error for document in documents for error in kubernetes_errors(document)] == []


@pytest.mark.parametrize("case_id", case_ids(kinds=("kubernetes",)))
def test_kubernetes_manifests_use_only_kinds_with_a_schema(case_id):
    documents = yaml.safe_load_all(deployment_for(case_id).artifact("kubernetes.yaml").content)
    assert {d["kind"] for d in documents} <= set(KUBERNETES_SCHEMAS)


def test_the_matrix_covers_every_placement_shape():
    shapes = {(case_id.split("-", 1)[0], deployment_for(case_id).plan.placement) for case_id in case_ids()}
    assert {("llamacpp", p) for p in ("gpu", "multi-gpu", "partial-offload", "cpu", "unified-memory")} <= shapes
    assert {("ollama", p) for p in ("gpu", "multi-gpu", "partial-offload", "cpu", "unified-memory")} <= shapes
    assert {("vllm", p) for p in ("gpu", "multi-gpu", "multi-node")} <= shapes
    assert {("tgi", p) for p in ("gpu", "multi-gpu")} <= shapes
