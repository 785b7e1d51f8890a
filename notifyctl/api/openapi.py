"""The OpenAPI 3.1 document of the v1 HTTP API, as served at ``/openapi.json``.

Built from the same limits the validation enforces; tests/api/test_openapi.py keeps the document and
the served behaviour in step (every route documented, every documented answer produced, and a
schemathesis run that fuzzes requests from this document).
"""

from __future__ import annotations

from typing import Any

from notifyctl import __version__, validation
from notifyctl.api.openapi_parts import (
    BODY_ERRORS,
    COMMON_ERRORS,
    DNS_NOTE,
    NULLABLE_STRING,
    STRING,
    TIMESTAMP,
    error_response,
    idempotency_header,
    json_body,
    json_response,
    ref,
)
from notifyctl.api.openapi_people import (
    message_paths,
    message_schemas,
    recipient_paths,
    recipient_schemas,
    template_paths,
    template_schemas,
)
from notifyctl.api.ratelimit import BATCH_ITEMS_PER_TOKEN
from notifyctl.model import CHANNELS, Status


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
            "expires_at": {"type": ["string", "null"], "format": "date-time",
                           "description": "past it the notification is never sent (expired);"
                                          " in the future, within a year, after scheduled_for;"
                                          " not with ttl_seconds"},
            "ttl_seconds": {"type": ["integer", "null"], "minimum": 1,
                            "maximum": v.MAX_TTL_SECONDS,
                            "description": "expires_at as seconds from now"},
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
            "sent_at": TIMESTAMP, "message_id": NULLABLE_STRING, "template": NULLABLE_STRING,
            "category": NULLABLE_STRING, "expires_at": TIMESTAMP,
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
            "message": ref("Message"),
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
            **message_schemas(),
        },
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
    }  # fmt: skip


def paths() -> dict[str, Any]:
    notification = json_response("the notification", ref("Notification"))
    either = json_response(
        "the notification, or the message of a send to a person",
        {"anyOf": [ref("Notification"), ref("Message")]},
    )
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
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [ref("NotificationRequest"), ref("PersonSendRequest")]}}}},
                "parameters": [idempotency_header()],
                "responses": {"201": either, "200": json_response(
                    "an idempotent replay: the first notification (or message)",
                    {"anyOf": [ref("Notification"), ref("Message")]}),
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
        **message_paths(),
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


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "notifyctl", "version": __version__},
        "paths": paths(),
        "components": components(),
        "security": [{"apiKey": []}],
    }
