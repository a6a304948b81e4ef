"""Real-world-shaped scenarios (second reader of issue 8), written from the policy texts alone.

`python -m fhir_fixtures.real_world` writes fhir_fixtures/scenarios/rw-*.json; `--check` compares in memory.
"""
