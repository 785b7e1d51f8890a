"""How the console's pages are made: Jinja2 templates with autoescape on for everything (a
notification's title, body, errors and ids are client- or receiver-written text and are never
rendered unescaped), and the headers every console answer carries.

No page loads anything from elsewhere: styles and script are served by notifyctl itself, and the
Content-Security-Policy allows nothing else (no inline script, no other origin, no framing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse, Response

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # not no-referrer: under it a browser sends "Origin: null" with a form, and the same-origin
    # check (``forms.py``) could not tell our forms from anyone's
    "Referrer-Policy": "same-origin",
}
#: data pages are never stored by a browser or a proxy
NO_STORE = {"Cache-Control": "no-store", **SECURITY_HEADERS}


def number(value: Any) -> str:
    """Thousands separators; ``-`` for nothing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = number
    return env


class Pages:
    def __init__(self) -> None:
        self._env = environment()

    def render(self, template: str, status_code: int = 200, **context: Any) -> Response:
        body = self._env.get_template(template).render(**context)
        return HTMLResponse(body, status_code=status_code, headers=NO_STORE)
