"""Errors of the streaming room."""

from __future__ import annotations

from towpath.errors import ConnectorError, TowpathError


class StreamError(TowpathError):
    """A stream job cannot run as specified (the broker is unreachable, a topic is missing, ...)."""


class StreamFencedError(StreamError):
    """Another instance of the same job committed offsets of partitions this one owns: this one stops."""


class KafkaError(ConnectorError):
    """The Kafka client reported an error that is not transient."""
