"""Settings, read once from `audio-edition.toml` into typed, frozen dataclasses.

Every setting is optional; CLI flags override the file. Unknown keys are an input error (a typo in a
newsroom's config should not be silently ignored).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from audio_edition.errors import InputError

DEFAULT_CONFIG_NAME = "audio-edition.toml"


@dataclass(frozen=True)
class PodcastConfig:
    title: str = "Édition audio"
    description: str = "Les articles du jour, lus par une voix de synthèse."
    author: str = "audio-edition"
    owner_name: str = "audio-edition"
    owner_email: str = "podcast@example.org"
    base_url: str = "http://127.0.0.1:8000/"  # where output/ is served; enclosure URLs hang off it
    site_url: str | None = None  # the news site's home page (channel <link>); defaults to base_url
    language: str = "fr"
    cover: str | None = None  # path to a square JPEG/PNG, 1400-3000 px; generated when absent
    category: str = "News"
    subcategory: str | None = "Daily News"
    explicit: bool = False
    copyright: str | None = None
    locked: bool = True
    feed_window: int | None = None  # keep the newest N episodes in feed.xml (None: all)
    # The show's page in podcast apps, linked from the show page (publish/site.py) when set.
    apple_podcasts_url: str | None = None
    spotify_url: str | None = None
    deezer_url: str | None = None
    youtube_music_url: str | None = None
    amazon_music_url: str | None = None
    pocket_casts_url: str | None = None
    overcast_url: str | None = None
    podcast_addict_url: str | None = None


@dataclass(frozen=True)
class VoiceConfig:
    engine: str | None = None  # "piper" | "espeak" | None (Piper if a voice is available, else espeak, loudly)
    voice: str = "fr_FR-siwis-medium"
    speaker: int | None = None
    length_scale: float | None = None  # speaking rate: > 1 slower (None: the voice's own default)
    noise_scale: float | None = None
    noise_w_scale: float | None = None
    espeak_voice: str = "fr"
    espeak_rate: int = 165  # words per minute for the espeak fallback
    # The Piper voice for each other language a build allows ([voice.by_language] en = "en_US-lessac-medium");
    # the espeak engine speaks any language by its own voice of that name ("en", "de", "es").
    by_language: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PauseConfig:
    """Silence after each kind of utterance, in milliseconds."""

    after_intro: int = 700
    after_title: int = 900
    after_standfirst: int = 800
    after_heading: int = 700
    after_paragraph: int = 650
    after_sentence: int = 300
    around_quote: int = 450
    after_list_item: int = 450


@dataclass(frozen=True)
class ScriptConfig:
    # The title utterance follows at once, so the intro does not say it (a listener would hear it twice).
    intro_template: str = "Version audio de l’article, lue par une voix de synthèse."
    outro_template: str = "Vous avez écouté « {title} »{credits}. Cette lecture a été réalisée par une voix de synthèse."
    lexicon: str | None = None  # path to the publisher's TOML lexicon (added to the built-in one)
    max_utterance_chars: int = 300
    # Content guards (extract/guards.py): the languages built (others refused; --lang adds one) and whether an
    # article cut by a paywall is built as an excerpt (--allow-partial) rather than refused.
    allow_languages: tuple[str, ...] = ("fr",)
    allow_partial: bool = False
    min_words: int = 50  # fewer words of text (standfirst and paragraphs) is not an article: refused as thin


@dataclass(frozen=True)
class AudioConfig:
    bitrate_kbps: int = 64  # CBR, 64-96
    sample_rate: int = 44100
    target_lufs: float = -16.0
    true_peak_db: float = -1.0
    jingle_intro: str | None = None  # any format ffmpeg reads, decoded and resampled by pydub (audio/music.py)
    jingle_outro: str | None = None
    jingle_level_db: float = 0.0  # the jingles' RMS level, relative to the voice's (whatever the voice's own level)
    music_bed: str | None = None  # a bed under the intro and the outro, looped if short (audio/music.py)
    bed_level_db: float = -6.0  # the bed in the pauses, relative to the voice's level
    bed_duck_db: float = -18.0  # how much lower the bed goes under speech
    bed_ramp_ms: int = 150  # ducking ramps, finished before a word starts and begun after it ends
    bed_fade_s: float = 1.0  # fade in at the start, fade out at the end of each bed
    bed_lead_s: float = 2.0  # the bed alone before the first word, and after the last one


@dataclass(frozen=True)
class LimitsConfig:
    max_input_bytes: int = 10 * 1024 * 1024
    url_timeout_s: float = 20.0  # each connect and read of a fetch
    fetch_deadline_s: float = 30.0  # a whole fetch: connects, redirects, headers and body
    max_redirects: int = 5
    # Bounded articles: the spoken title is cut at a sentence or word boundary (the page shows it whole); an
    # article with more blocks, or longer to read, is refused in one line before anything is spoken.
    max_title_chars: int = 300
    max_blocks: int = 2000
    max_episode_minutes: float = 180.0  # assembly works from files: memory does not grow with it (disk: ~19 MB/min)

    def __post_init__(self) -> None:
        numbers = {"max_input_bytes": self.max_input_bytes, "url_timeout_s": self.url_timeout_s,
                   "fetch_deadline_s": self.fetch_deadline_s, "max_title_chars": self.max_title_chars,
                   "max_blocks": self.max_blocks, "max_episode_minutes": self.max_episode_minutes}
        for name, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InputError(f"limits.{name} must be a positive number")
        if isinstance(self.max_redirects, bool) or not isinstance(self.max_redirects, int) or self.max_redirects < 0:
            raise InputError("limits.max_redirects must be a whole number, 0 or more")
        if self.max_title_chars < 20:
            raise InputError("limits.max_title_chars must be at least 20")


@dataclass(frozen=True)
class CacheConfig:
    """The clip cache (voice/clip_cache.py): re-speak only sentences whose spoken text changed."""

    enabled: bool = True
    directory: str | None = None  # default: the user cache dir (platformdirs), clips/
    max_mb: int = 2048  # least-recently-used clips are pruned above this
    # An optional shared tier under the local folder, for workers on several machines: "s3://bucket/prefix/".
    # A clip missing here is looked up there (and verified) before it is spoken; a clip spoken goes to both.
    shared: str | None = None
    shared_endpoint_url: str | None = None  # MinIO, Scaleway, OVH… (None: AWS)
    shared_region: str | None = None


@dataclass(frozen=True)
class DistributedConfig:
    """Celery workers on a Redis broker (scale/worker.py) and the CMS webhook (scale/webhook.py). Off unless a broker is set.

    Environment overrides: AUDIO_EDITION_BROKER_URL, AUDIO_EDITION_RESULT_BACKEND, AUDIO_EDITION_API_TOKEN."""

    broker_url: str | None = None  # redis://host:6379/0; None = local mode only
    result_backend: str | None = None  # job status lives here (default: the broker)
    output_dir: str = "output"  # the publisher's output folder; a build worker's scratch space
    articles_queue: str = "articles"  # one task per article, any number of workers
    publish_queue: str = "publish"  # store + feed: consume with exactly one worker, concurrency 1
    visibility_timeout_s: int = 1200  # a dead worker's article is redelivered after this: keep it above the longest build
    api_token: str | None = None  # bearer token for POST /articles (prefer the environment variable)
    allow_private_urls: bool = False  # let the webhook fetch loopback/private/link-local addresses
    max_body_bytes: int = 2 * 1024 * 1024  # webhook request size cap (413 above)
    # Where build workers hand built episodes to the publisher: "s3://bucket/prefix/" or a folder every worker
    # sees. None: the [publish] bucket under "audio-edition-staging/" when [publish] target = "s3", else the
    # output folder's .audio-edition/staging (one machine). AUDIO_EDITION_STAGING overrides it.
    staging: str | None = None
    staging_endpoint_url: str | None = None  # default: [publish] endpoint_url
    staging_region: str | None = None  # default: [publish] region
    staging_max_age_s: int = 2 * 24 * 3600  # staged objects of jobs nobody published are swept after this
    header_timeout_s: float = 10.0  # webhook: a connection whose request headers take longer is closed
    body_timeout_s: float = 30.0  # webhook: a body that takes longer to arrive gets 408


@dataclass(frozen=True)
class PublishConfig:
    """Where the output folder is published: "local" (the folder itself) or "s3" (an S3-compatible bucket).

    Environment overrides: AUDIO_EDITION_S3_ENDPOINT_URL, _BUCKET, _PREFIX, _REGION; credentials from
    AUDIO_EDITION_S3_ACCESS_KEY_ID / _SECRET_ACCESS_KEY or boto3's usual AWS_* variables and profiles."""

    target: str = "local"  # "local" | "s3"
    endpoint_url: str | None = None  # MinIO, Scaleway, OVH… (None: AWS)
    bucket: str | None = None
    prefix: str = ""  # key prefix inside the bucket, e.g. "podcasts/mon-journal/"
    region: str | None = None


