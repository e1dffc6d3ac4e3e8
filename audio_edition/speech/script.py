"""The reading script: from an Article, the exact utterances the voice will say, in order, with their pauses.

Order: intro (names the article, says the voice is synthetic), title, standfirst, body blocks, outro (credits
the byline and translator when known). Sections: the opening (intro + title + standfirst), then one per
intertitle. Each block is cut into sentences (`segment`), long sentences into clause-sized pieces, and each piece
gets its spoken form (`normalize` + lexicon) and the silence that follows it, chosen by structure.

An article in another language (allowed by the content guards) is read by a voice of its language: its text is
passed through as written (the French rules and lexicon would garble it; the voice reads its own language's
numbers), and the intro and outro are said in its language (built-in wording below; the config's templates are
French). An excerpt behind a paywall (`article.excerpt`) is announced in the intro.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import replace

from audio_edition.config import Config, PauseConfig
from audio_edition.errors import InputError, RefusedArticle
from audio_edition.extract.guards import primary_language
from audio_edition.models import (
    Article,
    Script,
    ScriptBlock,
    Section,
    Utterance,
    UtteranceKind,
)
from audio_edition.publish.links import safe_link
from audio_edition.speech.glue import repair_glued
from audio_edition.speech.lexicon import Lexicon
from audio_edition.speech.normalize import normalize
from audio_edition.speech.segment import cut_run_on, fold_spaces, segment

log = logging.getLogger(__name__)

TEMPLATE_FIELDS = ("title", "site", "byline", "translator", "credits", "published")
MIN_CUT_CHARS = 20  # cut_run_on's smallest limit
# What a listener hears per second, on average, at length_scale 1 (the disk-space estimate uses the same figure):
# enough to refuse an article far over the episode cap before a second of it is spoken.
SPOKEN_CHARS_PER_SECOND = 15

# What the voice says around an article, by language: intro, outro, credits ("by", "translated by") and the
# excerpt notice. French intro/outro come from the config ([script] intro_template, outro_template). Another
# language without wording here gets the English one.
WORDING: dict[str, dict[str, str]] = {
    "fr": {"by": "un article de", "translated": "traduit par",
           "excerpt": "Ceci est un extrait : la suite de l’article est réservée aux abonnés du site."},
    "en": {"intro": "Audio version of the article, read by a synthetic voice.",
           "outro": "You have been listening to “{title}”{credits}. This reading was made by a synthetic voice.",
           "by": "an article by", "translated": "translated by",
           "excerpt": "This is an excerpt: the rest of the article is for the site’s subscribers."},
    "de": {"intro": "Audioversion des Artikels, gelesen von einer synthetischen Stimme.",
           "outro": "Sie hörten „{title}“{credits}. Diese Lesung wurde von einer synthetischen Stimme erstellt.",
           "by": "ein Artikel von", "translated": "übersetzt von",
           "excerpt": "Dies ist ein Auszug: Der Rest des Artikels ist den Abonnenten der Website vorbehalten."},
    "es": {"intro": "Versión en audio del artículo, leída por una voz sintética.",
           "outro": "Ha escuchado «{title}»{credits}. Esta lectura ha sido realizada por una voz sintética.",
           "by": "un artículo de", "translated": "traducido por",
           "excerpt": "Esto es un extracto: el resto del artículo está reservado a los suscriptores del sitio."},
    "it": {"intro": "Versione audio dell’articolo, letta da una voce sintetica.",
           "outro": "Avete ascoltato «{title}»{credits}. Questa lettura è stata realizzata da una voce sintetica.",
           "by": "un articolo di", "translated": "tradotto da",
           "excerpt": "Questo è un estratto: il resto dell’articolo è riservato agli abbonati del sito."},
}


def article_language(article: Article) -> str:
    """The article's primary language: 'fr-FR' -> 'fr'."""
    return primary_language(article.lang or "fr") or "fr"


def wording(article: Article) -> dict[str, str]:
    return WORDING.get(article_language(article), WORDING["en"])


def _author(byline: str) -> str:
    return re.sub(r"^\s*(?:par|by)\s+", "", byline, flags=re.IGNORECASE).strip()


def _translator(translator: str) -> str:
    return re.sub(r"^\s*(?:traduit|traduction)\s+(?:de l'\w+\s+)?(?:par|de)\s+", "", translator,
                  flags=re.IGNORECASE).strip()


def credits_text(article: Article) -> str:
    """", un article de Choe Sang-Hun, traduit par Jaime Arrambide" (empty when nothing is known)."""
    words = wording(article)
    parts = []
    if article.byline and _author(article.byline):
        parts.append(f"{words['by']} {_author(article.byline)}")
    if article.translator and _translator(article.translator):
        parts.append(f"{words['translated']} {_translator(article.translator)}")
    return "".join(f", {part}" for part in parts)


