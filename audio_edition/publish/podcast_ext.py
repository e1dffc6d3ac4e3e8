"""feedgen extensions for what feedgen 1.0 cannot write.

- `PodcastNamespace` / `PodcastNamespaceEntry`: the Podcasting 2.0 namespace (https://podcastindex.org/namespace/1.0),
  which feedgen has no support for: channel `podcast:guid`, `podcast:locked`, `podcast:txt`; item
  `podcast:transcript` and `podcast:chapters`. Registered as `fg.register_extension("podcast", ...)`.
- `ItunesExtras` / `ItunesExtrasEntry`: two iTunes tags feedgen's own extension gets wrong for today's Apple rules —
  `itunes:explicit` (feedgen only accepts "yes"/"no"/"clean"; Apple and PSP-1 want "true"/"false") and item
  `itunes:image` (feedgen refuses any URL not ending in ".jpg"/".png", so "photo.jpeg" or "photo.jpg?w=1400" raise).

feedgen's bundled iTunes extension is itself registered under the name "podcast" by `load_extension("podcast")`, so
we register it explicitly as "itunes" to keep "podcast" for the Podcasting 2.0 tags.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import lxml.etree  # noqa: F401  (feedgen.util needs it loaded; see feed.py)
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.util import xml_elem

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
# The "podcast" namespace UUID of the podcast:guid spec.
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")


def podcast_guid(feed_url: str) -> str:
    """podcast:guid of a feed URL: UUIDv5 of the URL without its scheme and trailing slashes.

    >>> podcast_guid("https://podnews.net/rss")
    '9b024349-ccf0-5f69-a609-6b82873eab3c'
    """
    bare = feed_url.strip()
    if "://" in bare:
        bare = bare.split("://", 1)[1]
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare.rstrip("/")))


@dataclass(frozen=True)
class Transcript:
    url: str
    type: str  # "text/vtt", "application/x-subrip", ...
    language: str | None = None
    rel: str | None = None  # "captions" when the file carries time codes


class PodcastNamespace(BaseExtension):
    """Channel-level Podcasting 2.0 tags."""

    def __init__(self) -> None:
        self._guid: str | None = None
        self._locked: tuple[bool, str | None] | None = None
        self._txt: list[tuple[str | None, str]] = []

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def guid(self, value: str) -> None:
        self._guid = str(uuid.UUID(value))  # raises on anything that is not a UUID

    def locked(self, locked: bool, owner: str | None = None) -> None:
        self._locked = (locked, owner)

    def txt(self, value: str, purpose: str | None = None) -> None:
        if purpose is not None and len(purpose) > 128:
            raise ValueError("podcast:txt purpose is limited to 128 characters")
        if len(value) > 4000:
            raise ValueError("podcast:txt is limited to 4000 characters")
        self._txt.append((purpose, value))

    def extend_rss(self, rss_feed):
        channel = rss_feed[0]
        if self._guid:
            xml_elem(f"{{{PODCAST_NS}}}guid", channel).text = self._guid
        if self._locked is not None:
            locked, owner = self._locked
            element = xml_elem(f"{{{PODCAST_NS}}}locked", channel)
            element.text = "yes" if locked else "no"
            if owner:
                element.attrib["owner"] = owner
        for purpose, value in self._txt:
            element = xml_elem(f"{{{PODCAST_NS}}}txt", channel)
            if purpose:
                element.attrib["purpose"] = purpose
            element.text = value
        return rss_feed

    def extend_atom(self, atom_feed):
        return atom_feed  # RSS only


class PodcastNamespaceEntry(BaseEntryExtension):
    """Item-level Podcasting 2.0 tags."""

    def __init__(self) -> None:
        self._transcripts: list[Transcript] = []
        self._chapters: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def transcript(self, transcript: Transcript) -> None:
        self._transcripts.append(transcript)

    def chapters(self, url: str) -> None:
        self._chapters = url

    def extend_rss(self, entry):
        for t in self._transcripts:
            element = xml_elem(f"{{{PODCAST_NS}}}transcript", entry, url=t.url, type=t.type)
            if t.language:
                element.attrib["language"] = t.language
            if t.rel:
                element.attrib["rel"] = t.rel
        if self._chapters:
            xml_elem(f"{{{PODCAST_NS}}}chapters", entry, url=self._chapters, type="application/json+chapters")
        return entry

    def extend_atom(self, entry):
        return entry


class ItunesExtras(BaseExtension):
    """Channel `itunes:explicit` as Apple wants it today: "true" or "false"."""

    def __init__(self) -> None:
        self._explicit: bool | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"itunes": ITUNES_NS}

    def explicit(self, explicit: bool) -> None:
        self._explicit = explicit

    def extend_rss(self, rss_feed):
        if self._explicit is not None:
            xml_elem(f"{{{ITUNES_NS}}}explicit", rss_feed[0]).text = "true" if self._explicit else "false"
        return rss_feed

    def extend_atom(self, atom_feed):
        return atom_feed


class ItunesExtrasEntry(BaseEntryExtension):
    """Item `itunes:explicit` ("true"/"false") and `itunes:image` for any image URL."""

    def __init__(self) -> None:
        self._explicit: bool | None = None
        self._image: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"itunes": ITUNES_NS}

    def explicit(self, explicit: bool) -> None:
        self._explicit = explicit

    def image(self, url: str) -> None:
        self._image = url

    def extend_rss(self, entry):
        if self._image:
            xml_elem(f"{{{ITUNES_NS}}}image", entry, href=self._image)
        if self._explicit is not None:
            xml_elem(f"{{{ITUNES_NS}}}explicit", entry).text = "true" if self._explicit else "false"
        return entry

    def extend_atom(self, entry):
        return entry
