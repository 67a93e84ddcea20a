"""`open_store`: URL schemes to engines, the project default, and clear errors for bad URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from towpath.kv import KV_ENGINES, EmbeddedStore, KvUrlError, open_store


def test_embedded_default_lives_under_the_project(tmp_path: Path) -> None:
    (tmp_path / "towpath.yaml").write_text("")
    with open_store("embedded", root=tmp_path) as store:
        assert isinstance(store, EmbeddedStore)
        store.create_namespace("n_1")
    assert (tmp_path / ".towpath" / "kv" / "ns" / "n_1.mdb").is_file()


def test_embedded_relative_folder_is_under_the_project(tmp_path: Path) -> None:
    with open_store("embedded:data/kv", root=tmp_path) as store:
        assert store.url == f"embedded:{tmp_path.resolve() / 'data' / 'kv'}"


def test_unknown_scheme_suggests_the_closest(tmp_path: Path) -> None:
    with pytest.raises(KvUrlError, match="Did you mean 'redis'"):
        open_store("rediz://127.0.0.1:1")


def test_unknown_option_is_named(tmp_path: Path) -> None:
    with pytest.raises(KvUrlError, match=r"unknown option 'mapsize' \(known: map_size\)"):
        open_store(f"embedded:{tmp_path}?mapsize=3")
    with pytest.raises(KvUrlError, match="expects int"):
        open_store(f"embedded:{tmp_path}?map_size=big")


def test_every_engine_scheme_is_registered() -> None:
    assert {"embedded", "redis", "redis+cluster", "postgresql", "http", "grpc"} <= set(KV_ENGINES.names())


def test_a_file_where_the_folder_should_be_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(KvUrlError, match="cannot create the store folder"):
        open_store(f"embedded:{tmp_path / 'f'}")
