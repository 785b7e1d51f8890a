"""HTTP errors as the contract writes them: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from notifyctl.validation import FieldError


class HTTPProblem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers or {}


def problem_json(problem: HTTPProblem) -> dict[str, Any]:
    details = problem.details or []
    return {"error": {"code": problem.code, "message": problem.message, "details": details}}


def problem_response(problem: HTTPProblem) -> JSONResponse:
    return JSONResponse(problem_json(problem), problem.status, headers=problem.headers)


def invalid(errors: list[FieldError]) -> HTTPProblem:
    details = [e.as_json() for e in errors]
    fields = ", ".join(sorted({e.field or "body" for e in errors}))
    return HTTPProblem(422, "invalid_fields", f"invalid fields: {fields}", details)


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return problem_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    codes = {404: "not_found", 405: "method_not_allowed"}
    code = codes.get(status, "http_error")
    headers = dict(getattr(exc, "headers", None) or {})  # e.g. Allow on a 405
    return problem_response(
        HTTPProblem(status, code, str(getattr(exc, "detail", exc)), headers=headers)
    )
