"""patient-view: "is this patient ready for a facet block, RF neurotomy or therapeutic injection?".

Gathers the record as the order hooks do, and only for a patient with an active spinal pain diagnosis
asks the engine about hypothetical orders dated today (readiness_orders.py), answering with one card
(readiness_card.py). Never systemActions: nothing has been ordered. FHIR failures become a plain
"could not be checked" card, never error text or a 5xx.
"""
from __future__ import annotations

import logging
import time
import uuid
from datetime import date
from typing import Any

from . import metrics
from .cdshooks.request import HookRequest
from .evaluation.evaluator import evaluate
from .evaluation.record import PatientRecord
from .fhir_access.normalize import normalize_resources
from .fhir_access.source import GatheredRecord, gather_record
from .hooks import HookContext
from .readiness_card import Readiness, readiness_card, unavailable_card
from .readiness_orders import has_spinal_pain, hypothetical_orders
from .store import AuditEntry, patient_hash

log = logging.getLogger("cds_service.readiness")


def answer_patient_view(ctx: HookContext, request: HookRequest, *, service_id: str,
                        client: str | None) -> dict[str, Any]:
    started = time.perf_counter()
    gathered = gather_record(request.raw, limits=ctx.settings.fetch, cache=ctx.record_cache, issuer=client,
                             executor=ctx.fetch_executor)
    policy_id = ctx.library.revisions[0].policy
    if gathered.technical_problem:
        metrics.FHIR_FAILURES.labels(request.hook).inc()
        log.warning("FHIR data unavailable for patient %s on patient-view: %s",
                    patient_hash(ctx.hash_key, request.patient_id), gathered.technical_problem)
        card = unavailable_card(policy_id=policy_id, settings=ctx.card_settings, new_uuid=_new_uuid)
        _audit(ctx, request, service_id, client, started, gathered, [], outcome="record unavailable")
        return {"cards": [card]}

    normalized = normalize_resources(gathered.resources)
    today = ctx.today()
    record = PatientRecord(normalized.resources)
    if not has_spinal_pain(record, ctx.library.valuesets, today):
        _audit(ctx, request, service_id, client, started, gathered, [], outcome="no spinal pain diagnosis")
        return {"cards": []}  # no noise for patients the policy is not about

    items = _readiness(ctx, request, record, normalized.resources, today)
    if items is None:
        card = unavailable_card(policy_id=policy_id, settings=ctx.card_settings, new_uuid=_new_uuid)
        _audit(ctx, request, service_id, client, started, gathered, [], outcome="engine failure")
        return {"cards": [card]}
    card = readiness_card(items, settings=ctx.card_settings, today=today, new_uuid=_new_uuid)
    _audit(ctx, request, service_id, client, started, gathered, items, outcome="card")
    return {"cards": [card]}


def _readiness(ctx: HookContext, request: HookRequest, record: PatientRecord, resources: list[dict[str, Any]],
               today: date) -> list[Readiness] | None:
    """Each hypothetical order evaluated on its own: together they would break "one procedure per visit"."""
    user = request.raw.get("context", {}).get("userId")
    orders = hypothetical_orders(record, ctx.library.valuesets, patient_id=request.patient_id,
                                 today=today, requester=user if isinstance(user, str) else None)
    items = []
    try:
        for hypothetical in orders:
            (determination,) = evaluate(ctx.library, resources, [hypothetical.order], today=today).determinations
            items.append(Readiness(hypothetical.region, hypothetical.intervention.key, determination))
    except Exception:  # the engine is tested; should a record still break it: a card, not a 5xx
        log.exception("engine failure on patient-view (%s)", request.hook_instance)
        return None
    return items


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _audit(ctx: HookContext, request: HookRequest, service_id: str, client: str | None, started: float,
           gathered: GatheredRecord, items: list[Readiness], *, outcome: str) -> None:
    duration_ms = (time.perf_counter() - started) * 1000
    decisions = [
        {
            "procedure": r.determination.procedure_label,
            "orders": list(r.determination.order_ids),
            "hypothetical": True,
            "revision": r.determination.revision_id,
            "decision": r.decision.value if r.decision else None,
            "notMet": [c.criterion_id for c in r.determination.not_met],
            "needsDocumentation": [c.criterion_id for c in r.determination.needs_documentation],
        }
        for r in items
    ]
    for r in items:
        metrics.DECISIONS.labels(request.hook, r.determination.revision_id or "none",
                                 r.decision.value if r.decision else "none").inc()
    detail = {
        "outcome": outcome,
        "prefetchedKeys": gathered.prefetched_keys,
        "fetchedKeys": gathered.fetched_keys,
        "cachedKeys": gathered.cached_keys,
        "droppedResources": [f"{d[0]}/{d[1]}" for d in gathered.dropped],
    }
    hashed = patient_hash(ctx.hash_key, request.patient_id)
    ctx.store.record_audit(
        AuditEntry(request.hook, request.hook_instance, service_id, client, hashed, 200, duration_ms, decisions,
                   gathered.technical_problem, detail),
        [],
    )
    log.info("patient-view %s patient=%s %s, %d hypothetical orders %.1fms", request.hook_instance, hashed,
             outcome, len(items), duration_ms)
