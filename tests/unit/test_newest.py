"""The newest-wins rule within a batch (shared/storage/newest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.storage.newest import Version, as_stored, newest_per_key

NOW = datetime(2026, 3, 1, 12, 0, 0, 123_456, tzinfo=UTC)


def version(key: str, as_of: datetime, name: str) -> Version:
    return Version(key, as_of, {"name": name})


def test_the_newest_version_of_each_key_is_kept_whatever_the_order() -> None:
    hour = timedelta(hours=1)
    newest = newest_per_key(
        [
            version("ana", NOW, "new"),
            version("ana", NOW - hour, "old"),
            version("bob", NOW - hour, "old"),
            version("bob", NOW, "new"),
        ]
    )
    assert {key: v.document["name"] for key, v in newest.items()} == {"ana": "new", "bob": "new"}


def test_on_equal_times_the_later_version_read_wins() -> None:
    [kept] = newest_per_key([version("ana", NOW, "first"), version("ana", NOW, "second")]).values()
    assert kept.document["name"] == "second"


def test_versions_compare_at_the_precision_the_database_stores() -> None:
    # BSON keeps milliseconds: 123,456 µs and 123,999 µs are one stored time, a tie.
    later_in_the_same_millisecond = NOW.replace(microsecond=123_999)
    [kept] = newest_per_key(
        [version("ana", later_in_the_same_millisecond, "first"), version("ana", NOW, "second")]
    ).values()
    assert kept.document["name"] == "second"
    assert kept.as_of == as_stored(NOW) == NOW.replace(microsecond=123_000)
