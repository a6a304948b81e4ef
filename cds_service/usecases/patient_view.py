"""patient-view: "is this patient ready for a facet block, RF neurotomy or therapeutic injection?".

Gathers the record as the order hooks do, and only for a patient with an active spinal pain diagnosis
asks the engine about hypothetical orders dated today (usecases/hypothetical_orders.py), answering with one card
(cdshooks/readiness_card.py). Never systemActions: nothing has been ordered. FHIR failures become a plain
"could not be checked" card, never error text or a 5xx.
"""
from __future__ import annotations

import logging
import time
import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

from cds_service.cdshooks.readiness_card import Readiness, readiness_card, unavailable_card
from cds_service.cdshooks.request import HookRequest
from cds_service.cdshooks.unknown_patient import OUTCOME as UNKNOWN_PATIENT
from cds_service.cdshooks.unknown_patient import patient_not_found_card
from cds_service.evaluation.evaluator import evaluate
from cds_service.evaluation.record import PatientRecord
from cds_service.fhir_access.relevance import normalize_relevant  # validates only what can matter (issue 12)
from cds_service.fhir_access.source import gather_record
from cds_service.usecases.hypothetical_orders import has_spinal_pain, hypothetical_orders
from cds_service.usecases.order_hooks import audit_call

if TYPE_CHECKING:
    from cds_service.usecases.services import Services

log = logging.getLogger("cds_service.usecases.patient_view")


def answer_patient_view(ctx: Services, request: HookRequest, *, service_id: str,
                        client: str | None) -> dict[str, Any]:
    started = time.perf_counter()
    gathered = gather_record(request, limits=ctx.settings.fetch, cache=ctx.record_cache, issuer=client,
                             executor=ctx.fetch_executor)
    policy_id = ctx.library.revisions[0].policy
    if gathered.patient_not_found:  # not a passing fault: "reopen the chart to try again" would mislead
        card = patient_not_found_card(policy_id=policy_id, settings=ctx.card_settings, new_uuid=_new_uuid)
        audit_call(ctx, request, service_id=service_id, client=client, started=started, determinations=[],
                   gathered=gathered, outcome=UNKNOWN_PATIENT, cards=[card])
        return {"cards": [card]}
    if gathered.technical_problem:
        card = unavailable_card(policy_id=policy_id, settings=ctx.card_settings, new_uuid=_new_uuid)
        audit_call(ctx, request, service_id=service_id, client=client, started=started, determinations=[],
                   gathered=gathered, outcome="record unavailable", cards=[card])
        return {"cards": [card]}

    normalized = normalize_relevant(gathered.resources, ctx.library.valuesets)
    today = ctx.today()
    record = PatientRecord(normalized.resources)
    if not has_spinal_pain(record, ctx.library.valuesets, today):
        audit_call(ctx, request, service_id=service_id, client=client, started=started, determinations=[],
                   gathered=gathered, normalized=normalized, outcome="no spinal pain diagnosis")
        return {"cards": []}  # no noise for patients the policy is not about

    items = _readiness(ctx, request, record, normalized.resources, today)
    if items is None:
        card = unavailable_card(policy_id=policy_id, settings=ctx.card_settings, new_uuid=_new_uuid)
        audit_call(ctx, request, service_id=service_id, client=client, started=started, determinations=[],
                   gathered=gathered, normalized=normalized, outcome="engine failure", cards=[card])
        return {"cards": [card]}
    card = readiness_card(items, settings=ctx.card_settings, today=today, new_uuid=_new_uuid)
    audit_call(ctx, request, service_id=service_id, client=client, started=started,
               determinations=[r.determination for r in items], gathered=gathered, normalized=normalized,
               outcome="card (hypothetical orders)", cards=[card])
    return {"cards": [card]}


def _readiness(ctx: Services, request: HookRequest, record: PatientRecord, resources: list[dict[str, Any]],
               today: date) -> list[Readiness] | None:
    """Each hypothetical order evaluated on its own: together they would break "one procedure per visit"."""
    orders = hypothetical_orders(record, ctx.library.valuesets, patient_id=request.patient_id,
                                 today=today, requester=request.user_id)
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
