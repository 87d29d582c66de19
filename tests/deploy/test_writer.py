"""write_artifacts: all files or none, never over an existing non-empty directory unless forced."""

from __future__ import annotations

import os
import stat

import pytest

from sizer.deploy import Artifact, write_artifacts
from sizer.deploy import writer as writer_module
from sizer.errors import InvalidInputError
from tests.deploy._support import deployment_for


@pytest.fixture
def deployment():
    return deployment_for("ollama-gpu")


def test_every_artifact_is_written_with_its_content(deployment, tmp_path):
    target = tmp_path / "out"
    write_artifacts(deployment, target)
    assert {p.name: p.read_text() for p in target.iterdir()} == {a.filename: a.content for a in deployment.artifacts}


def test_scripts_are_executable_and_other_files_are_not(deployment, tmp_path):
    write_artifacts(deployment, tmp_path / "out")
    assert os.access(tmp_path / "out" / "run.sh", os.X_OK)
    assert not (tmp_path / "out" / "Modelfile").stat().st_mode & stat.S_IXUSR


def test_an_existing_empty_directory_is_filled(deployment, tmp_path):
    (tmp_path / "out").mkdir()
    write_artifacts(deployment, tmp_path / "out")
    assert (tmp_path / "out" / "Modelfile").exists()


def test_a_non_empty_directory_is_refused_and_left_alone(deployment, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    with pytest.raises(InvalidInputError, match="not empty"):
        write_artifacts(deployment, target)
    assert [p.name for p in target.iterdir()] == ["mine.txt"]


def test_force_replaces_a_non_empty_directory(deployment, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    write_artifacts(deployment, target, force=True)
    assert sorted(p.name for p in target.iterdir()) == sorted(a.filename for a in deployment.artifacts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failure_while_writing_leaves_nothing_behind(deployment, tmp_path, monkeypatch):
    real_open = open
    written = []

    def failing_open(path, *args, **kwargs):
        if len(written) == 2:
            raise OSError("disk full")
        written.append(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(writer_module, "open", failing_open, raising=False)
    with pytest.raises(OSError, match="disk full"):
        write_artifacts(deployment, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_swap_puts_the_old_directory_back(deployment, tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real_rename = os.rename
    calls = []

    def failing_rename(source, destination):
        calls.append(source)
        if len(calls) == 2:  # the staged directory onto the target
            raise OSError("rename failed")
        return real_rename(source, destination)

    monkeypatch.setattr(writer_module.os, "rename", failing_rename)
    with pytest.raises(OSError, match="rename failed"):
        write_artifacts(deployment, target, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in target.iterdir()] == ["old.txt"]


@pytest.mark.parametrize("name", ["../escape.sh", "a/b", "", ".."])
def test_a_file_name_that_is_not_a_plain_name_is_refused(deployment, tmp_path, name):
    bad = deployment.model_copy(update={"artifacts": [*deployment.artifacts, Artifact(name="x", kind="env", filename=name, content="", language="text")]})
    with pytest.raises(InvalidInputError):
        write_artifacts(bad, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_two_artifacts_with_one_name_are_refused(deployment, tmp_path):
    bad = deployment.model_copy(update={"artifacts": deployment.artifacts + deployment.artifacts[:1]})
    with pytest.raises(InvalidInputError, match="both named"):
        write_artifacts(bad, tmp_path / "out")


def test_a_file_in_place_of_the_directory_is_refused(deployment, tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(InvalidInputError, match="not a directory"):
        write_artifacts(deployment, tmp_path / "out")
