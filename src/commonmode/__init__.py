"""commonmode: find the common-mode dependencies between a service's primary and backup paths."""

__version__ = "0.1.0"
