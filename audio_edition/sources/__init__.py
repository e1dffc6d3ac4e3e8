"""Where articles come from: files, folders, URLs (with the fetch guards), stdin and a site's own RSS/Atom feed;
and the index that skips article files whose published episode is up to date."""
