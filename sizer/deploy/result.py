"""The typed result of `sizer deploy`: the plan it came from, the files it generates, and notes.

Key names are a published interface (the `--json` output): renaming one is a breaking change.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, Field

from sizer.estimate.result import Estimate, Placement, Settings

ArtifactKind = Literal["command", "modelfile", "compose", "kubernetes", "env", "smoke-test"]

# What `formats=` accepts; "all" means every one of them.
FORMATS = ("commands", "modelfile", "compose", "kubernetes")


class Artifact(BaseModel):
    """One generated file: a launch script, a Modelfile, a compose file, manifests, an env file or a smoke test."""

    name: str = Field(description="What the file is, e.g. 'llama-server launch command'.")
    kind: ArtifactKind
    filename: str = Field(description="File name inside the output directory (no directories).")
    content: str
    language: str = Field(description="Syntax of the content: sh, yaml, python, modelfile, dotenv.")


class PlanSummary(BaseModel):
    """The plan the artifacts start: model, engine, quantization, hardware and the settings passed on."""

    model_id: str
    model_name: str
    backend: str
    quant: str
    hardware: Optional[str] = None
    placement: Optional[Placement] = None
    fits: Optional[bool] = None
    settings: Settings
    model_source: str = Field(description="What the engine loads: a local path, a Hugging Face repo, an Ollama tag.")
    served_model_name: str = Field(description="The `model` value of OpenAI-compatible requests.")
    base_url: str = Field(description="OpenAI-compatible base URL of the running server, as seen from the same host.")
    nodes: int = Field(default=1, description="Hosts the plan spans (several for a multi-node vLLM launch).")


class Deployment(BaseModel):
    """Artifacts that start an engine with exactly the settings an estimate assumed."""

    plan: PlanSummary
    estimate: Estimate = Field(description="The estimate the artifacts were generated from.")
    artifacts: list[Artifact]
    notes: list[str] = Field(default_factory=list, description="What to know before running them, one sentence each.")

    def artifact(self, filename: str) -> Artifact:
        """The artifact with this file name (KeyError when there is none)."""
        for artifact in self.artifacts:
            if artifact.filename == filename:
                return artifact
        raise KeyError(filename)

    def of_kind(self, kind: ArtifactKind) -> list[Artifact]:
        return [a for a in self.artifacts if a.kind == kind]
