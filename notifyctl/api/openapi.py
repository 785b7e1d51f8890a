"""The OpenAPI 3.1 document of the v1 HTTP API, as served at ``/openapi.json``.

Built from the same limits the validation enforces; tests/api/test_openapi.py keeps the document and
the served behaviour in step (every route documented, every documented answer produced, and a
schemathesis run that fuzzes requests from this document).
"""

from __future__ import annotations

from typing import Any

from notifyctl import __version__, recipients, templates, validation
from notifyctl.api import templates as template_api
from notifyctl.api.ratelimit import BATCH_ITEMS_PER_TOKEN
from notifyctl.model import CHANNELS, Status

STRING: dict[str, Any] = {"type": "string"}
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
TIMESTAMP: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def request_schema() -> dict[str, Any]:
    v = validation
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["user_id", "channel"],
        "properties": {
            "user_id": {"type": "string", "minLength": 1, "maxLength": v.MAX_ID_LENGTH},
            "channel": {"type": "string", "enum": list(CHANNELS)},
            "to": {"type": ["string", "null"], "maxLength": v.MAX_URL_LENGTH,
                   "description": "the http(s) URL for webhook; required for webhook"},
            "title": {"type": ["string", "null"], "maxLength": v.MAX_TITLE_LENGTH},
            "body": {"type": ["string", "null"], "maxLength": v.MAX_BODY_LENGTH},
            "html": {"type": ["string", "null"], "maxLength": v.MAX_HTML_LENGTH,
                     "description": "the HTML part of an email (body is its text part);"
                                    " other channels ignore it"},
            "data": {"type": ["object", "null"],
                     "description": f"at most {v.MAX_DATA_BYTES} bytes as JSON, "
                                    f"{v.MAX_DATA_DEPTH} levels deep"},
            "priority": {"type": ["string", "null"], "enum": ["high", "normal", "low", None]},
            "scheduled_for": {"type": ["string", "null"], "format": "date-time",
                              "description": "RFC 3339 with an offset; at most a year ahead"},
            "idempotency_key": {"type": ["string", "null"], "minLength": 1,
                                "maxLength": v.MAX_ID_LENGTH,
                                "description": "printable characters (no control characters)"},
            "max_attempts": {"type": ["integer", "null"], "minimum": 1,
                             "maximum": v.MAX_ATTEMPTS_LIMIT},
        },
    }  # fmt: skip


def notification_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "user_id", "channel", "status", "attempts", "max_attempts"],
        "properties": {
            "id": STRING, "user_id": STRING, "channel": STRING, "to": NULLABLE_STRING,
            "title": NULLABLE_STRING, "body": NULLABLE_STRING, "html": NULLABLE_STRING,
            "data": {"type": "object"},
            "priority": {"type": "string", "enum": ["high", "normal", "low"]},
            "status": {"type": "string", "enum": [s.value for s in Status]},
            "scheduled_for": TIMESTAMP, "attempts": {"type": "integer"},
            "max_attempts": {"type": "integer"}, "last_error": NULLABLE_STRING,
            "idempotency_key": NULLABLE_STRING, "locked_by": NULLABLE_STRING,
            "lock_expiry": TIMESTAMP, "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
            "sent_at": TIMESTAMP,
        },
    }  # fmt: skip


def components() -> dict[str, Any]:
    error_body = {
        "type": "object", "required": ["code", "message", "details"],
        "properties": {"code": STRING, "message": STRING, "details": {"type": "array"}},
    }  # fmt: skip
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": error_body},
    }  # fmt: skip
    batch_item = {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "integer", "enum": [200, 201, 409, 422]},
            "notification": ref("Notification"),
            "error": error_body,
        },
    }
    return {
        "schemas": {
            "NotificationRequest": request_schema(),
            "Notification": notification_schema(),
            "Error": error,
            "BatchRequest": {
                "type": "object", "additionalProperties": False, "required": ["notifications"],
                "properties": {"notifications": {
                    "type": "array", "minItems": 1, "maxItems": 1000,
                    # Items are checked one by one: an invalid item gets its own 422
                    # result while the valid ones are stored, so any value is accepted here.
                    "items": {"description": "a NotificationRequest; checked per item"}}},
            },
            "BatchResult": {"type": "object", "required": ["results"],
                            "properties": {"results": {"type": "array", "items": batch_item}}},
            "NotificationPage": {
                "type": "object", "required": ["notifications", "next_cursor"],
                "properties": {"notifications": {"type": "array", "items": ref("Notification")},
                               "next_cursor": NULLABLE_STRING},
            },
            **recipient_schemas(),
            "Health": {"type": "object", "required": ["status", "database", "messageQueue"],
                       "properties": {"status": STRING, "database": STRING,
                                      "messageQueue": STRING,
                                      "channels": {"type": "array", "items": STRING}}},
            **template_schemas(),
        },
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
    }  # fmt: skip


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


