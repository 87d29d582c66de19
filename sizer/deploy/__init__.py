"""`sizer deploy`: launch commands, Modelfiles, docker-compose.yml and Kubernetes manifests from a plan.

    from sizer.deploy import deploy, write_artifacts

    deployment = deploy(estimate, machine, formats={"commands", "compose"})
    write_artifacts(deployment, "out/")
"""

from sizer.deploy.api import deploy, normalize_formats
from sizer.deploy.render import render_deployment
from sizer.deploy.result import FORMATS, Artifact, Deployment, PlanSummary
from sizer.deploy.writer import write_artifacts

__all__ = ["FORMATS", "Artifact", "Deployment", "PlanSummary", "deploy", "normalize_formats", "render_deployment", "write_artifacts"]
