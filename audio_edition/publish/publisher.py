"""The publish stage: record finished episodes in the store, then regenerate feed.xml and the pages from it.

    plan = plan_episode(out_dir, article)       # before building: stable slug + GUID, and what is published now
    ...build the episode under episodes/<plan.slug>/ unless plan.published_script_hash == new hash...
    publish(out_dir, config, episodes)          # store commit, feed.xml, episode pages, player

The GUID rule (fixed the first time an article is planned, never changed afterwards):
- the article has a canonical URL → UUIDv5(NAMESPACE_URL, normalised URL);
- it has none → UUIDv5(NAMESPACE_URL, "urn:audio-edition:sha256:<hash of its first content>").
Articles are recognised again by their *identity*: the normalised URL, else their title (+ date when known).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import shutil
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from audio_edition.config import Config
from audio_edition.errors import AudioEditionError, InputError
from audio_edition.fileio import OutputLock
from audio_edition.models import Article, Episode, episode_from_dict, episode_to_dict
from audio_edition.publish.cover import check_cover, ensure_cover
from audio_edition.publish.embed import write_embed
from audio_edition.publish.feed import check_podcast_config, engine_name, feed_url, write_feed
from audio_edition.publish.json_feed import write_json_feed
from audio_edition.publish.links import safe_link
from audio_edition.publish.pages import (
    EXCERPT_NOTICE,
    install_player,
    write_episode_page,
)
from audio_edition.publish.podcast_ext import podcast_guid
from audio_edition.publish.s3_target import check_target, push_output
from audio_edition.publish.site import write_show_pages
from audio_edition.publish.store import EpisodeStore, StoredEpisode, published_intact, store_path, utc_now
from audio_edition.slug import slugify

log = logging.getLogger(__name__)

# French news: a date without a time zone is Paris time.
NEWSROOM_TZ = ZoneInfo("Europe/Paris")
# Query parameters that only track readers: two links that differ by them are the same article.
_TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|mc_cid|mc_eid|xtor|at_\w+|ns_\w+|_ga|ref|cmp)$", re.I)

AI_VOICE_NOTICE = "Cet épisode est lu par une voix de synthèse"
MAX_ITEM_DESCRIPTION_BYTES = 4000


@dataclass(frozen=True)
class EpisodePlan:
    slug: str  # stable: the stored slug for this article's GUID, else a new unique one
    guid: str
    published_script_hash: str | None  # hash of the episode currently published for this GUID, if any
    published_intact: bool = False  # that episode is whole on disk (store.published_intact)


# --- identity -------------------------------------------------------------------------------------------------
def canonical_url(url: str) -> str:
    """The form of an article URL that identifies it: lower-case scheme and host, no default port, no fragment,
    no tracking parameters, no trailing slash on the path."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port and (scheme, parts.port) not in {("http", 80), ("https", 443)}:
        host = f"{host}:{parts.port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _TRACKING_PARAMS.match(k)])
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((scheme, host, path, query, ""))


