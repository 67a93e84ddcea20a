"""The base of every YAML-backed model, and parsing with file:line:column errors."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from towpath.config._yaml import Document, load_yaml
from towpath.errors import SpecError, SpecErrors

SpecT = TypeVar("SpecT", bound="Spec")


class Spec(BaseModel):
    """Frozen, strict about unknown keys, and accepting dashed aliases."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


SECRET_ERROR = "secret_in_yaml"
"""The pydantic error type of a value that must not be shown (a secret written into YAML)."""


def invalid(reason: str) -> PydanticCustomError:
    """A validation error whose message is exactly `reason` (a plain ValueError gets a "Value error," prefix)."""
    return PydanticCustomError("invalid_value", "{reason}", {"reason": reason})


def parse_spec(model: type[SpecT], doc: Document, data: Any = None, *, base_loc: tuple[int | str, ...] = ()) -> SpecT:
    """Validate `data` (default: the whole document) as `model`.

    Every pydantic error becomes a `SpecError` at the file:line:column of the
    offending field; unknown keys suggest the closest allowed name.
    """
    payload = doc.data if data is None else data
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = [_to_spec_error(model, doc, err, base_loc) for err in exc.errors()]
        raise (errors[0] if len(errors) == 1 else SpecErrors(errors)) from None


def load_spec(model: type[SpecT], path: Path | str) -> SpecT:
    """Load a YAML file and validate it as `model`."""
    return parse_spec(model, load_yaml(path))


def _to_spec_error(model: type[Spec], doc: Document, err: Any, base_loc: tuple[int | str, ...]) -> SpecError:
    loc = base_loc + tuple(err["loc"])
    # pydantic puts discriminator tags and union member names into loc; drop what is not in the data.
    data_loc = _data_path(doc.data, loc)
    line, col = doc.locate(data_loc)
    field = dotted(data_loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_fields(model, data_loc[len(base_loc):], _node_at(doc.data, data_loc[: len(base_loc)]))
        name = str(data_loc[-1]) if data_loc else ""
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else (f"; allowed: {', '.join(sorted(allowed))}" if allowed else "")
        msg = f"unknown field '{name}'{hint}"
    elif kind == "missing":
        missing = str(loc[-1])
        field = dotted(data_loc + (missing,)) if data_loc != loc else field
        msg = f"missing required field '{missing}'"
    elif kind == SECRET_ERROR:  # never echo what was written where a secret belongs
        msg = err["msg"]
    elif kind == "union_tag_invalid":
        msg = err["msg"].replace("Input tag", "type").replace("input tag", "type")
    elif isinstance(err.get("input"), dict) and isinstance(err["input"].get("type"), str) and kind.endswith("_type"):
        # a registry-picked union refused the mapping's `type`: point at it and show it
        line, col = doc.locate((*data_loc, "type"))
        msg = f"{err['msg'].rstrip('.')} (got {err['input']['type']!r})"
    else:
        got = err.get("input")
        # a mapping or list is where the message points; naming its type ("got dict") says nothing
        msg = err["msg"].rstrip(".") + ("" if isinstance(got, (dict, list)) else f" (got {got!r})")
    return SpecError(msg, file=doc.path, line=line, col=col, field=field or None)


def _data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    path: list[int | str] = []
    node = data
    for key in loc:
        if isinstance(node, dict) and key in node:  # noqa: SIM114 - two arms so mypy can narrow `key`
            node = node[key]
            path.append(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
            path.append(key)
        # anything else is a union member / tag name pydantic inserted
    return tuple(path)


def dotted(loc: tuple[int | str, ...]) -> str:
    """A data location as users write it: `steps[1].job.table`.

    >>> dotted(("steps", 1, "job", "table"))
    'steps[1].job.table'
    """
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _node_at(data: Any, loc: tuple[int | str, ...]) -> Any:
    """The value at `loc` in the YAML data (None where the path does not exist)."""
    for key in loc:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _allowed_fields(model: type[BaseModel], loc: tuple[int | str, ...], data: Any) -> list[str]:
    """Best-effort list of field names at `loc` (for 'did you mean').

    A field annotated with a marker that has `model_for(data)` (a union picked by
    a registry, like a workflow step's job) is resolved by the data at that point;
    in any other union the member that has the next key of `loc` is taken.
    """
    import typing

    current: Any = model
    keys = loc[:-1]
    mapping_of: Any = None
    """The value annotation of a `dict[str, X]` field whose key comes next in `loc`."""
    for index, key in enumerate(keys):
        data = _node_at(data, (key,)) if isinstance(data, (dict, list)) else None
        if mapping_of is not None:  # `key` names an entry of a mapping field (`connections: {name: ...}`)
            current, mapping_of = _pick(mapping_of, data, loc[index + 1:]), None
            if current is None:
                return []
            continue
        if isinstance(key, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or key not in fields:
            return []
        info = fields[key]
        if typing.get_origin(info.annotation) is dict:
            mapping_of = typing.get_args(info.annotation)[1]
            continue
        picker = next((m for m in info.metadata if hasattr(m, "model_for")), None)
        if picker is not None:
            current = picker.model_for(data)
        else:
            current = _pick(info.annotation, data, loc[index + 1:])
        if current is None:
            return []
    fields = getattr(current, "model_fields", {})
    return [info.alias or name for name, info in fields.items()]


def _pick(annotation: Any, data: Any, rest: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model `data` is validated as under `annotation`: a registry-picked union by the data,
    any other union by the member that has the next key of `rest`."""
    import typing

    for meta in getattr(annotation, "__metadata__", ()) if typing.get_origin(annotation) is typing.Annotated else ():
        if hasattr(meta, "model_for"):
            found: type[BaseModel] | None = meta.model_for(data)
            return found
    following = next((k for k in rest if isinstance(k, str)), None)
    candidates = _models_of(annotation)
    return next((c for c in candidates if following in c.model_fields), None) or (candidates[0] if candidates else None)


def _models_of(annotation: Any) -> list[type[BaseModel]]:
    """Every model class inside an annotation (through lists, unions and `Annotated`)."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_of(arg)]
