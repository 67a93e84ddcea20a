"""Errors of the deploy room (all `TowpathError`s, so the CLI prints them as one line)."""

from __future__ import annotations

from towpath.errors import TowpathError


class DeployError(TowpathError):
    """A deployment, promotion or CI generation that cannot be done as asked; nothing was changed."""
