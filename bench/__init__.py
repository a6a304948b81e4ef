"""Benchmarks (`make bench` = `python -m bench`): engine cost in-process, and order-sign latency over HTTP.

Not part of the tests. Loopback only, bounded in calls and time; results go to bench/out/latest.json.
"""
