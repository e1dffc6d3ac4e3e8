"""Sentence segmentation for French news text, and cutting of run-on sentences.

Ours, not espeak's: `?`, `!`, `.` and `…` end a sentence when a new sentence visibly starts after them
(whitespace, then a capital, a digit or an opening quote). A dot does not end a sentence after a known
abbreviation (M., MM., Me, art., p., n°, cf., av. J.-C., ...), an initial ("J. K. Rowling"), inside a number
(3.5) or a URL (lemonde.fr), and "?"/"!" inside a quote followed by "demande-t-il" do not either.

A sentence longer than `max_chars` (one long sentence sent to Piper costs GBs of memory) is cut at the
strongest clause boundary that keeps the first part within the limit: `;` or `:`, then a dash aside, then `,`,
then before a conjunction, then any space; a word longer than the limit is cut hard. Nothing is lost:
`" ".join(pieces) == fold_spaces(sentence)`.

French typography is kept: whitespace is folded to one space, but a run that holds a no-break space (NBSP or the
narrow NNBSP, before « » : ; ! ? %, in "12 000") stays that no-break space, and nothing is ever cut there. The
written text (pages, transcripts, chapter titles, feed) keeps them; only the spoken form turns them into spaces.
"""

from __future__ import annotations

import re

# Lower-case forms of words that end with a dot without ending the sentence.
ABBREVIATIONS = {
    "m", "mm", "mme", "mmes", "mlle", "mlles", "me", "mes", "mgr", "dr", "drs", "pr", "st", "ste", "art", "arts",
    "p", "pp", "n", "no", "nos", "cf", "av", "apr", "env", "chap", "vol", "éd", "tél", "fig", "ex", "coll",
    "dir", "trad", "op", "cit", "ibid", "vs", "jr", "sr", "réf", "bd", "boul", "gén", "col", "lt", "cdt", "cne",
    "sgt", "adj", "prof", "ing", "cie", "éts", "inc", "ltd", "janv", "févr", "avr", "juil", "oct", "nov", "déc",
    "hab", "mds", "mrd", "md", "resp", "c.-à-d", "j.-c", "s", "ss", "sq", "suiv", "anc", "hôp",
}
# These end a sentence when the next word is capitalised ("…, des poires, etc. Le lendemain…").
_ABBREVIATIONS_THAT_MAY_END = {"etc", "j.-c"}

NO_BREAK_SPACES = "\u00a0\u202f"
_SPACE_RUN = re.compile(r"\s+")


def fold_spaces(text: str) -> str:
    """Whitespace runs folded to one space, a run holding a no-break space to that no-break space; trimmed."""

    def one(match: re.Match) -> str:
        run = match.group(0)
        return next((c for c in run if c in NO_BREAK_SPACES), " ")

    return _SPACE_RUN.sub(one, text).strip()


# A sentence ends before a plain space (text is folded first): a no-break space never separates two sentences.
_TERMINATOR = re.compile(r"(?:[.!?…]+|\.{3})(?:[»\")\]’”]|\s*»)*(?= |$)")
_SENTENCE_START = re.compile(r" (?=[«\"“(\[—–\-]?\s*[A-ZÀ-ÖØ-Þ0-9«\"“])")


def _word_before(text: str, end: int) -> str:
    match = re.search(r"([\w.'’-]+)$", text[:end])
    return match.group(1) if match else ""


def _ends_sentence(text: str, match: re.Match) -> bool:
    after = text[match.end():]
    if not after.strip():
        return True
    if not _SENTENCE_START.match(after):
        return False
    marks = match.group(0)
    if not marks.startswith(".") or marks.startswith(".."):
        return True  # "?", "!", "…", "..."
    word = _word_before(text, match.start())
    key = re.split(r"['’]", word.lower().rstrip("."))[-1]  # "l'art." -> "art"
    if key in _ABBREVIATIONS_THAT_MAY_END or key.endswith("j.-c"):
        return bool(re.match(r"\s+[A-ZÀ-ÖØ-Þ]", after)) and not re.match(r"\s+[A-Z]\.", after)
    if key in ABBREVIATIONS or (key.split("-")[-1] in ABBREVIATIONS and "-" in key):
        return False
    # an initial ("J.", "J.-L.", "F.", not "SNCF.") does not end a sentence
    return not re.fullmatch(r"[A-ZÀ-ÖØ-Þ](?:\.-?[A-ZÀ-ÖØ-Þ])*", word)