def content_hash(article: Article) -> str:
    """sha256 of what the article says (title, standfirst, blocks)."""
    text = "\n".join([article.title, article.standfirst or "", *(f"{b.kind}:{b.text}" for b in article.blocks)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def article_identity(article: Article) -> str:
    """The key an article is found again by, across edits of its text."""
    if article.url and urlsplit(article.url).scheme in ("http", "https"):
        return canonical_url(article.url)
    title = " ".join(unicodedata.normalize("NFC", article.title).split()).casefold()
    return f"title:{title}|{article.published or ''}"


def article_guid_for_url(url: str) -> str:
    """The GUID of an article with a canonical URL: UUIDv5 in the URL namespace of the normalised URL."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, canonical_url(url)))


def new_guid(article: Article) -> str:
    """The GUID an article gets the first time it is published."""
    if article.url and urlsplit(article.url).scheme in ("http", "https"):
        return article_guid_for_url(article.url)
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:audio-edition:sha256:{content_hash(article)}"))


def _unique_slug(store: EpisodeStore, out_dir: Path, title: str) -> str:
    base = slugify(title)
    slug, n = base, 1
    # A folder we do not know about (another tool, a removed store) is not ours to overwrite either.
    while store.slug_taken(slug) or (out_dir / "episodes" / slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _reserve(store: EpisodeStore, out_dir: Path, article: Article, slug: str | None = None) -> StoredEpisode:
    """The stored row for `article`, created (status "planned", GUID fixed from now on) when it is new.
    Call inside a store transaction."""
    identity = article_identity(article)
    existing = store.by_identity(identity)
    if existing is not None:
        return existing
    now = utc_now()
    guid = new_guid(article)
    if store.by_guid(guid) is not None:
        # Same first content under another identity (a text re-posted without URL): GUIDs must stay unique.
        guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:audio-edition:identity:{identity}"))
    if slug is None or store.slug_taken(slug):
        slug = _unique_slug(store, Path(out_dir), article.title)
    row = StoredEpisode(guid=guid, identity=identity, slug=slug,
                        status="planned", title=article.title, source_url=safe_link(article.url), created_at=now,
                        updated_at=now)
    store.insert(row)
    log.info("new episode %s (GUID %s)", row.slug, row.guid)
    return row


def plan_episode(out_dir: Path, article: Article) -> EpisodePlan:
    """Reserve (or find) the slug and GUID of `article` in the store, and say what is published for it now."""
    with EpisodeStore(out_dir) as store, store.transaction():
        row = _reserve(store, Path(out_dir), article)
    published_hash = row.script_hash if row.status == "published" else None
    return EpisodePlan(slug=row.slug, guid=row.guid, published_script_hash=published_hash,
                       published_intact=published_intact(Path(out_dir), row))


# --- recording episodes ---------------------------------------------------------------------------------------
def publication_date(published: str | None) -> str | None:
    """An article date as found ("2024-05-21", "2024-05-21T14:30:00+02:00") → ISO 8601 in UTC, or None."""
    if not published:
        return None
    text = published.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text[:10]), time(0, 0))
        except ValueError:
            log.warning("unreadable article date %r: using the publication time instead", published)
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=NEWSROOM_TZ)
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def credits_line(article: Article) -> str | None:
    """"Par Claire Dumas. Traduction de Jaime Arrambide." — who wrote (and translated) what the voice reads."""
    parts = [" ".join(p.split()).rstrip(" .") for p in (article.byline, article.translator) if p and p.strip()]
    return ". ".join(parts) + "." if parts else None


def item_description(episode: Episode) -> str:
    """Unique per episode: the standfirst (else the first paragraph), the byline and translator, then the AI-voice
    notice (and, for an excerpt of an article behind a paywall, the excerpt notice)."""
    article = episode.script.article
    lead = article.standfirst or next((b.text for b in article.blocks if b.kind == "paragraph"), "") or article.title
    notice = f"{AI_VOICE_NOTICE} ({engine_name(episode.engine)}, voix {episode.voice})."
    if article.excerpt:
        notice = f"{EXCERPT_NOTICE} {notice}"
    credits = credits_line(article)
    if credits:
        notice = f"{credits}\n\n{notice}"
    budget = MAX_ITEM_DESCRIPTION_BYTES - len(notice.encode("utf-8")) - 2
    if len(lead.encode("utf-8")) > budget:
        cut = lead.encode("utf-8")[: budget - 3].decode("utf-8", "ignore")
        lead = cut.rsplit(" ", 1)[0].rstrip(" ,;:") + "…"
    return f"{lead}\n\n{notice}"


def _stored(plan: StoredEpisode, episode: Episode, audio_bytes: int) -> StoredEpisode:
    article = episode.script.article
    return dataclasses.replace(
        plan,
        status="published",
        source_url=safe_link(article.url),
        title=article.title,
        description=item_description(episode),
        published=publication_date(article.published) or plan.published or plan.created_at,
        audio_file=episode.audio_file,
        audio_bytes=audio_bytes,
        duration=round(episode.duration, 3),
        transcript_vtt=episode.files.get("vtt"),
        transcript_srt=episode.files.get("srt"),
        chapters=episode.files.get("chapters"),
        script_hash=episode.script_hash,
        voice=episode.voice,
        engine=episode.engine,
        image=article.image,
        episode_json=json.dumps(episode_to_dict(episode), ensure_ascii=False, sort_keys=True),
    )


def _record(store: EpisodeStore, out_dir: Path, episode: Episode) -> bool:
    """Store one finished episode; True when something changed."""
    audio = Path(out_dir) / "episodes" / episode.slug / episode.audio_file
    if not audio.is_file():
        raise AudioEditionError(f"episode audio missing: {audio}", "rebuild the episode")
    # Normally plan_episode reserved the row; an Episode built without a plan is reserved under its own slug.
    row = store.by_slug(episode.slug) or _reserve(store, out_dir, episode.script.article, slug=episode.slug)
    new = _stored(row, episode, audio.stat().st_size)
    if row.status == "published" and row.audio_file and row.audio_file != new.audio_file:
        log.info("%s: new audio %s replaces %s (GUID %s kept)", episode.slug, new.audio_file, row.audio_file, row.guid)
    return store.update(dataclasses.replace(new, updated_at=utc_now()))


def check_config(config: Config) -> None:
    """Raise InputError now for podcast settings or a cover the feed would refuse — the build calls this before
    spending minutes on synthesis."""
    check_podcast_config(config.podcast)
    check_cover(config)

    check_target(config)  # [publish] target = "s3": bucket set, boto3 installed


def publish(out_dir: Path, config: Config, episodes: Sequence[Episode]) -> Path:
    """Commit `episodes` to the store (all or nothing), then regenerate feed.xml and the pages. Returns feed.xml."""
    out_dir = Path(out_dir)
    # Every file an episode needs is in place before the store says it is published: a build killed between the
    # commit and the page regeneration must not leave a published episode without its page.
    install_player(out_dir)
    for episode in episodes:
        write_episode_page(out_dir, config, episode)
    with EpisodeStore(out_dir) as store, store.transaction():
        changed = sum(_record(store, out_dir, e) for e in episodes)
    log.info("store: %d episode(s) new or changed, %d unchanged", changed, len(episodes) - changed)
    return _regenerate(out_dir, config)  # the build holds the output lock already


def stored_episode(row: StoredEpisode, out_dir: Path) -> Episode | None:
    """The full Episode (script + timeline) saved with a stored row, for the pages."""
    if not row.episode_json:
        return None
    return episode_from_dict(json.loads(row.episode_json), str(Path(out_dir) / "episodes" / row.slug))


def regenerate(out_dir: Path, config: Config) -> Path:
    """`audio-edition feed`: rewrite feed.xml, the episode pages and the player from the store alone.
    Holds the output folder's lock, so it waits for a build in progress instead of racing it."""
    out_dir = Path(out_dir)
    if not store_path(out_dir).is_file():
        raise InputError(f"no episode store in {out_dir}", "run `audio-edition build` first")
    with OutputLock(out_dir):
        return _regenerate(out_dir, config)


def _regenerate(out_dir: Path, config: Config) -> Path:
    """regenerate() for a caller that already holds the output lock (the build, through publish())."""
    check_config(config)
    with EpisodeStore(out_dir, create=False) as store:
        published = store.published()
        store_created = datetime.fromisoformat(store.meta("created_at") or utc_now())
        channel_guid = _channel_guid(store, config)
    window = config.podcast.feed_window
    in_feed = published[:window] if window is not None else published
    cover = ensure_cover(out_dir, config)
    feed_path = write_feed(out_dir, config, in_feed, cover, channel_guid=channel_guid, empty_date=store_created)
    write_json_feed(out_dir, config, in_feed, cover)
    # The site lists every published episode, also those older than the feed's window.
    _write_pages(out_dir, config, published)
    write_show_pages(out_dir, config, published, cover)

    push_output(out_dir, config)  # the S3 target (no-op for local): audio first, feed.xml last
    return feed_path


def _channel_guid(store: EpisodeStore, config: Config) -> str:
    """podcast:guid is given once in a show's life, from its feed URL at that time, and then follows the show
    even when the feed moves: it is kept in the store the first time the feed has a public URL."""
    kept = store.meta("podcast_guid")
    if kept:
        return kept
    url = feed_url(config.podcast)
    guid = podcast_guid(url)
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):  # not a local preview URL
        with store.transaction():
            store.set_meta("podcast_guid", guid)
            store.set_meta("podcast_guid_feed_url", url)
    return guid


def list_episodes(out_dir: Path) -> list[StoredEpisode]:
    """`audio-edition episodes list`: every stored episode, newest first."""
    with EpisodeStore(out_dir, create=False) as store:
        return store.all()


def remove_episode(out_dir: Path, config: Config, slug: str, *, delete_files: bool = False) -> StoredEpisode:
    """`audio-edition episodes remove`: out of the feed (GUID kept, so a rebuild brings it back under the same
    GUID); with delete_files its folder episodes/<slug>/ goes too. The feed is regenerated."""
    out_dir = Path(out_dir)
    if not store_path(out_dir).is_file():
        raise InputError(f"no episode store in {out_dir}", "run `audio-edition build` first")
    check_config(config)  # before touching the store: the feed must be regenerated right after
    with OutputLock(out_dir):
        with EpisodeStore(out_dir, create=False) as store:
            row = store.set_status(slug, "removed")
        if delete_files:
            folder = (out_dir / "episodes" / row.slug).resolve()
            # The slug comes from the store, but check anyway: never delete outside <out>/episodes/.
            if folder.parent == (out_dir / "episodes").resolve() and folder.is_dir():
                shutil.rmtree(folder)
        _regenerate(out_dir, config)
    return row


def _write_pages(out_dir: Path, config: Config, rows: Sequence[StoredEpisode]) -> None:
    """Each episode's page, embed page and oEmbed response (each file rewritten only when its bytes change)."""
    install_player(out_dir)
    for row in rows:
        episode = stored_episode(row, out_dir)
        if episode is not None:
            write_episode_page(out_dir, config, episode)
            write_embed(out_dir, config, episode)
