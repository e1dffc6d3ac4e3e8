"""Speaking the script: which engine and voice (`spec`), Piper and espeak-ng engines, the synthesis pool, the
voice catalogue and downloads, the cut of a VITS voice (`graph`) and the clip cache."""
