"""Synthetic CP.MP.171 scenarios: the builder, the stories (one module per topic), the README table writer and
the self-check. `python -m fhir_fixtures` writes scenarios/*.json and the README table; `--check` compares.

real_world/ holds the second reader's EHR-shaped rw-* scenarios (`python -m fhir_fixtures.real_world`).
"""
