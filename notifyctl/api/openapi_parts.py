"""The pieces every part of the OpenAPI document uses: schema helpers and the common error
answers (``openapi.py`` builds the document; ``openapi_people.py`` the resources of a person)."""

from __future__ import annotations

from typing import Any

from notifyctl import validation

STRING: dict[str, Any] = {"type": "string"}
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
TIMESTAMP: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


COMMON_ERRORS = {
    "401": error_response(
        "API keys are configured and none (or a wrong, revoked or expired one) was sent"
    ),
    "403": error_response("insufficient_scope: the key lacks the scope this endpoint needs"),
    "429": error_response(
        "rate_limited: over the rate limit (per tenant, shared by its keys; per client"
        " address without keys; requests without a valid key have a bucket per address of"
        " their own), see Retry-After and X-RateLimit-* headers; or quota_exceeded: over the"
        " tenant's daily quota, Retry-After until 00:00 UTC, see X-Daily-Quota-* headers"
    ),
    "503": error_response("the store is unavailable; retry"),
}
BODY_ERRORS = {
    "400": error_response("malformed JSON"),
    "408": error_response(
        "the body did not arrive within NOTIFYCTL_BODY_TIMEOUT_MS (header_timeout: the request"
        " line and headers not within NOTIFYCTL_HEADER_TIMEOUT_MS of their first byte, on any"
        " path); the connection is closed"
    ),
    "413": error_response("the body is too large"),
    "415": error_response("the body is not application/json"),
    "422": error_response("invalid fields, each named in details"),
}


DNS_NOTE = (
    "A webhook whose host resolves to a forbidden address (loopback, private, any IANA"
    " special-purpose block) is a 422 on its to field. Hosts are resolved together, within"
    " NOTIFYCTL_INTAKE_DNS_TIMEOUT_MS per request: one that does not resolve in time, or at all,"
    " is accepted and checked again on every address when delivered."
)


def json_body(schema_name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema_name)}}}


def idempotency_header() -> dict[str, Any]:
    return {
        "name": validation.KEY_HEADER, "in": "header",
        "description": "the idempotency_key field's rule, in ASCII; a bad one is a 422 naming"
                       " the header; if both are sent they must be equal",
        "schema": {"type": "string", "minLength": 1, "maxLength": validation.MAX_ID_LENGTH,
                   "pattern": "^[ -~]+$"},
    }  # fmt: skip
