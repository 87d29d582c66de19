"""The README's set-up commands are the ones CI runs."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(python3 -m venv[^\n]*)\n```", (REPO / "README.md").read_text())


def test_readme_has_a_run_command_and_a_test_command():
    commands = readme_commands()
    assert len(commands) == 2 and "pytest" in commands[1] and "pytest" not in commands[0]


def test_ci_runs_the_readmes_test_command():
    test_command = readme_commands()[1].split(" && ", 2)[2]
    assert test_command in (REPO / ".ci" / "run").read_text().splitlines()
