"""Docker Compose's variable interpolation, for tests that cannot run ``docker compose config``:
the syntax checked, and the values computed from an environment as Compose computes them.

Compose interpolates every string value of the parsed file: ``$$`` is a literal ``$``;
``$NAME`` and ``${NAME}`` the variable; ``${NAME:-default}`` / ``${NAME-default}`` a default when
unset or empty / unset; ``${NAME:?message}`` / ``${NAME?message}`` an error with the message when
unset or empty / unset; ``${NAME:+other}`` / ``${NAME+other}`` ``other`` when set and non-empty /
set. Nested references are refused here: the file does not need them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

TOKEN = re.compile(r"\$(?:(?P<escaped>\$)|(?P<bare>[_A-Za-z]\w*)|\{(?P<braced>[^}]*)\}|)")
BRACED = re.compile(r"(?P<name>[_A-Za-z]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^${}]*))?")


class MissingVariable(Exception):
    """What ``docker compose`` stops with: a ``${NAME:?message}`` whose NAME is not set."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"required variable {name} is missing a value: {message}")
        self.name = name


def strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string value of a parsed compose file, with where it is."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, f"{path}[{index}]")


def syntax_errors(text: str) -> list[str]:
    """What Compose would refuse in one string value: a lone ``$``, a bad ``${...}``."""
    errors = []
    for match in TOKEN.finditer(text):
        if match["escaped"] or match["bare"]:
            continue
        braced = match["braced"]
        if braced is None:
            errors.append(f"a lone $ at {match.start()} (write $$ for a literal $)")
        elif not BRACED.fullmatch(braced):
            errors.append(f"invalid interpolation ${{{braced}}}")
    return errors


def substitute(match: re.Match[str], env: Mapping[str, str]) -> str:
    if match["escaped"]:
        return "$"
    if match["bare"]:
        return env.get(match["bare"], "")
    braced = BRACED.fullmatch(match["braced"] or "")
    assert braced is not None, f"invalid interpolation {match[0]}"
    name, op, arg = braced["name"], braced["op"], braced["arg"] or ""
    value = env.get(name)
    empty = value is None or (value == "" and op is not None and op.startswith(":"))
    if op in (":-", "-"):
        return arg if empty else str(value)
    if op in (":?", "?"):
        if empty:
            raise MissingVariable(name, arg)
        return str(value)
    if op in (":+", "+"):
        return "" if empty else arg
    return value or ""


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """The parsed file with every string interpolated from ``env`` (raises MissingVariable)."""
    if isinstance(node, str):
        return TOKEN.sub(lambda m: substitute(m, env), node)
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    return node


def required(node: Any) -> dict[str, str]:
    """The variables the file cannot do without (``${NAME:?message}``), with their messages."""
    found: dict[str, str] = {}
    for _, text in strings(node):
        for match in TOKEN.finditer(text):
            braced = BRACED.fullmatch(match["braced"] or "")
            if braced is not None and braced["op"] in (":?", "?"):
                found[braced["name"]] = braced["arg"] or ""
    return found
