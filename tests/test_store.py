"""The episode store: SQLite state, the GUID rule, changed/unchanged articles, `episodes list/remove`."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from conftest import run_cli
from lxml import etree
from publish_support import article, finished_episode

from audio_edition.config import Config
from audio_edition.errors import AudioEditionError
from audio_edition.models import Block
from audio_edition.publish.publisher import canonical_url, plan_episode, publish
from audio_edition.publish.store import SCHEMA_VERSION, EpisodeStore, store_path


def items(out: Path) -> list[etree._Element]:
    return etree.parse(str(out / "feed.xml")).getroot().findall("channel/item")


def by_guid(out: Path) -> dict[str, bytes]:
    return {i.findtext("guid"): etree.tostring(i) for i in items(out)}


def test_store_is_wal_sqlite_in_a_hidden_folder_with_a_schema_version(tmp_path):
    plan_episode(tmp_path, article(1))
    path = store_path(tmp_path)
    assert path == tmp_path / ".audio-edition" / "store.sqlite3"
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = {r[1] for r in db.execute("PRAGMA table_info(episodes)")}
    assert {"guid", "slug", "source_url", "title", "description", "published", "audio_file", "audio_bytes",
            "duration", "transcript_vtt", "transcript_srt", "chapters", "script_hash", "voice", "engine",
            "created_at", "updated_at"} <= columns


def test_guid_is_uuid5_of_the_canonical_url_and_ignores_tracking_and_fragments(tmp_path):
    a = article(1, url="https://Journal.Example.fr:443/2024/05/article-1.html/?utm_source=x&id=7#comments")
    plan = plan_episode(tmp_path, a)
    expected = uuid.uuid5(uuid.NAMESPACE_URL, "https://journal.example.fr/2024/05/article-1.html?id=7")
    assert plan.guid == str(expected)
    assert canonical_url(a.url) == "https://journal.example.fr/2024/05/article-1.html?id=7"
    # Same article reached through another tracking link: same GUID, same slug, no second row.
    again = plan_episode(tmp_path, dataclasses.replace(a, url="https://journal.example.fr/2024/05/article-1.html?id=7&fbclid=abc"))
    assert (again.guid, again.slug) == (plan.guid, plan.slug)
    with EpisodeStore(tmp_path) as store:
        assert len(store.all()) == 1


def test_article_without_url_keeps_its_first_content_guid_when_its_text_changes(tmp_path):
    first = article(1, url=None)
    plan = plan_episode(tmp_path, first)
    assert plan.published_script_hash is None
    edited = dataclasses.replace(first, blocks=(Block("paragraph", "Un texte corrigé."),) + first.blocks[1:])
    again = plan_episode(tmp_path, edited)
    assert (again.guid, again.slug) == (plan.guid, plan.slug)
    # The GUID came from the first content, not from the edited one.
    from audio_edition.publish.publisher import content_hash
    assert plan.guid == str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:audio-edition:sha256:{content_hash(first)}"))


def test_two_articles_with_the_same_title_get_distinct_slugs(tmp_path):
    a = plan_episode(tmp_path, article(1))
    b = plan_episode(tmp_path, dataclasses.replace(article(1), url="https://autre.example.fr/meme-titre"))
    assert a.guid != b.guid
    assert b.slug == f"{a.slug}-2"


def test_publish_then_unchanged_rebuild_does_nothing_and_changed_text_keeps_guid(tmp_path):
    config = Config()
    eps = [finished_episode(tmp_path, article(n)) for n in (1, 2, 3)]
    publish(tmp_path, config, eps)
    plan = plan_episode(tmp_path, article(2))
    assert plan.published_script_hash == eps[1].script_hash  # the build can skip it
    feed_before = (tmp_path / "feed.xml").read_bytes()
    mtime = (tmp_path / "feed.xml").stat().st_mtime_ns
    with EpisodeStore(tmp_path) as store:
        rows_before = store.all()

    publish(tmp_path, config, [eps[1]])  # the same episode again
    assert (tmp_path / "feed.xml").read_bytes() == feed_before
    assert (tmp_path / "feed.xml").stat().st_mtime_ns == mtime  # not even rewritten
    with EpisodeStore(tmp_path) as store:
        assert store.all() == rows_before  # updated_at untouched too

    old = by_guid(tmp_path)
    changed = finished_episode(tmp_path, article(2, text="Un paragraphe réécrit par la rédaction."))
    assert changed.slug == eps[1].slug and changed.audio_file != eps[1].audio_file
    publish(tmp_path, config, [changed])
    new = by_guid(tmp_path)
    assert new.keys() == old.keys()
    guid = plan.guid
    assert new[guid] != old[guid]
    item = next(i for i in items(tmp_path) if i.findtext("guid") == guid)
    assert item.find("enclosure").get("url").endswith("/" + changed.audio_file)
    assert {g: x for g, x in new.items() if g != guid} == {g: x for g, x in old.items() if g != guid}
    # A published MP3 is never overwritten or deleted by a new version.
    assert (tmp_path / "episodes" / changed.slug / eps[1].audio_file).is_file()


def test_publish_is_all_or_nothing(tmp_path):
    good = finished_episode(tmp_path, article(1))
    bad = finished_episode(tmp_path, article(2))
    (tmp_path / "episodes" / bad.slug / bad.audio_file).unlink()
    with pytest.raises(AudioEditionError, match="audio missing"):
        publish(tmp_path, Config(), [good, bad])
    with EpisodeStore(tmp_path) as store:
        assert {r.status for r in store.all()} == {"planned"}
    assert not (tmp_path / "feed.xml").exists()


def _plan_many(out: str) -> list[tuple[str, str]]:
    return [(p.guid, p.slug) for p in (plan_episode(Path(out), article(n)) for n in range(8))]


def test_concurrent_planners_agree_on_one_row_per_article(tmp_path):
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_plan_many, [str(tmp_path)] * 2))
    assert results[0] == results[1]
    with EpisodeStore(tmp_path) as store:
        assert len(store.all()) == 8


def test_store_from_a_newer_version_or_corrupt_is_a_clear_error(tmp_path):
    plan_episode(tmp_path, article(1))
    db = sqlite3.connect(store_path(tmp_path))
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(AudioEditionError, match="newer audio-edition"):
        EpisodeStore(tmp_path)

    other = tmp_path / "other"
    store_path(other).parent.mkdir(parents=True)
    store_path(other).write_bytes(b"this is not a database" * 100)
    result = run_cli("episodes", "list", "--out", str(other))
    assert result.code == 1
    assert "cannot open the episode store" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_episodes_list_and_remove_from_the_cli(tmp_path):
    eps = [finished_episode(tmp_path, article(n)) for n in (1, 2, 3)]
    publish(tmp_path, Config(), eps)

    listed = run_cli("episodes", "list", "--out", str(tmp_path))
    assert listed.code == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert [line.split()[4] for line in lines] == [eps[2].slug, eps[1].slug, eps[0].slug]  # newest first
    assert all(line.startswith("published") for line in lines)
    as_json = json.loads(run_cli("episodes", "list", "--out", str(tmp_path), "--json").stdout)
    assert {e["slug"] for e in as_json} == {e.slug for e in eps}
    assert all(set(e) >= {"guid", "audio_file", "audio_bytes", "duration", "script_hash"} for e in as_json)

    guid_of_1 = plan_episode(tmp_path, article(1)).guid
    removed = run_cli("episodes", "remove", eps[0].slug, "--out", str(tmp_path))
    assert removed.code == 0, removed.stderr
    assert guid_of_1 not in by_guid(tmp_path)
    assert (tmp_path / "episodes" / eps[0].slug / eps[0].audio_file).is_file()  # files kept

    gone = run_cli("episodes", "remove", eps[1].slug, "--out", str(tmp_path), "--delete-files")
    assert gone.code == 0, gone.stderr
    assert not (tmp_path / "episodes" / eps[1].slug).exists()
    assert len(items(tmp_path)) == 1
    assert "removed" in run_cli("episodes", "list", "--out", str(tmp_path)).stdout

    # Rebuilding a removed article brings it back under the same GUID and slug.
    back = finished_episode(tmp_path, article(1))
    assert back.slug == eps[0].slug
    publish(tmp_path, Config(), [back])
    assert guid_of_1 in by_guid(tmp_path)


@pytest.mark.parametrize("args", [("episodes", "remove", "no-such-episode"), ("episodes", "list"), ("feed",)])
def test_cli_errors_are_one_line_exit_2(tmp_path, args):
    if args[1:2] == ("remove",):
        plan_episode(tmp_path, article(1))
    result = run_cli(*args, "--out", str(tmp_path))
    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
