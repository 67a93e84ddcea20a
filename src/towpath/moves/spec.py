"""The `*.move.yaml` job: what to move, where to, and the protobuf schema it gets.

```yaml
data_movement:
  source:
    table: crm.profiles          # or: sql: SELECT ... FROM crm.profiles JOIN ...
    snapshot_id: 1234            # optional (or tag: nightly); default: main's head
    filter: "country = 'NO'"     # optional Iceberg row filter
  key_columns: [profile_id]
  value_columns: [email, age]    # default: every other column
  on_duplicate: error            # or: last
  engine: duckdb                 # or: spark (encode and write in the executors)
key_value_dal:
  url: embedded                  # redis://..., postgresql://..., grpc://host:port, http://...
  namespace: profiles            # the alias readers use
  batch_size: 50000
  keep_versions: 2
  audits:
    - type: sample_matches_source
      rows: 1000
protobuf:
  package: crm.profiles.v1
  key_message: KeyMessage
  value_message: ValueMessage
  output: proto/                 # the .proto and its generated Python module
```

Every mistake is a `SpecError` at the file:line:column of its field, and the
loaded spec remembers where each field was written so later checks (unknown
columns, duplicate keys) point at the YAML too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, model_validator

from towpath.config import Document, Spec, load_yaml, parse_spec, substitute_all

DEFAULT_BATCH_SIZE = 50_000


class SourceSpec(Spec):
    """An Iceberg table of the project's catalog (optionally pinned) or a SQL query over catalog tables."""

    table: str | None = None
    """`db.table` of the catalog."""
    sql: str | None = None
    """A SELECT over catalog tables (Spark SQL dialect, as in workflow jobs)."""
    snapshot_id: int | None = None
    """Move the table as of this snapshot (default: `main`'s head, pinned when the move starts)."""
    tag: str | None = None
    """Or as of this tag or branch."""
    filter: str | None = None
    """An Iceberg row filter (`country = 'NO' and age >= 18`)."""

    @model_validator(mode="after")
    def _one_source(self) -> SourceSpec:
        if (self.table is None) == (self.sql is None):
            raise ValueError("give exactly one of `table` or `sql`")
        if self.sql is not None and (self.snapshot_id is not None or self.tag is not None or self.filter is not None):
            raise ValueError("`snapshot_id`, `tag` and `filter` apply to a `table` source (put them in the SQL)")
        if self.snapshot_id is not None and self.tag is not None:
            raise ValueError("give `snapshot_id` or `tag`, not both")
        return self


class DataMovement(Spec):
    source: SourceSpec
    key_columns: Annotated[list[str], Field(min_length=1)]
    value_columns: list[str] | None = None
    """Default: every column that is not a key."""
    on_duplicate: Literal["error", "last"] = "error"
    """`error`: refuse the move when a key appears twice; `last`: the last row of a key wins."""
    engine: Literal["duckdb", "spark"] = "duckdb"
    """`spark`: the encode-and-write runs in the Spark executors, one batch writer per partition."""


class SampleMatchesSource(Spec):
    """Read `rows` sampled source keys back from the new version and compare every value."""

    type: Literal["sample_matches_source"]
    rows: int = Field(default=1000, ge=1)


class MinRows(Spec):
    """The version holds at least `rows` keys (a half-empty source must not replace a full one)."""

    type: Literal["min_rows"]
    rows: int = Field(ge=0)


VersionAudit = Annotated[SampleMatchesSource | MinRows, Field(discriminator="type")]


class KeyValueDal(Spec):
    url: str = "embedded"
    """The KV store: `embedded`, `redis://`, `redis+cluster://`, `postgresql://`, or the service (`grpc://`, `http://`)."""
    token: str | None = None
    """Write token of the KV service (default: `$TOWPATH_KV_TOKEN`)."""
    namespace: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    """The alias readers read; each run writes `<namespace>_<YYYYMMDDhhmmss>` behind it."""
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=1_000_000)
    keep_versions: int = Field(default=2, ge=2)
    """Complete versions kept (the current one and the rollback target at least)."""
    audits: list[VersionAudit] = Field(default_factory=list)
    """Run against the new version before the alias moves (row count and key decoding always run)."""


class ProtobufSpec(Spec):
    package: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")] = "towpath"
    key_message: str = "KeyMessage"
    value_message: str = "ValueMessage"
    output: str | None = None
    """Folder for `<namespace>.proto` and `<namespace>_pb2.py` (relative to the move file); none: not written."""


class MoveSpec(Spec):
    data_movement: DataMovement
    key_value_dal: KeyValueDal
    protobuf: ProtobufSpec = Field(default_factory=ProtobufSpec)
    _document: Document | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        return self._document.path if self._document is not None else None

    @property
    def alias(self) -> str:
        return self.key_value_dal.namespace

    def locate(self, *loc: str | int) -> tuple[Path | None, int | None]:
        """The file and line where the field at `loc` is written (for errors found after loading)."""
        if self._document is None:
            return None, None
        line, _ = self._document.locate_value(tuple(loc))
        return self._document.path, line

    def output_folder(self) -> Path | None:
        if self.protobuf.output is None:
            return None
        folder = Path(self.protobuf.output)
        if not folder.is_absolute() and self.path is not None:
            folder = self.path.parent / folder
        return folder


def load_move(path: Path | str, params: Mapping[str, str] | None = None) -> MoveSpec:
    """Parse a `*.move.yaml` (its `${VAR}`s from `params`); errors carry file:line:column."""
    document = load_yaml(path)
    data = substitute_all(document.data, params, where=str(document.path)) if params else None
    spec = parse_spec(MoveSpec, document, data)
    spec._document = document
    return spec


def find_moves(root: Path) -> list[MoveSpec]:
    """Every `*.move.yaml` under a project folder (not under `.towpath/`), sorted by path."""
    return [load_move(path) for path in sorted(root.rglob("*.move.yaml")) if ".towpath" not in path.parts]


def find_move(root: Path, alias: str) -> MoveSpec | None:
    """The move file of the project whose namespace (alias) is `alias`, or None."""
    return next((spec for spec in find_moves(root) if spec.alias == alias), None)