def render_template(template: str, article: Article, setting: str, title: str | None = None) -> str:
    """Fill an intro/outro template; unknown fields or stray braces are a config error, said in one line. TITLE is
    the title as spoken (cut to the cap), when it differs from the article's."""
    values = {
        "title": (title if title is not None else article.title).strip(),
        "site": (article.site_name or "").strip(),
        "byline": _author(article.byline) if article.byline else "",
        "translator": _translator(article.translator) if article.translator else "",
        "credits": credits_text(article),
        "published": article.published or "",
    }
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        unknown = [name for name in fields if name not in values]
        if unknown:
            raise InputError(f"script.{setting}: unknown field {{{unknown[0]}}}",
                             f"use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}")
        text = template.format(**values)
    except (ValueError, IndexError) as exc:
        raise InputError(f"script.{setting} is not a valid template: {exc}") from None
    return fold_spaces(text)


def as_written(text: str) -> str:
    """The spoken form of a text in another language than French: the text itself, on one line (article text may
    not smuggle Piper phonemes in)."""
    return " ".join(text.replace("[[", "[ [").replace("]]", "] ]").split())


def _fit_spoken(piece: str, max_chars: int, lexicon: Lexicon | None, french: bool = True) -> list[tuple[str, str]]:
    """(written, spoken) pieces of PIECE whose spoken form fits the cap too (one character is kept for the final
    stop). Spelling out can make a text several times longer ("2 345 678,90 €", a row of figures), and the cap is
    what keeps the engine's memory flat: a piece whose spoken form is too long is cut again, shorter, in proportion.
    """
    spoken = normalize(piece, lexicon) if french else as_written(piece)
    if len(spoken) < max_chars or len(piece) <= MIN_CUT_CHARS:
        return [(piece, spoken)]
    shorter = max(MIN_CUT_CHARS, min(len(piece) - 1, len(piece) * (max_chars - 1) // len(spoken)))
    return [fitted for part in cut_run_on(piece, shorter) for fitted in _fit_spoken(part, max_chars, lexicon, french)]


def intro_and_outro(article: Article, settings, title: str | None = None) -> tuple[str, str]:
    """What the voice says before and after the article, in its language, with the excerpt notice."""
    words = wording(article)
    if article_language(article) == "fr":
        intro = render_template(settings.intro_template, article, "intro_template", title)
        outro = render_template(settings.outro_template, article, "outro_template", title)
    else:
        intro = words["intro"]
        outro = render_template(words["outro"], article, "outro_template", title)
    if article.excerpt:
        intro = f"{intro} {words['excerpt']}"
    return intro, outro


def check_script_config(config: Config) -> None:
    """The script settings every article needs, refused once before any article is read."""
    if config.script.max_utterance_chars < 40:
        raise InputError("script.max_utterance_chars must be at least 40")
    probe = Article(title="Titre", blocks=())
    render_template(config.script.intro_template, probe, "intro_template")
    render_template(config.script.outro_template, probe, "outro_template")


# --- bounded articles ------------------------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"[.!?…](?:[»”\"')\]]*)(?=\s)")


def spoken_title(title: str, max_chars: int) -> str:
    """The title as the voice says it: whole up to MAX_CHARS, else cut at the last sentence end that keeps at
    least a third of the cap, else at the last word boundary (the page shows the title whole). French no-break
    spaces are kept (the chapter title is read by people too), and never cut at."""
    title = fold_spaces(title)
    if len(title) <= max_chars:
        return title
    head = title[:max_chars + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= max_chars]
    if ends and ends[-1] >= max_chars // 3:
        return head[:ends[-1]].strip()
    cut = head.rfind(" ", 0, max_chars)
    text = head[:cut] if cut >= max_chars // 3 else head[:max_chars]
    return text.rstrip(" ,;:–—-")


def spoken_title_note(article: Article, script: Script) -> str | None:
    """The `script --report` line when the spoken title is cut (None when it is said whole)."""
    said = next((b.text for b in script.blocks if b.kind == "title"), None)
    whole = " ".join(article.title.split())
    if said is None or said == whole:
        return None
    return (f"title cut: {len(whole)} characters, {len(said)} spoken (limits.max_title_chars); "
            "the episode page shows it whole")


def estimated_seconds(characters: int, pauses_ms: int, config: Config) -> float:
    """How long CHARACTERS of spoken text and PAUSES_MS of silence last, at the configured speaking rate."""
    return characters / SPOKEN_CHARS_PER_SECOND * (config.voice.length_scale or 1.0) + pauses_ms / 1000


def _too_long(seconds: float, config: Config) -> RefusedArticle:
    limit = config.limits.max_episode_minutes
    return RefusedArticle(f"refused: the article would be about {_duration(seconds)} of audio, over the "
                          f"{_duration(limit * 60)} limit (limits.max_episode_minutes)", "too long")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def check_article_size(article: Article, config: Config) -> None:
    """Refuse, in one line and before any text is normalised, an article over the block cap or whose written
    text alone is already longer to say than the episode cap (spelling out only makes it longer)."""
    limits = config.limits
    if len(article.blocks) > limits.max_blocks:
        raise RefusedArticle(f"refused: the article has {len(article.blocks)} blocks, over the limit of "
                             f"{limits.max_blocks} (limits.max_blocks)", "too long")
    written = sum(len(block.text) for block in article.blocks) + len(article.standfirst or "")
    seconds = estimated_seconds(written, 0, config)
    if seconds > limits.max_episode_minutes * 60:
        raise _too_long(seconds, config)


def _pause_after(kind: UtteranceKind, pauses: PauseConfig) -> int:
    return {
        "intro": pauses.after_intro,
        "title": pauses.after_title,
        "standfirst": pauses.after_standfirst,
        "heading": pauses.after_heading,
        "paragraph": pauses.after_paragraph,
        "quote": pauses.around_quote,
        "list_item": pauses.after_list_item,
        "outro": 0,  # the end of the episode
    }[kind]


def build_script(article: Article, config: Config, lexicon: Lexicon | None = None) -> Script:
    """The reading script of ARTICLE: blocks, sections and utterances, in reading order."""
    settings = config.script
    pauses = config.pauses
    if not article.title.strip():
        raise InputError("the article has no title: nothing to announce")
    if settings.max_utterance_chars < 40:
        raise InputError("script.max_utterance_chars must be at least 40")
    check_article_size(article, config)
    # Only an http(s) link travels on with the script (episode.json, store, feed, tags, pages): `script --report`
    # names what was dropped.
    article = replace(article, url=safe_link(article.url))

    # 1. blocks and sections (the title as spoken: cut to the cap; the article keeps it whole for the page)
    title = spoken_title(article.title, config.limits.max_title_chars)
    sections = [Section(0, title)]
    intro, outro = intro_and_outro(article, settings, title)
    french = article_language(article) == "fr"

    def as_read(text: str) -> str:  # French article text: words the source glued together split again (glue.py)
        return repair_glued(fold_spaces(text), lexicon)[0] if french else fold_spaces(text)

    planned: list[tuple[UtteranceKind, str, int | None]] = [
        ("intro", intro, None),
        ("title", as_read(title), None),
    ]
    if article.standfirst and article.standfirst.strip():
        planned.append(("standfirst", as_read(article.standfirst), None))
    blocks: list[ScriptBlock] = []
    for kind, text, source in planned:
        blocks.append(ScriptBlock(len(blocks), kind, fold_spaces(text), 0, source))
    for position, source_block in enumerate(article.blocks):
        text = as_read(source_block.text)  # French no-break spaces kept for every written copy
        if not re.search(r"\w", text):  # "[…]", "« »": nothing to say, and no silent block in the timeline
            continue
        if source_block.kind == "heading":
            sections.append(Section(len(sections), text))
        blocks.append(ScriptBlock(len(blocks), source_block.kind, text, len(sections) - 1, position))
    blocks.append(ScriptBlock(len(blocks), "outro", outro, len(sections) - 1, None))

    # 2. utterances: sentences, then clause-sized pieces; pauses by structure
    utterances: list[Utterance] = []
    for block in blocks:
        sentences = segment(block.text, settings.max_utterance_chars)
        for sentence_index, written in enumerate(sentences):
            pieces = [fitted for piece in written
                      for fitted in _fit_spoken(piece, settings.max_utterance_chars, lexicon, french)]
            for piece_index, (piece, spoken) in enumerate(pieces):
                last_piece = piece_index == len(pieces) - 1
                last_sentence = sentence_index == len(sentences) - 1
                if last_piece and last_sentence:
                    pause = _pause_after(block.kind, pauses)
                elif last_piece:
                    pause = pauses.after_sentence
                else:  # a run-on sentence cut at a clause boundary: a breath, not a full stop
                    pause = pauses.after_sentence // 2
                if not spoken.strip():
                    continue
                if last_piece and not re.search(r"[.!?…;:»\"\]]$", spoken):
                    spoken += "."  # headlines and list items end cleanly: a falling, final intonation
                utterances.append(Utterance(len(utterances), block.kind, block.index, sentence_index, piece,
                                            spoken, pause))
        # before a quote: at least the quote pause after what precedes it
        if block.kind == "quote" and utterances:
            first = next((i for i, u in enumerate(utterances) if u.block == block.index), None)
            if first is not None and first > 0:
                before = utterances[first - 1]
                if before.pause_after_ms < pauses.around_quote:
                    utterances[first - 1] = replace(before, pause_after_ms=pauses.around_quote)
    seconds = estimated_seconds(sum(len(u.spoken) for u in utterances), sum(u.pause_after_ms for u in utterances),
                                config)
    if seconds > config.limits.max_episode_minutes * 60:
        raise _too_long(seconds, config)
    log.debug("script: %d blocks, %d sections, %d utterances", len(blocks), len(sections), len(utterances))
    return Script(article=article, blocks=tuple(blocks), sections=tuple(sections), utterances=tuple(utterances))

