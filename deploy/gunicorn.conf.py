"""gunicorn settings for facet-cds: the ones `python -m cds_service serve` runs (cds_service/server/gunicorn_config.py).

    gunicorn -c deploy/gunicorn.conf.py cds_service.wsgi:app

is the same server as `python -m cds_service serve --host H --port P` (what the container runs), with the bind
taken from GUNICORN_BIND. Every value can be changed from the environment (GUNICORN_*); see deploy/README.md.
"""
from cds_service.server.gunicorn_config import *  # noqa: F403 - settings and hooks, read by gunicorn by name
