"""notifyctl: a notification delivery service that scales out by running more copies of itself."""

__version__ = "0.1.0"
