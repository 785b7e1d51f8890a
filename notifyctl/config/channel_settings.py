"""The settings of the delivery channels beyond webhooks: email (SMTP), APNs, FCM and SMS.

A channel is offered only when its required settings are set (``channels.configured``); the
rest have defaults. Settings marked ``secret`` may instead come from a file named by the same
variable with ``_FILE`` appended (``NOTIFYCTL_SMS_AUTH_TOKEN_FILE=/run/secrets/sms``), and are
masked wherever settings are shown. docs/channels.md documents each channel's settings.
"""

from __future__ import annotations

from notifyctl.config.parsers import integer, path_text, provider_url, smtp_url, text
from notifyctl.config.setting import Setting

S = Setting
CHANNEL_SETTINGS: tuple[Setting, ...] = (
    # -- every provider channel ------------------------------------------------------------------
    S("channel_timeout_ms", "NOTIFYCTL_CHANNEL_TIMEOUT_MS", integer(100, 600_000), 10_000,
      "timeout of one delivery to an email, push or SMS provider"),
    S("channel_ca_file", "NOTIFYCTL_CHANNEL_CA_FILE", path_text, "",
      "PEM file of extra CAs the provider clients trust (a private relay, a test server)"),
    # -- email -----------------------------------------------------------------------------------
    S("smtp_url", "NOTIFYCTL_SMTP_URL", smtp_url, "",
      "smtp://user:pass@host:587 (STARTTLS required), smtps://... (implicit TLS), or"
      " smtp://host:25?starttls=off for a local relay; empty: no email channel", secret=True),
    S("email_from", "NOTIFYCTL_EMAIL_FROM", text, "", "the From address of every email"),
    S("email_reply_to", "NOTIFYCTL_EMAIL_REPLY_TO", text, "", "an optional Reply-To address"),
    S("smtp_max_connections", "NOTIFYCTL_SMTP_MAX_CONNECTIONS", integer(1, 100), 4,
      "SMTP connections each worker keeps and reuses"),
    S("email_rate_per_s", "NOTIFYCTL_EMAIL_RATE_PER_S", integer(0, 1_000_000), 0,
      "emails per second per worker at most; 0: no limit"),
    # -- APNs --------------------------------------------------------------------------------------
    S("apns_key_file", "NOTIFYCTL_APNS_KEY_FILE", path_text, "",
      "the .p8 signing key for APNs token authentication; empty: no apns channel"),
    S("apns_key_id", "NOTIFYCTL_APNS_KEY_ID", text, "", "the key's id (10 characters)"),
    S("apns_team_id", "NOTIFYCTL_APNS_TEAM_ID", text, "", "the Apple developer team id"),
    S("apns_topic", "NOTIFYCTL_APNS_TOPIC", text, "", "the app's bundle id (apns-topic)"),
    S("apns_url", "NOTIFYCTL_APNS_URL", provider_url("production", "sandbox"), "production",
      "production, sandbox, or any https:// URL"),
    S("apns_max_streams", "NOTIFYCTL_APNS_MAX_STREAMS", integer(0, 10_000), 0,
      "concurrent streams on the worker's APNs connection; 0: as many as the server allows"),
    S("apns_rate_per_s", "NOTIFYCTL_APNS_RATE_PER_S", integer(0, 1_000_000), 0,
      "APNs pushes per second per worker at most; 0: no limit"),
    # -- FCM ---------------------------------------------------------------------------------------
    S("fcm_credentials_file", "NOTIFYCTL_FCM_CREDENTIALS_FILE", path_text, "",
      "the service account's JSON key file; empty: no fcm channel"),
    S("fcm_url", "NOTIFYCTL_FCM_URL", provider_url(), "https://fcm.googleapis.com",
      "the FCM HTTP v1 API's base URL"),
    S("fcm_max_connections", "NOTIFYCTL_FCM_MAX_CONNECTIONS", integer(1, 1_000), 16,
      "concurrent FCM requests per worker"),
    S("fcm_rate_per_s", "NOTIFYCTL_FCM_RATE_PER_S", integer(0, 1_000_000), 0,
      "FCM sends per second per worker at most; 0: no limit"),
    # -- SMS ---------------------------------------------------------------------------------------
    S("sms_url", "NOTIFYCTL_SMS_URL", provider_url(), "",
      "the Twilio-compatible API's base URL (https://api.twilio.com); empty: no sms channel"),
    S("sms_account_sid", "NOTIFYCTL_SMS_ACCOUNT_SID", text, "", "the provider account's id"),
    S("sms_auth_token", "NOTIFYCTL_SMS_AUTH_TOKEN", text, "", "the account's auth token",
      secret=True),
    S("sms_from", "NOTIFYCTL_SMS_FROM", text, "", "the sending number, E.164"),
    S("sms_max_connections", "NOTIFYCTL_SMS_MAX_CONNECTIONS", integer(1, 1_000), 16,
      "concurrent SMS requests per worker"),
    S("sms_rate_per_s", "NOTIFYCTL_SMS_RATE_PER_S", integer(0, 1_000_000), 0,
      "SMS per second per worker at most; 0: no limit"),
)  # fmt: skip