def paths() -> dict[str, Any]:
    notification = json_response("the notification", ref("Notification"))
    id_param = [{"name": "id", "in": "path", "required": True, "schema": STRING}]
    list_params = [
        {"name": "status", "in": "query", "schema": {"type": "string",
                                                       "enum": [s.value for s in Status]}},
        {"name": "user_id", "in": "query", "schema": {"type": "string", "minLength": 1,
                                                        "maxLength": 256}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                      "maximum": 1000}},
        {"name": "cursor", "in": "query", "schema": {"type": "string",
                                                       "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$"}},
    ]  # fmt: skip
    return {
        "/v1/notifications": {
            "post": {
                "summary": "Accept one notification",
                "description": DNS_NOTE,
                "requestBody": json_body("NotificationRequest"),
                "parameters": [idempotency_header()],
                "responses": {"201": notification, "200": json_response(
                    "an idempotent replay: the first notification", ref("Notification")),
                    "409": error_response("the idempotency key was used with another body"),
                    **BODY_ERRORS, **COMMON_ERRORS},
            },
            "get": {
                "summary": "List notifications, newest first", "parameters": list_params,
                "responses": {"200": json_response("a page", ref("NotificationPage")),
                              "422": BODY_ERRORS["422"], **COMMON_ERRORS},
            },
        },
        "/v1/notifications/batch": {"post": {
            "summary": "Accept up to 1,000 notifications in one store write",
            "description": f"A batch of n items costs 1 + n // {BATCH_ITEMS_PER_TOKEN} rate-limit"
                           " tokens (1,000 items: 11); past the bucket it is a 429 and nothing is"
                           " stored. " + DNS_NOTE,
            "requestBody": json_body("BatchRequest"),
            "responses": {"200": json_response("one result per item, in order",
                                               ref("BatchResult")),
                          **BODY_ERRORS, **COMMON_ERRORS},
        }},
        "/v1/notifications/{id}": {
            "get": {"summary": "One notification", "parameters": id_param,
                    "responses": {"200": notification, "404": error_response("unknown id"),
                                  **COMMON_ERRORS}},
            "delete": {"summary": "Cancel one that is not yet sent", "parameters": id_param,
                       "responses": {"200": notification, "404": error_response("unknown id"),
                                     "409": error_response("sent, dead, cancelled or being "
                                                           "delivered"), **COMMON_ERRORS}},
        },
        **recipient_paths(),
        **template_paths(),
        "/health": {"get": {"summary": "Health", "security": [], "responses": {
            "200": json_response("healthy", ref("Health")),
            "503": json_response("the store is down", ref("Health"))}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [],
                                  "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics of this API process",
            "description": "Open unless NOTIFYCTL_METRICS_REQUIRE_KEY (then a key is needed).",
            "security": [],
            "responses": {"200": {"description": "Prometheus text exposition format 0.0.4",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }},
    }  # fmt: skip


def template_schemas() -> dict[str, Any]:
    stamps = {"created_at": TIMESTAMP, "updated_at": TIMESTAMP, "version": {"type": "integer"}}
    strings = {"type": "array", "items": STRING}
    return {
        "TemplateDocument": {
            "type": "object",
            "description": "channels (and per-locale channels) of texts, Jinja2 templates rendered"
                           " in its sandbox; see docs/templates.md. Checked whole at PUT: every"
                           " problem is named in a 422's details",
            "properties": {
                "category": STRING, "variables": strings, "default_locale": STRING,
                "channels": {"type": "object"}, "locales": {"type": "object"},
            },
        },
        "Template": {
            "type": "object", "required": ["name", "version", "document"],
            "properties": {"name": STRING, "document": ref("TemplateDocument"), **stamps},
        },
        "TemplatePage": {
            "type": "object", "required": ["templates", "next_cursor"],
            "properties": {
                "templates": {"type": "array", "items": {
                    "type": "object", "required": ["name", "version"],
                    "properties": {"name": STRING, "category": NULLABLE_STRING,
                                   "channels": strings, "locales": strings, **stamps}}},
                "next_cursor": NULLABLE_STRING,
            },
        },
    }  # fmt: skip


def template_paths() -> dict[str, Any]:
    name = [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "description": templates.TEMPLATE_RULE},
        }
    ]
    page = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": template_api.MAX_PAGE},
        },
        {
            "name": "cursor",
            "in": "query",
            "schema": {"type": "string", "description": "a next_cursor"},
        },
    ]
    template = json_response("the template", ref("Template"))
    unknown = error_response("no template has this name (another tenant's neither)")
    refused = error_response(
        "invalid_template: each problem in details with its field, message"
        " and (inside a text) line; nothing stored"
    )
    return {
        "/v1/templates": {"get": {
            "summary": "List the tenant's templates by name", "parameters": page,
            "responses": {"200": json_response("a page", ref("TemplatePage")),
                          "422": BODY_ERRORS["422"], **COMMON_ERRORS},
        }},
        "/v1/templates/{name}": {
            "put": {"summary": "Create or replace a template (scope admin)", "parameters": name,
                    "requestBody": json_body("TemplateDocument"),
                    "responses": {"201": template, "200": json_response(
                        "replaced: the version is one more", ref("Template")),
                        "409": error_response("deleted while it was being stored; put again"),
                        **BODY_ERRORS, "422": refused, **COMMON_ERRORS}},
            "get": {"summary": "One template", "parameters": name,
                    "responses": {"200": template, "404": unknown, **COMMON_ERRORS}},
            "delete": {"summary": "Delete a template (scope admin)", "parameters": name,
                       "responses": {"204": {"description": "deleted"}, "404": unknown,
                                     **COMMON_ERRORS}},
        },
    }  # fmt: skip


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "notifyctl", "version": __version__},
        "paths": paths(),
        "components": components(),
        "security": [{"apiKey": []}],
    }


