"""A deployment as text for people: the plan in one line, then every file under its name.

Notes are not part of it: the CLI prints them to stderr as warnings, like every command's hints.
"""

from __future__ import annotations

from sizer.deploy.result import Deployment


def render_deployment(deployment: Deployment) -> str:
    plan = deployment.plan
    where = plan.hardware or "no hardware given"
    lines = [
        f"# {plan.model_name} ({plan.quant}) with {plan.backend} on {where}: "
        f"placement {plan.placement or 'not planned'}, serves '{plan.served_model_name}' at {plan.base_url}",
    ]
    for artifact in deployment.artifacts:
        lines += ["", f"# ==> {artifact.filename} ({artifact.name}) <==", artifact.content.rstrip("\n")]
    return "\n".join(lines) + "\n"
