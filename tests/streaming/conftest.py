"""Fixtures of the streaming tests: the session's Tansu broker and a project per test."""

from __future__ import annotations
