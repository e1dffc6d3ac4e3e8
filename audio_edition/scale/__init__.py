"""Newsroom scale: the same pipeline as Celery tasks on Redis — jobs, the queue, the workers and the single
publisher, the CMS webhook and their commands."""
