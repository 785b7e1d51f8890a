"""The OpenAPI parts of the resources of sending to a person (issue 16): templates, recipients
and messages; ``openapi.py`` puts them into the document."""

from __future__ import annotations

from typing import Any

from notifyctl import recipients, templates
from notifyctl.api import templates as template_api
from notifyctl.api.openapi_parts import (
    BODY_ERRORS,
    COMMON_ERRORS,
    DNS_NOTE,
    NULLABLE_STRING,
    STRING,
    TIMESTAMP,
    error_response,
    json_body,
    json_response,
    ref,
)
from notifyctl.api.ratelimit import BATCH_ITEMS_PER_TOKEN


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


# -- messages: sends to a person (``fanout.py``, ``api/messages.py``) ------------------------------


def message_schemas() -> dict[str, Any]:
    from notifyctl.fanout import FIELDS
    from notifyctl.model import Status
    from notifyctl.templates import CHANNEL_PARTS

    notification_fields = {"user_id", "data", "priority", "scheduled_for", "idempotency_key",
                           "max_attempts", "expires_at", "ttl_seconds"}  # fmt: skip
    send: dict[str, Any] = {
        "type": "object", "additionalProperties": False, "required": ["user_id", "template"],
        "description": "a send to one of the tenant's recipients by template: one notification"
                       " per channel the template has and per device or webhook the recipient"
                       " has, the addresses and texts resolved at delivery; see"
                       " docs/recipients.md",
        "properties": {
            "template": {"type": "string", "description": templates.TEMPLATE_RULE},
            "channels": {"type": ["array", "null"], "minItems": 1,
                         "items": {"type": "string", "enum": list(CHANNEL_PARTS)},
                         "description": "only these of the template's channels"},
            "category": {"type": ["string", "null"], "minLength": 1, "maxLength": 64,
                         "description": "instead of the template's, for the preferences"},
            **{name: {"description": "as in NotificationRequest"}
               for name in sorted(notification_fields)},
        },
    }  # fmt: skip
    assert set(send["properties"]) == FIELDS  # the schema names exactly what intake takes
    statuses = [s.value for s in Status]
    message = {
        "type": "object",
        "required": ["message_id", "user_id", "template", "status", "counts", "notifications"],
        "properties": {
            "message_id": STRING, "user_id": STRING, "template": STRING,
            "category": NULLABLE_STRING,
            "status": {"type": "string", "enum": ["pending", "sent", "dead", "expired",
                                                   "suppressed", "cancelled"]},
            "counts": {"type": "object", "propertyNames": {"enum": statuses},
                       "additionalProperties": {"type": "integer"}},
            "notifications": {"type": "array", "items": ref("Notification")},
        },
    }  # fmt: skip
    return {"PersonSendRequest": send, "Message": message}


def message_paths() -> dict[str, Any]:
    id_param = [{"name": "id", "in": "path", "required": True, "schema": STRING}]
    return {
        "/v1/messages/{id}": {"get": {
            "summary": "A send to a person as a whole: its status, counts and notifications",
            "parameters": id_param,
            "responses": {"200": json_response("the message", ref("Message")),
                          "404": error_response("unknown id (or another tenant's)"),
                          **COMMON_ERRORS}}},
    }  # fmt: skip
