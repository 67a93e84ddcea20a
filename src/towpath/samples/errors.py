"""Errors of the samples room: what the generator refuses to do, and why."""

from __future__ import annotations

from towpath.errors import SpecError, TowpathError


class SampleError(TowpathError):
    """A sample could not be generated (target not empty, not writable, ...); nothing was written."""


class RecipeUnavailableError(SampleError):
    """The recipe exists in the seed but needs a toolchain this machine does not have."""

    def __init__(self, recipe: str, toolchain: str, alternatives: str) -> None:
        super().__init__(
            f"recipe '{recipe}' needs {toolchain}, which is not installed here and which towpath does "
            f"not ship; towpath only writes samples that its own tests run, so nothing was written. "
            f"{alternatives}"
        )
        self.recipe, self.toolchain = recipe, toolchain


class TemplateError(SpecError):
    """A template folder is incomplete or unsafe (missing files, paths outside the target, bad placeholders)."""
