"""French text-to-speech normalisation rules, one module per family.

cleanup (Unicode), numbers (number words, signs, ranges, phone numbers), times (clock times, dates), ordinals
(ordinals, Roman numerals), units (units, money, fractions), abbreviations (titles, abbreviations, acronyms),
web (URLs, e-mail). Each exposes `apply*(text) -> text` functions; `audio_edition.normalize` runs them in order.
"""
