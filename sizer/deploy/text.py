"""Quoting and naming shared by every generated file: shell words, comments, DNS names, hosts.

Every word that reaches a shell goes through :func:`shlex.quote` (or :func:`shlex.join`);
text that lands in a comment is reduced to one printable line, so a model name with a
newline cannot end the comment and start a command.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Iterable, Sequence

from sizer.errors import InvalidInputError

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_DNS_LABEL = re.compile(r"[^a-z0-9-]+")


def one_line(text: str) -> str:
    """Text safe inside a `#` comment or a YAML/plain scalar meant for people: no line breaks, no control characters."""
    return _CONTROL.sub(" ", text).strip()


def comment(*lines: str) -> str:
    return "".join(f"# {one_line(line)}\n" if line else "#\n" for line in lines)


def check_word(what: str, value: str) -> str:
    """A value that becomes one argument of a generated command: printable, one line, not an option."""
    if not value:
        raise InvalidInputError(f"{what} is empty")
    if _CONTROL.search(value):
        raise InvalidInputError(f"{what} contains a line break or a control character: {value!r}")
    if value.startswith("-"):
        raise InvalidInputError(f"{what} starts with '-', which an engine would read as an option: {value!r}")
    return value


def check_text(what: str, value: str) -> str:
    """User text (a system prompt, a stop sequence): any printable text, tabs and line breaks allowed."""
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", value.replace("\r\n", "\n").replace("\r", "\n")):
        raise InvalidInputError(f"{what} contains a control character: {value!r}")
    return value


def check_host(host: str) -> str:
    """A bind address: an IP address or a host name (it also lands in env files, which have no quoting)."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if _HOSTNAME.match(host):
        return host
    raise InvalidInputError(f"--host must be an IP address or a host name, not {host!r}")


def check_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInputError(f"--port must be between 1 and 65535, got {port!r}")
    return port


def client_host(host: str) -> str:
    """Where a client on the same machine reaches a server bound to `host` (URL form)."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def dns_label(*parts: str, limit: int = 63) -> str:
    """A Kubernetes/compose-safe name: lowercase letters, digits and '-', at most `limit` characters."""
    text = "-".join(p for p in parts if p)
    label = _DNS_LABEL.sub("-", text.lower()).strip("-")
    label = re.sub("-{2,}", "-", label)[:limit].strip("-")
    return label or "model"


def slug(text: str, *, limit: int = 80) -> str:
    """A model name for APIs and Ollama: lowercase letters, digits, '.', '_' and '-'."""
    value = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return re.sub("-{2,}", "-", value)[:limit].strip("-._") or "model"


def format_command(argv: Sequence[str], *, prefix: str = "", indent: str = "    ", breaks: Iterable[int] = ()) -> str:
    """One command, every word shell-quoted, one option (with its values) per continued line.

    `breaks` are indexes of words that start a line of their own even though they are not
    options (the image of `docker run`, before the arguments that go to its entrypoint).
    """
    starts = set(breaks)
    groups: list[list[str]] = [[]]
    for index, word in enumerate(argv):
        if (word.startswith("-") or index in starts) and groups[-1]:
            groups.append([word])
        else:
            groups[-1].append(word)
    lines = [shlex.join(group) for group in groups]
    return prefix + (" \\\n" + indent).join(lines)


def shell_script(header: Iterable[str], body: Iterable[str]) -> str:
    """A POSIX sh script: a comment header, `set -eu`, then the body lines."""
    return "#!/bin/sh\n" + comment(*header) + "set -eu\n\n" + "\n".join(body).rstrip("\n") + "\n"