def split_sentences(text: str) -> list[str]:
    """The sentences of TEXT, in order, whitespace folded (no-break spaces kept)."""
    text = fold_spaces(text)
    sentences: list[str] = []
    start = 0
    for match in _TERMINATOR.finditer(text):
        if _ends_sentence(text, match):
            piece = text[start:match.end()].strip()
            if piece:
                sentences.append(piece)
            start = match.end()
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


_CONJUNCTIONS = (
    "et", "mais", "ou", "donc", "car", "puis", "ni", "or", "qui", "que", "qu'", "dont", "où", "lorsque",
    "quand", "parce", "puisque", "tandis", "alors", "afin", "pour", "avant", "après", "selon", "tout en",
    "si", "comme", "bien", "malgré", "sans",
    # prepositions open a phrase too: a cut before them still sounds like a breath, not a stumble
    "avec", "dans", "entre", "sur", "sous", "depuis", "pendant", "contre", "vers", "chez", "par", "durant",
)
# Cut points, strongest first: (pattern, cut after the match?)
_BOUNDARIES: tuple[tuple[re.Pattern, bool], ...] = (
    (re.compile(r"[;:](?= )"), True),
    (re.compile(r" [—–-](?= )"), False),
    (re.compile(r"[,)»](?= )"), True),
    (re.compile(r" (?=(?:" + "|".join(map(re.escape, _CONJUNCTIONS)) + r")\b)", re.IGNORECASE), False),
    (re.compile(r" "), False),
)  # plain spaces only: a no-break space glues what it joins ("15 %", "12 000", "beaucoup »")


def _cut_point(sentence: str, max_chars: int) -> int:
    """Where to cut: the end of the first piece (in characters), always within 1..max_chars.

    The strongest tier of boundary present wins. Within it, when a cut leaves a second piece that fits, the
    cut nearest the middle is taken (no "... avec des | armes." stump); otherwise the furthest one.
    """
    shortest = max_chars // 3  # no confetti: a first piece of at least a third of the limit
    middle = len(sentence) / 2
    for pattern, after in _BOUNDARIES:
        positions = [
            match.end() if after else match.start()
            for match in pattern.finditer(sentence, 0, max_chars + 1)
        ]
        positions = [p for p in positions if shortest <= p <= max_chars]
        if not positions:
            continue
        balanced = [p for p in positions if len(sentence) - p <= max_chars]
        if balanced:
            return min(balanced, key=lambda p: abs(p - middle))
        return max(positions)
    spaces = [m.start() for m in re.finditer(" ", sentence[: max_chars + 1]) if m.start() > 0]
    return spaces[-1] if spaces else max_chars  # a word longer than the limit: hard cut


def cut_run_on(sentence: str, max_chars: int = 300) -> list[str]:
    """Pieces of at most `max_chars` characters, cut at clause boundaries, that join back to the sentence."""
    if max_chars < 20:
        raise ValueError("max_chars must be at least 20")
    rest = fold_spaces(sentence)
    pieces: list[str] = []
    while len(rest) > max_chars:
        cut = _cut_point(rest, max_chars)
        head, rest = rest[:cut].strip(), rest[cut:].strip()
        if head:
            pieces.append(head)
    if rest:
        pieces.append(rest)
    return pieces


def segment(text: str, max_chars: int = 300) -> list[list[str]]:
    """Sentences of TEXT, each as the list of utterance-sized pieces it is cut into."""
    return [cut_run_on(sentence, max_chars) for sentence in split_sentences(text)]
