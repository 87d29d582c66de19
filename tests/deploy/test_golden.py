"""Golden files: the full output of a few representative plans, so any change to the generated
files is a reviewed diff.  Regenerate with SIZER_UPDATE_GOLDEN=1 pytest tests/deploy/test_golden.py."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.deploy._support import GOLDEN, deployment_for

GOLDEN_CASES = [
    "llamacpp-partial",
    "llamacpp-multi-gpu",
    "ollama-gpu",
    "ollama-apple",
    "vllm-multi-gpu",
    "vllm-multi-node",
    "tgi-gpu",
]
NOTES = "NOTES.txt"


def _expected_files(case_id: str) -> dict[str, str]:
    deployment = deployment_for(case_id)
    files = {a.filename: a.content for a in deployment.artifacts}
    files[NOTES] = "".join(f"- {note}\n" for note in deployment.notes)
    return files


@pytest.mark.parametrize("case_id", GOLDEN_CASES)
def test_generated_files_match_the_golden_files(case_id):
    directory = GOLDEN / case_id
    expected = _expected_files(case_id)
    if os.environ.get("SIZER_UPDATE_GOLDEN"):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for name, content in expected.items():
            (directory / name).write_text(content, encoding="utf-8")
    assert directory.is_dir(), f"no golden files for {case_id}: run with SIZER_UPDATE_GOLDEN=1"
    actual = {path.name: path.read_text(encoding="utf-8") for path in directory.iterdir()}
    assert sorted(actual) == sorted(expected)
    for name, content in expected.items():
        assert actual[name] == content, f"{case_id}/{name} differs from the golden file (SIZER_UPDATE_GOLDEN=1 to accept)"
