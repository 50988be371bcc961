"""open_store: which URLs name which store."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.model import InvalidInputError, NotFoundError
from fleet.store import SqliteStore, open_store


@pytest.mark.parametrize("url", [":memory:", "sqlite://", "sqlite:///:memory:"])
def test_memory_urls_open_an_in_memory_store(url: str) -> None:
    store = open_store(url)
    try:
        assert isinstance(store, SqliteStore)
        assert store.location == ":memory:"
    finally:
        store.close()


def test_bare_path_opens_that_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    open_store(str(path)).close()
    assert path.is_file()


def test_four_slashes_name_an_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "abs.db"
    assert path.is_absolute()
    open_store(f"sqlite:///{path}").close()
    assert path.is_file()


def test_three_slashes_name_a_path_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    open_store("sqlite:///data/rel.db").close()
    assert (tmp_path / "data" / "rel.db").is_file()


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "sqlite://host/x.db", "",
            "postgresql://localhost/test?schema=Bad-Name"]
)
def test_unknown_urls_raise_invalid_input_naming_the_url(url: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        open_store(url)
    assert raised.value.field == "store"
    assert raised.value.value == url


def test_missing_directory_raises_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as raised:
        open_store(str(tmp_path / "nowhere" / "fleet.db"))
    assert raised.value.field == "store"
