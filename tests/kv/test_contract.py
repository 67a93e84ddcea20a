"""One contract, every engine: what `towpath move` and readers rely on from any `KvStore`."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from towpath.kv import (
    InvalidNameError,
    KvError,
    KvStore,
    NamespaceExistsError,
    NamespaceInUseError,
    NamespaceNotFoundError,
    open_store,
)


def keys_values(n: int, tag: bytes = b"v") -> tuple[list[bytes], list[bytes]]:
    return [b"k%06d" % i for i in range(n)], [tag + b"%06d" % i for i in range(n)]


def test_is_a_kv_store(store: KvStore) -> None:
    assert isinstance(store, KvStore)


def test_put_get_count_from_python_lists_and_arrow(store: KvStore) -> None:
    store.create_namespace("users_1")
    keys, values = keys_values(500)
    assert store.put_batch("users_1", keys[:250], values[:250]) == 250
    assert store.put_batch("users_1", pa.array(keys[250:], pa.binary()), pa.array(values[250:], pa.binary())) == 250
    assert store.count("users_1") == 500
    assert store.get("users_1", b"k000007") == b"v000007"
    assert store.get("users_1", b"missing") is None
    assert store.get_many("users_1", [b"k000499", b"nope", b"k000000"]) == [b"v000499", None, b"v000000"]
    assert store.get_many("users_1", []) == []


def test_binary_keys_and_empty_values_round_trip(store: KvStore) -> None:
    store.create_namespace("bin")
    keys = [b"\x00", b"\xff\xfe", b"a\r\nb", b"{tag}"]
    values = [b"", b"\x00\x01", b"\r\n$3\r\n", b"x" * 70_000]
    store.put_batch("bin", keys, values)
    assert store.get_many("bin", keys) == values


def test_put_overwrites_and_delete_batch(store: KvStore) -> None:
    store.create_namespace("ns")
    store.put_batch("ns", [b"a", b"b"], [b"1", b"2"])
    store.put_batch("ns", [b"a"], [b"3"])
    assert store.get("ns", b"a") == b"3"
    assert store.delete_batch("ns", [b"a", b"zz"]) == 1
    assert store.get("ns", b"a") is None and store.count("ns") == 1


def test_namespaces_create_drop(store: KvStore) -> None:
    assert store.namespaces() == []
    store.create_namespace("a_1")
    store.create_namespace("a_2")
    assert store.namespaces() == ["a_1", "a_2"]
    with pytest.raises(NamespaceExistsError):
        store.create_namespace("a_1")
    store.put_batch("a_1", *keys_values(100))
    store.drop_namespace("a_1")
    assert store.namespaces() == ["a_2"]
    with pytest.raises(NamespaceNotFoundError, match="a_1"):
        store.get("a_1", b"k000001")
    store.drop_namespace("a_1")  # dropping twice is a no-op
    store.create_namespace("a_1")  # and the name can be used again, empty
    assert store.count("a_1") == 0 and store.get("a_1", b"k000001") is None


def test_unknown_namespace_and_bad_input_are_clear_errors(store: KvStore) -> None:
    store.create_namespace("profiles_1")
    with pytest.raises(NamespaceNotFoundError, match="profiles_2"):
        store.put_batch("profiles_2", [b"a"], [b"b"])
    with pytest.raises(NamespaceNotFoundError):
        store.count("nope")
    with pytest.raises(InvalidNameError, match="invalid namespace name"):
        store.create_namespace("bad name/../x")
    with pytest.raises(KvError, match="2 keys but 1 values"):
        store.put_batch("profiles_1", [b"a", b"b"], [b"1"])
    with pytest.raises(KvError, match="null"):
        store.put_batch("profiles_1", pa.array([b"a", None], pa.binary()), pa.array([b"1", b"2"], pa.binary()))
    with pytest.raises(KvError, match="must be bytes"):
        store.put_batch("profiles_1", ["a"], [b"1"])  # type: ignore[list-item]
    assert store.count("profiles_1") == 0  # a refused batch wrote nothing


def test_scan_pages_through_everything_once(store: KvStore) -> None:
    store.create_namespace("scan")
    keys, values = keys_values(1234)
    store.put_batch("scan", keys, values)
    seen: dict[bytes, bytes] = {}
    cursor, pages = None, 0
    while True:
        rows, cursor = store.scan("scan", cursor, limit=100)
        pages += 1
        for key, value in rows:
            assert key not in seen
            seen[key] = value
        if cursor is None:
            break
    assert seen == dict(zip(keys, values))
    assert pages >= 5
    empty, done = store.scan("scan", None, limit=10_000)
    assert len(empty) == 1234 and done is None


def test_aliases_resolve_and_swap_atomically(store: KvStore) -> None:
    for version, tag in (("p_1", b"one"), ("p_2", b"two")):
        store.create_namespace(version)
        store.put_batch(version, *keys_values(50, tag))
    assert store.alias("p") is None and store.aliases() == {}
    store.set_alias("p", "p_1")
    assert store.get("p", b"k000003") == b"one000003"
    assert store.count("p") == 50
    store.set_alias("p", "p_2")
    assert store.alias("p") == "p_2" and store.aliases() == {"p": "p_2"}
    assert store.get_many("p", [b"k000001", b"k000002"]) == [b"two000001", b"two000002"]
    rows, _ = store.scan("p", None, limit=5)
    assert all(v.startswith(b"two") for _, v in rows)
    with pytest.raises(NamespaceInUseError, match="alias"):
        store.drop_namespace("p_2")
    store.drop_namespace("p_1")
    with pytest.raises(NamespaceNotFoundError):
        store.set_alias("p", "p_1")
    assert store.alias("p") == "p_2"


def test_readers_see_one_version_during_swaps(store: KvStore, store_url: str) -> None:
    """A reader hammering get_many over the alias while it is repointed: every answer is one version."""
    keys = [b"k%06d" % i for i in range(40)]
    for version in ("v_1", "v_2"):
        store.create_namespace(version)
        store.put_batch(version, keys, [version.encode()] * len(keys))
    store.set_alias("v", "v_1")
    stop = threading.Event()
    seen: set[bytes] = set()
    mixed: list[set[bytes | None]] = []

    def reader() -> None:
        with open_store(store_url) as other:
            while not stop.is_set():
                answer = set(other.get_many("v", keys))
                seen.update(a for a in answer if a is not None)
                if len(answer) != 1:
                    mixed.append(answer)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(60):
            store.set_alias("v", "v_2" if i % 2 == 0 else "v_1")
    finally:
        stop.set()
        thread.join()
    assert mixed == []
    assert seen <= {b"v_1", b"v_2"}


def test_a_second_store_on_the_same_url_sees_writes(store: KvStore, store_url: str) -> None:
    store.create_namespace("shared")
    with open_store(store_url) as other:
        store.put_batch("shared", [b"x"], [b"y"])
        assert other.get("shared", b"x") == b"y"
        other.set_alias("s", "shared")
    assert store.alias("s") == "shared"
