"""Abbreviations ("M.", "MM.", "Me", "n°", "p.", "art.", "cf.", "av. J.-C.") and acronyms.

Acronyms: espeak-ng reads some as words when they are spelled ("UE" -> "u", "BCE" -> "bs", "OMS" -> "om") and
some with English rules ("INSEE"). The rule: an all-caps word is read as a word when it is in READ_AS_WORD or
looks pronounceable in French (consonant clusters French allows); otherwise it is spelled with French letter names.
Already-right cases (ONU, OTAN, SNCF, G7) come out the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable

LETTER_NAMES = {
    "A": "a", "B": "bé", "C": "cé", "D": "dé", "E": "e", "F": "èf", "G": "gé", "H": "ache", "I": "i",
    "J": "ji", "K": "ka", "L": "èl", "M": "èm", "N": "èn", "O": "o", "P": "pé", "Q": "ku", "R": "èr",
    "S": "èss", "T": "té", "U": "u", "V": "vé", "W": "double vé", "X": "iks", "Y": "i grec", "Z": "zèd",
}

# Acronyms said as a word, with a spelling espeak-ng reads the French way.
READ_AS_WORD = {
    "ONU": "onu", "OTAN": "otan", "UNESCO": "unesco", "UNICEF": "unicef", "NASA": "naza", "OPEP": "opèp",
    "MEDEF": "médèf", "SMIC": "smic", "CAC": "cac", "SAMU": "samu", "SIDA": "sida", "COVID": "covid",
    "ENA": "éna", "OVNI": "ovni", "URSSAF": "urssaf", "CNIL": "cnil", "FIFA": "fifa", "UEFA": "uéfa",
    "CERN": "cèrn", "INSERM": "insèrm", "INSEE": "insé", "GIEC": "jièk", "NUPES": "nupès", "ZAD": "zade",
    "ESA": "éza", "ARCOM": "arcom", "CAF": "caf", "PAC": "pac", "CAPES": "capès", "ONERA": "onéra",
    "INRIA": "inria", "INRAE": "inraé", "ADEME": "adème", "ANSES": "ansès", "CROUS": "crouss", "IFI": "ifi",
    "ASEAN": "asséan", "MERCOSUR": "mèrcossur", "UNEF": "unèf", "CEDEAO": "cédéao", "FARC": "farc",
    "DAECH": "daèch", "PACS": "pacs", "RIC": "ric", "EHPAD": "épade", "UNEDIC": "unédic", "FED": "fèd",
    "LOSC": "losc", "ERASMUS": "érasmus", "SNES": "snèss", "CNES": "cnèss", "AIEA": "a i e a",
    "URSS": "urss", "ANSSI": "anssi", "ISIS": "izis", "IRA": "ira", "ETA": "éta", "BAC": "bac",
}
# Pronounceable-looking acronyms that French newsreaders spell.
SPELLED = {"USA", "PIB", "RER", "CHU", "OPA", "UMP", "TER", "CIA", "VIP", "SUV", "IUT", "API", "UDI", "BEI",
           "OSE", "AME", "ADO", "ANA", "BAFA", "DUT", "EPA", "IPO"}

_ONSETS = {"BL", "BR", "CL", "CR", "DR", "FL", "FR", "GL", "GR", "PL", "PR", "TR", "VR", "CH", "PH", "TH",
           "SC", "SP", "ST", "GN"}
_VOWELS = set("AEIOUY")


def spell(word: str) -> str:
    """French letter names: "UE" -> "u e", "BCE" -> "bé cé e"."""
    return " ".join(LETTER_NAMES.get(ch.upper(), ch) for ch in word if ch.isalnum())


def _pronounceable(word: str) -> bool:
    if len(word) < 3:
        return False
    runs = re.findall(r"[AEIOUY]+|[^AEIOUY]+", word)
    if not any(run[0] in _VOWELS for run in runs):
        return False
    for i, run in enumerate(runs):
        if run[0] in _VOWELS:
            continue
        if i == 0 and len(run) > 1 and run not in _ONSETS:
            return False
        if i == len(runs) - 1 and len(run) > 1:
            return False
        if 0 < i < len(runs) - 1 and not (len(run) == 1 or (len(run) == 2 and (run[1] in "LR" or run[0] in "LMNRS"))):
            return False  # "OCDE": no French word has "cd" between vowels
    return True


def say_acronym(word: str) -> str:
    upper = word.upper()
    if upper in READ_AS_WORD:
        return READ_AS_WORD[upper]
    if upper in SPELLED or not _pronounceable(upper):
        return spell(upper)
    return word.lower()


_ACRONYM = re.compile(r"(?<!\w)([A-Z]{2,8})(?![\w'])")  # "PSG-OM", "l'ex-URSS" too
_CAPITALISED_KNOWN = re.compile(r"(?<![\w-])(" + "|".join(w.capitalize() for w in READ_AS_WORD) + r")(?![\w'-])")


def _is_shouting(text: str) -> bool:
    """A headline in capitals is not a string of acronyms."""
    words = re.findall(r"[^\W\d_]{2,}", text)
    caps = [w for w in words if w.isupper()]
    return len(caps) >= 3 and len(caps) > len(words) / 2


def apply_acronyms(text: str) -> str:
    # Newspapers write some acronyms as names ("l'Insee", "l'Otan"): espeak reads "Insee" with English rules.
    text = _CAPITALISED_KNOWN.sub(lambda m: READ_AS_WORD[m.group(1).upper()], text)
    if _is_shouting(text):
        return text
    return _ACRONYM.sub(lambda m: say_acronym(m.group(1)), text)


_NAME_AHEAD = r"(?=\s*(?:[A-ZÀ-ÖØ-Þ\ue000-\uf8ff]|le |la |l'|les |de |du |et Mmes? |et M\. ))"
_ABBREVIATIONS: list[tuple[re.Pattern, str | Callable[[re.Match], str]]] = [
    (re.compile(r"\bav\.\s?J\.?-C\.?"), "avant Jésus-Christ"),
    (re.compile(r"\bapr\.\s?J\.?-C\.?"), "après Jésus-Christ"),
    (re.compile(r"\bJ\.-C\."), "Jésus-Christ"),
    (re.compile(r"\bMM\.\s*" + _NAME_AHEAD), "messieurs "),
    (re.compile(r"\bM\.\s*" + _NAME_AHEAD), "monsieur "),
    (re.compile(r"\bMe\s+(?=[A-ZÀ-ÖØ-Þ\ue000-\uf8ff])"), "maître "),
    (re.compile(r"\bMes\s+(?=[A-ZÀ-ÖØ-Þ\ue000-\uf8ff])"), "maîtres "),
    (re.compile(r"\bMmes\b"), "mesdames"),
    (re.compile(r"\bMlles\b"), "mesdemoiselles"),
    (re.compile(r"\bMgr\b\.?"), "monseigneur"),
    (re.compile(r"\bDr\b\.?(?=\s)"), "docteur"),  # espeak's own "Dr" has the vowel of "deux", not of "heure"
    (re.compile(r"\bDrs\b\.?(?=\s)"), "docteurs"),
    (re.compile(r"\bSte\s+(?=[A-ZÀ-ÖØ-Þ])"), "sainte "),
    # "n° 2024-123" is an identifier: "numéro deux mille vingt-quatre tiret cent vingt-trois", not a range.
    (re.compile(r"\b[nN][°º]\s?(\d+)[-‑](?=\d)"), r"numéro \1 tiret "),
    (re.compile(r"\b[nN][°º]s\s?(?=\d)"), "numéros "),
    (re.compile(r"\b[nN][°º]\s?(?=\w)"), "numéro "),
    (re.compile(r"\b([JH])\s?-\s?(?=\d)"), r"\1 moins "),  # "J-1": the day before
    (re.compile(r"\b([JH])\s?\+\s?(?=\d)"), r"\1 plus "),
    (re.compile(r"\b[nN]os\s?(?=\d)"), "numéros "),
    (re.compile(r"\bpp\.\s?(?=\d)"), "pages "),
    (re.compile(r"\bp\.\s?(?=\d)"), "page "),
    (re.compile(r"\b[Aa]rt\.\s?(?=\w)"), "article "),
    # Code articles "L. 121-1", "R. 4127-1": the letter, then the numbers joined by "tiret", not a range.
    (re.compile(r"(?<=\barticle )([LRDA])\.?\s?(\d+)-(\d+)(?:-(\d+))?"),
     lambda m: f"{m.group(1)} {m.group(2)} tiret {m.group(3)}" + (f" tiret {m.group(4)}" if m.group(4) else "")),
    # "le 49.3", "l'article 49.3": a dotted article number is read "quarante-neuf trois", not "point".
    (re.compile(r"(?<=\barticle )(\d+)\.(\d+)\b|\b(49)\.(3)\b"), r"\1\3 \2\4"),
    (re.compile(r"\b[Cc]f\.\s?"), "confère "),
    # "12 av. Foch", "av. de la République": an avenue (never "av. J.-C.", before Christ).
    (re.compile(r"\b[Aa]v\.\s?(?=(?:de la |de l'|du |des |d'|de )?[A-ZÀ-ÖØ-Þ0-9])(?!J\.?-?C\b)"), "avenue "),
    (re.compile(r"\bc\.-à-d\.?"), "c'est-à-dire"),
    (re.compile(r"\benv\.\s?(?=\d)"), "environ "),
    (re.compile(r"\bchap\.\s?"), "chapitre "),
    (re.compile(r"\bvol\.\s?(?=\w)"), "volume "),
    (re.compile(r"\btél\.\s?"), "téléphone "),
    (re.compile(r"\bhab\.(?!\w)"), "habitants"),
    (re.compile(r"\bCie\b"), "compagnie"),
    (re.compile(r"\s?&\s?"), " et "),
    (re.compile(r"§\s?"), "paragraphe "),
]


def apply_abbreviations(text: str) -> str:
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    return text
