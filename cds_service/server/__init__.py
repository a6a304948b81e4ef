"""The production HTTP server: gunicorn with gevent workers (why: README "Production server"), its settings,
and the request-body deadline. `python -m cds_service serve`, the container and deploy/ all run this."""