# -- recipients (``notifyctl/recipients.py``, ``api/recipients.py``) ------------------------------


def recipient_request(patch: bool) -> dict[str, Any]:
    """A PUT body, or (``patch``) a JSON merge patch: any field null, quiet hours' start or
    end alone, a category's channels null (removed)."""
    r = recipients
    nullable_text: dict[str, Any] = {"type": ["string", "null"]}
    device = {
        "type": "object", "additionalProperties": False, "required": ["platform", "token"],
        "properties": {"platform": {"type": "string", "enum": list(r.PLATFORMS)},
                       "token": STRING,
                       "app": {**nullable_text, "maxLength": r.MAX_APP_LENGTH}},
    }  # fmt: skip
    allowed = {"type": ["array", "null"] if patch else "array",
               "maxItems": len(r.PREFERENCE_CHANNELS),
               "items": {"type": "string", "enum": list(r.PREFERENCE_CHANNELS)}}  # fmt: skip
    clock = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
    quiet = {"type": ["object", "null"], "additionalProperties": False,
             "properties": {"start": clock, "end": clock},
             "description": "local time in the recipient's timezone; start after end crosses"
                            " midnight"}  # fmt: skip
    if not patch:
        quiet["required"] = ["start", "end"]
    return {
        "type": "object", "additionalProperties": False,
        "properties": {
            "user_id": {"type": "string", "description": "optional; the path's user id"},
            "email": {**nullable_text, "maxLength": 254},
            "phone": {**nullable_text, "maxLength": 16, "description": "E.164: +15551234567"},
            "devices": {"type": ["array", "null"], "maxItems": r.MAX_DEVICES, "items": device},
            "webhooks": {"type": ["array", "null"], "maxItems": r.MAX_WEBHOOKS,
                         "items": {"type": "string", "maxLength": r.MAX_URL_LENGTH},
                         "description": "http(s) URLs; " + DNS_NOTE},
            "locale": {**nullable_text, "maxLength": 35, "description": "BCP 47: en, pt-BR"},
            "timezone": {**nullable_text, "maxLength": 64, "description": "IANA: Europe/Berlin"},
            "preferences": {
                "type": ["object", "null"], "additionalProperties": False,
                "properties": {
                    "opted_out": {"type": ["array", "null"], "maxItems": r.MAX_CATEGORIES,
                                  "items": {"type": "string",
                                            "maxLength": r.MAX_CATEGORY_LENGTH}},
                    "channels": {"type": ["object", "null"], "maxProperties": r.MAX_CATEGORIES,
                                 "additionalProperties": allowed},
                },
            },
            "quiet_hours": quiet,
        },
    }  # fmt: skip


