from audio_edition.cli import run

run()
