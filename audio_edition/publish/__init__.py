"""What listeners get: the episode store (SQLite), the podcast feed, the episode pages with the read-along
player, the cover, the preview server and the S3 target."""