def recipient_schemas() -> dict[str, Any]:
    nullable = NULLABLE_STRING
    shown = {
        "type": "object",
        "required": ["user_id", "email", "phone", "devices", "webhooks", "locale", "timezone",
                     "preferences", "quiet_hours", "created_at", "updated_at"],
        "properties": {
            "user_id": STRING, "email": nullable, "phone": nullable,
            "devices": {"type": "array", "items": {"type": "object"}},
            "webhooks": {"type": "array", "items": STRING}, "locale": nullable,
            "timezone": nullable,
            "preferences": {"type": "object", "required": ["opted_out", "channels"]},
            "quiet_hours": {"type": ["object", "null"]},
            "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
        },
    }  # fmt: skip
    result = {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "integer", "enum": [200, 201, 422]},
        "recipient": ref("Recipient"), "error": {"type": "object"}}}  # fmt: skip
    return {
        "RecipientRequest": recipient_request(patch=False),
        "RecipientPatch": recipient_request(patch=True),
        "Recipient": shown,
        "RecipientBatchRequest": {
            "type": "object", "additionalProperties": False, "required": ["recipients"],
            "properties": {"recipients": {
                "type": "array", "minItems": 1, "maxItems": 1000,
                "items": {"description": "a RecipientRequest with its user_id; checked per item"}}},
        },
        "RecipientBatchResult": {"type": "object", "required": ["results"],
                                 "properties": {"results": {"type": "array", "items": result}}},
        "RecipientPage": {
            "type": "object", "required": ["recipients", "next_cursor"],
            "properties": {"recipients": {"type": "array", "items": ref("Recipient")},
                           "next_cursor": NULLABLE_STRING},
        },
    }  # fmt: skip


def recipient_paths() -> dict[str, Any]:
    shown = json_response("the recipient", ref("Recipient"))
    user = [
        {
            "name": "user_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": recipients.MAX_USER_ID},
        }
    ]
    unknown = error_response("no recipient of the caller's tenant has this user id")
    bad_id = error_response("the user id cannot be one (1-256 printable characters)")
    merge = {
        "required": True,
        "content": {
            media: {"schema": ref("RecipientPatch")}
            for media in ("application/merge-patch+json", "application/json")
        },
    }
    page = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
        },
        {
            "name": "cursor",
            "in": "query",
            "schema": {"type": "string", "minLength": 1, "maxLength": 256},
        },
    ]
    return {
        "/v1/recipients": {"get": {
            "summary": "List the tenant's recipients by user id", "parameters": page,
            "responses": {"200": json_response("a page", ref("RecipientPage")),
                          "422": BODY_ERRORS["422"], **COMMON_ERRORS}}},
        "/v1/recipients/batch": {"post": {
            "summary": "Create or replace up to 1,000 recipients, each as a PUT would",
            "description": f"A batch of n items costs 1 + n // {BATCH_ITEMS_PER_TOKEN} rate-limit"
                           " tokens. A user id an earlier item has is a 422 for that item.",
            "requestBody": json_body("RecipientBatchRequest"),
            "responses": {"200": json_response("one result per item, in order",
                                               ref("RecipientBatchResult")),
                          **BODY_ERRORS, **COMMON_ERRORS}}},
        "/v1/recipients/{user_id}": {
            "put": {"summary": "Create (201) or replace (200) a recipient", "parameters": user,
                    "requestBody": json_body("RecipientRequest"),
                    "responses": {"200": shown, "201": shown,
                                  "404": error_response("the path names no recipient"),
                                  **BODY_ERRORS, **COMMON_ERRORS}},
            "patch": {"summary": "Merge a JSON merge patch (RFC 7396) into a recipient",
                      "parameters": user, "requestBody": merge,
                      "responses": {"200": shown, "404": unknown, **BODY_ERRORS,
                                    "409": error_response("changed by other writes over and"
                                                          " over while merging: send it again"),
                                    **COMMON_ERRORS}},
            "get": {"summary": "One recipient", "parameters": user,
                    "responses": {"200": shown, "404": unknown, "422": bad_id,
                                  **COMMON_ERRORS}},
            "delete": {"summary": "Delete a recipient", "parameters": user,
                       "responses": {"204": {"description": "deleted"}, "404": unknown,
                                     "422": bad_id, **COMMON_ERRORS}},
        },
    }  # fmt: skip