@dataclass(frozen=True)
class Config:
    podcast: PodcastConfig = field(default_factory=PodcastConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    pauses: PauseConfig = field(default_factory=PauseConfig)
    script: ScriptConfig = field(default_factory=ScriptConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    base_dir: str = "."  # folder relative paths in the file are resolved against

    def resolve(self, path: str | None) -> Path | None:
        """A path from the config file, relative to the file's folder."""
        if path is None:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p

    def replace(self, section: str, **changes: Any) -> Config:
        """A copy with some settings of one section changed (None values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        return dataclasses.replace(self, **{section: dataclasses.replace(getattr(self, section), **changes)})


def _build(cls: type, data: dict, where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InputError(f"unknown setting {where}.{unknown[0]} in the config file", "check the spelling; see README")
    values = {}
    for name, value in data.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise InputError(f"[{name}] in the config file must be a table")
            values[name] = _build(type(default), value, name)
        else:
            values[name] = value
    return cls(**values)


def load_config(path: str | Path | None = None) -> Config:
    """Read the config file (`path`, else ./audio-edition.toml if present, else defaults)."""
    if path is None:
        candidate = Path(DEFAULT_CONFIG_NAME)
        if not candidate.is_file():
            return Config()
        path = candidate
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"config file {path} is not valid TOML: {exc}") from None
    data["base_dir"] = str(path.resolve().parent)
    return _build(Config, data, "config")
