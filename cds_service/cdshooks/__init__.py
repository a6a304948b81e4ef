"""The CDS Hooks response: cards and CRD coverage-information system actions.

Pure: determinations and draft orders in, JSON-ready dicts out. No Flask, no I/O, no clock,
no uuid generation (callers inject `new_uuid`, `new_assertion_id` and `today`).
"""
