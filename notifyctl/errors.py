"""One error tree for notifyctl. Driver errors (sqlite3, pymongo, pika) never leave an adapter.

NotifyError
├── ConfigError          a setting is invalid; start-up stops with exit code 2
├── StoreError           the store failed
│   └── StoreUnavailable the store cannot be reached or opened
└── ChannelError         a delivery channel is misconfigured
"""


class NotifyError(Exception):
    """Base of every error notifyctl raises on purpose."""


class ConfigError(NotifyError):
    """A configuration value is invalid. The message names the setting and the problem."""


class StoreError(NotifyError):
    """The store failed to do what was asked."""


class StoreUnavailable(StoreError):
    """The store cannot be opened or reached."""


class ChannelError(NotifyError):
    """A delivery channel is misconfigured (not a delivery failure: those are outcomes)."""
