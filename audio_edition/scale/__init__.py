"""Newsroom scale: the same pipeline as Celery tasks on Redis, on machines that share nothing but Redis and a
bucket — jobs, the queue, the build workers, the staging store they hand episodes over through, the single
publisher, the CMS webhook and their commands."""
