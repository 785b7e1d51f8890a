"""The console's forms as they arrive: a bounded URL-encoded body (no multipart, no file
upload: nothing in the console needs more), and the checks every state-changing request passes
before it does anything: same origin, and the session's CSRF token."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request

#: the largest form the console takes (a replay of the 500 dead letters a page lists)
MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 1_000


class BadForm(Exception):
    """Refused: the form is too large, not a form, or from another origin."""


async def read_form(request: Request) -> dict[str, list[str]]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadForm("expected a form (application/x-www-form-urlencoded)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadForm(f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    try:
        fields = parse_qs(body.decode(), max_num_fields=MAX_FIELDS, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadForm(f"not a readable form ({exc})") from None
    return fields


def first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def same_origin(request: Request) -> bool:
    """A browser names the page a form came from in Origin (or at least Referer); a form posted
    from another site names that site. Neither header: not a browser's cross-site post."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    if claimed == "null":  # a sandboxed or privacy-stripped origin: not ours to trust
        return False
    return urlsplit(claimed).netloc == request.headers.get("host", "")
