"""Write a deployment's files all at once or not at all.

The files go to a temporary sibling of the target directory, which is then renamed into
place: a reader sees either no directory or the complete set, never half of it.  An existing
non-empty directory is only replaced with ``force=True`` (it is moved aside first and put back
if the swap fails).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Union

from sizer.deploy.result import Deployment
from sizer.errors import InvalidInputError

EXECUTABLE_SUFFIXES = (".sh",)


def _check_filenames(deployment: Deployment) -> None:
    seen: set[str] = set()
    for artifact in deployment.artifacts:
        name = artifact.filename
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise InvalidInputError(f"artifact file name {name!r} is not a plain file name")
        if name in seen:
            raise InvalidInputError(f"two artifacts are both named {name!r}")
        seen.add(name)


def write_artifacts(deployment: Deployment, directory: Union[str, Path], *, force: bool = False) -> list[Path]:
    """Write every artifact into `directory` atomically; return the paths written."""
    _check_filenames(deployment)
    target = Path(directory).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{target} exists and is not a directory")
    occupied = target.is_dir() and any(target.iterdir())
    if occupied and not force:
        raise InvalidInputError(f"{target} is not empty; choose another directory or overwrite it with --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        for artifact in deployment.artifacts:
            path = staging / artifact.filename
            with open(path, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(artifact.content)
            if artifact.filename.endswith(EXECUTABLE_SUFFIXES):
                path.chmod(0o755)
            else:
                path.chmod(0o644)
        staging.chmod(0o755)
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / a.filename for a in deployment.artifacts]


def _swap_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        os.rename(staging, target)
        return
    # An existing directory (empty, or replaced with force): move it aside, then swap.
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    aside.rmdir()
    os.rename(target, aside)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)
