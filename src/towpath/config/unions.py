"""Unions of spec models that a registry fills: `- job:` bodies, pipeline sources and sinks, ...

A field annotated `Annotated[Base, RegisteredUnion(build, pick)]` validates as the
discriminated union `build()` returns, built the first time the model is used
(the models set `defer_build`), so plugins registered through entry points are
members and the modules that define members may import the base without an
import cycle. `pick(data)` names the member a mapping would be validated as,
so "did you mean" on an unknown field knows the right model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel, Discriminator, GetCoreSchemaHandler, Tag
from pydantic_core import CoreSchema

__all__ = ["RegisteredUnion", "tagged_union"]


@dataclass(frozen=True)
class RegisteredUnion:
    """Annotation marker: validate as the union `build()` returns (built on first use)."""

    build: Callable[[], Any]
    """Returns the union type (typically cached)."""
    pick: Callable[[Any], type[BaseModel] | None]
    """The member model for some data (None when its `type` is unknown)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return handler.generate_schema(self.build())

    def model_for(self, data: Any) -> type[BaseModel] | None:
        """The model `data` is validated as (read by `parse_spec` for "did you mean")."""
        return self.pick(data)


def tagged_union(
    members: Mapping[str, type[BaseModel]],
    *,
    suffix: str,
    error_type: str,
    message: str,
    default: str | None = None,
) -> Any:
    """The union of `members` picked by the data's `type` (`default` when it has none).

    Tags are `<type>-<suffix>`, not the bare type: pydantic puts the tag into error
    locations, and a bare `sql` would collide with the sql job's `sql` field when
    errors are mapped back to file:line. A single member is returned as is
    (pydantic refuses a discriminator on a one-member union).
    """
    if len(members) == 1:
        return next(iter(members.values()))

    def tag(data: Any) -> str | None:
        found = data.get("type", default) if isinstance(data, Mapping) else getattr(data, "type", None)
        return f"{found}-{suffix}" if isinstance(found, str) else None

    union: Any = Union[tuple(Annotated[model, Tag(f"{name}-{suffix}")] for name, model in members.items())]  # noqa: UP007
    return Annotated[union, Discriminator(tag, custom_error_type=error_type, custom_error_message=message)]
