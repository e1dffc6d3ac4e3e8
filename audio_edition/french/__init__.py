"""French text-to-speech normalisation rules, one module per family.

Each module exposes `apply(text: str) -> str`; `audio_edition.normalize` runs them in a fixed order
(clean-up first, then the families that consume digits and punctuation, acronyms last).
"""
