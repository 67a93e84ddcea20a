"""A move's table source streams the same rows as pyiceberg's scan, whichever way each data file is read."""

from __future__ import annotations

import pyarrow as pa
from move_helpers import PROFILES, move_file, profiles_project
from pyiceberg.types import StringType

from towpath.moves import load_move
from towpath.moves.source import open_source
from towpath.project import Project


def test_batches_equal_pyiceberg_across_a_rename_an_added_column_and_a_filter(project: Project) -> None:
    profiles_project(project)  # file 1: profile_id, email, age, country
    table = project.catalog.table("crm.profiles")
    with table.update_schema() as update:
        update.rename_column("email", "mail")
        update.add_column("tier", StringType())
    project.catalog.write("crm.profiles", pa.table({  # file 2 has `tier`; file 1 does not (read through pyiceberg)
        "profile_id": pa.array([5, 6], pa.int64()), "mail": ["eve@example.com", None],
        "age": pa.array([40, 41], pa.int32()), "country": ["SE", "NO"], "tier": ["gold", None],
    }))
    table = project.catalog.table("crm.profiles")
    for columns, row_filter in ((["profile_id", "mail", "age"], None), (["profile_id", "mail", "tier"], None),
                                (["profile_id", "country"], "age > 30")):
        body = ("data_movement:\n  source:\n    table: crm.profiles\n"
                + (f"    filter: \"{row_filter}\"\n" if row_filter else "") + "  key_columns: [profile_id]\n")
        source = open_source(load_move(move_file(project, "embedded", body)), project.catalog, None)
        got = pa.Table.from_batches(list(source.batches(columns, 3))).sort_by("profile_id")
        want = table.scan(row_filter=row_filter or "True", selected_fields=tuple(columns)).to_arrow()
        assert got.num_rows == want.num_rows and got.equals(want.sort_by("profile_id").cast(got.schema)), columns
    assert PROFILES.num_rows + 2 == table.scan().to_arrow().num_rows
