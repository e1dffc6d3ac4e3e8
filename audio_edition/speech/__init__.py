"""From article to reading script: sentences, French normalisation (numbers, dates, units, abbreviations in
`french/`), the pronunciation lexicon, pauses and sections; and the report of words the voice would guess."""
