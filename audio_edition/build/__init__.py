"""One build: every source to episodes, then the feed. `article` is the one path an article takes (shared with
the workers), `run` the orchestration, `display` what a terminal shows of it."""
