"""The smoke test every plan ends with: wait for the health endpoint, then one chat completion
through the OpenAI-compatible API, with `curl` and with the `openai` Python client.

The request body is built with :func:`json.dumps` and handed to the shell through
:func:`shlex.quote`; Python literals come from :func:`repr`.  No user text is ever pasted
into code unquoted.
"""

from __future__ import annotations

import json
import shlex
from typing import Optional, Sequence

from sizer.deploy.result import Artifact
from sizer.deploy.text import comment, format_command, shell_script

PROMPT = "Reply with one short sentence: are you running?"
MAX_TOKENS = 32
HEALTH_RETRIES = 120  # × 5 s: ten minutes for the model to download and load
HEALTH_DELAY_S = 5


def _messages(system_prompt: Optional[str]) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": PROMPT}]


def request_body(model: str, system_prompt: Optional[str], stop: Sequence[str]) -> dict:
    body: dict = {"model": model, "messages": _messages(system_prompt), "max_tokens": MAX_TOKENS}
    if stop:
        body["stop"] = list(stop)
    return body


def smoke_tests(*, label: str, root_url: str, health_path: str, model: str, system_prompt: Optional[str],
                stop: Sequence[str], where: str) -> list[Artifact]:
    """`smoke-test.sh` (curl) and `smoke-test.py` (openai client) for a server at `root_url`."""
    body = request_body(model, system_prompt, stop)
    wait = ["curl", root_url + health_path, "-fsS", "-o", "/dev/null", "--retry", str(HEALTH_RETRIES),
            "--retry-delay", str(HEALTH_DELAY_S), "--retry-all-errors"]
    chat = ["curl", root_url + "/v1/chat/completions", "-fsS", "-H", "Content-Type: application/json", "-d", json.dumps(body)]
    script = shell_script(
        [f"Smoke test: {label}", f"Run it {where} once the server is started. Needs curl 7.71 or later."],
        [
            f"echo {shlex.quote('waiting for ' + root_url + health_path)}",
            format_command(wait),
            "",
            format_command(chat),
            "echo",
        ],
    )
    lines = [
        comment(f"Smoke test: {label}", f"Run it {where}: pip install openai && python smoke-test.py").rstrip("\n"),
        "from openai import OpenAI",
        "",
        f"client = OpenAI(base_url={root_url + '/v1'!r}, api_key='sizer')  # the server checks no key",
        "response = client.chat.completions.create(",
        f"    model={model!r},",
        f"    messages={_messages(system_prompt)!r},",
        f"    max_tokens={MAX_TOKENS},",
    ]
    if stop:
        lines.append(f"    stop={list(stop)!r},")
    lines += [")", "print(response.choices[0].message.content)", ""]
    return [
        Artifact(name="smoke test (curl)", kind="smoke-test", filename="smoke-test.sh", content=script, language="sh"),
        Artifact(name="smoke test (openai client)", kind="smoke-test", filename="smoke-test.py", content="\n".join(lines), language="python"),
    ]
