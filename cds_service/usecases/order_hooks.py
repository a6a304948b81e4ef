"""Use cases: answer one hook call. Gathers the record (I/O), runs the pure engine, builds the response.

Knows nothing about HTTP; errors it lets through (`PrefetchUnavailable`, ...) are answered by api/errors.py.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from cds_service.cdshooks.cards import build_cards
from cds_service.cdshooks.coverage_info import AssertionRecord, build_system_actions
from cds_service.cdshooks.request import HookRequest
from cds_service.cdshooks.unknown_patient import OUTCOME as UNKNOWN_PATIENT
from cds_service.cdshooks.unknown_patient import patient_not_found_card
from cds_service.cdshooks.unreadable_order import unreadable_order_card
from cds_service.evaluation.evaluator import evaluate
from cds_service.evaluation.record import reference_id
from cds_service.evaluation.results import Evaluation, SkippedResource
from cds_service.fhir_access.relevance import normalize_relevant  # validates only what can matter (issue 12)
from cds_service.fhir_access.source import gather_record
from cds_service.observability import metrics
from cds_service.storage.store import AuditEntry, patient_hash, resource_ref
from cds_service.usecases.serialise import assertion_criteria, audit_decision

if TYPE_CHECKING:
    from cds_service.usecases.services import Services

log = logging.getLogger("cds_service.usecases.order_hooks")
TECHNICAL = "the service could not evaluate this order"


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _evaluate_safely(ctx: Services, request: HookRequest, resources: list[dict], problem: str | None,
                     skipped: list[SkippedResource]) -> Evaluation:
    """The engine is pure and tested; should it still fail on some record, answer `indeterminate`, not a 5xx."""
    try:
        return evaluate(ctx.library, resources, request.draft_orders, today=ctx.today(),
                        technical_problem=problem, skipped=skipped)
    except Exception:  # noqa: BLE001 - logged with its type only: the record may hold PHI
        log.exception("engine failure on hook %s (%s)", request.hook, request.hook_instance)
        return evaluate(ctx.library, [], request.draft_orders, today=ctx.today(), technical_problem=TECHNICAL)


def answer_order_hook(ctx: Services, request: HookRequest, *, service_id: str, client: str | None) -> dict[str, Any]:
    """order-select / order-sign: cards for each facet procedure and, with a Coverage, coverage-information."""
    started = time.perf_counter()
    gathered = gather_record(request, limits=ctx.settings.fetch, cache=ctx.record_cache, issuer=client,
                             executor=ctx.fetch_executor)
    normalized = normalize_relevant(gathered.resources, ctx.library.valuesets)
    skipped = [SkippedResource(s.resource_type or "?", s.resource_id, s.problem) for s in normalized.skipped]
    skipped += [SkippedResource(kind, rid, problem) for kind, rid, problem in request.skipped]  # as parsed
    evaluation = _evaluate_safely(ctx, request, normalized.resources, gathered.technical_problem, skipped)

    determinations = list(evaluation.determinations)
    if request.hook == "order-select" and request.selections:
        chosen = {_selected_order_id(s) for s in request.selections}
        determinations = [d for d in determinations if chosen & set(d.order_ids)] or determinations

    if gathered.patient_not_found and determinations:  # nothing was read: no criteria, no system action
        about = [f"ServiceRequest/{i}" for d in determinations for i in d.order_ids]
        card = patient_not_found_card(policy_id=ctx.library.revisions[0].policy, settings=ctx.card_settings,
                                      new_uuid=_new_uuid, about=about)
        audit_call(ctx, request, service_id=service_id, client=client, started=started, determinations=[],
                   gathered=gathered, normalized=normalized, outcome=UNKNOWN_PATIENT, cards=[card])
        return {"cards": [card], **({"systemActions": []} if request.hook == "order-sign" else {})}

    orders_by_id = dict(request.orders_as_sent)  # answers echo the orders as the client sent them
    actions, assertions = build_system_actions(
        determinations, hook=request.hook, orders_by_id=orders_by_id,  # type: ignore[arg-type]
        coverage_reference=gathered.coverage_reference,
        questionnaire_for=lambda rev: ctx.library.get(rev).questionnaire_canonical,
        settings=ctx.card_settings, new_assertion_id=_new_uuid, today=ctx.today(),
    )
    cards = build_cards(determinations, hook=request.hook, settings=ctx.card_settings, new_uuid=_new_uuid,  # type: ignore[arg-type]
                        orders_by_id=orders_by_id, assertions=assertions)
    if request.hook == "order-sign":
        cards += [unreadable_order_card(order, policy_id=ctx.library.revisions[0].policy, settings=ctx.card_settings,
                                        new_uuid=_new_uuid) for order in request.unreadable_facet_orders]
    cards, actions = _apply_crd_configuration(request.cards_off, cards, actions)
    response: dict[str, Any] = {"cards": cards}
    if request.hook == "order-sign" or actions:
        response["systemActions"] = actions

    audit_call(ctx, request, service_id=service_id, client=client, started=started, determinations=determinations,
               gathered=gathered, normalized=normalized, assertions=assertions,
               out_of_scope=evaluation.out_of_scope_order_ids, cards=cards)
    return response


def _selected_order_id(selection: str) -> str:
    """A selection's order id, the reference read as every reference is (padded, versioned, absolute); a bare
    id (some clients drop the type) is taken as it is."""
    bare = selection.strip()
    return bare if "/" not in bare else (reference_id(bare, "ServiceRequest") or "")


def _apply_crd_configuration(
    off: frozenset[str], cards: list[dict], actions: list[dict]
) -> tuple[list[dict], list[dict]]:
    """Obey the client's `davinci-crd.configuration` (CRD dev-14): a card type set to false is not returned."""
    if not off:
        return cards, actions
    kept = [c for c in cards if not {x.get("code") for x in [c.get("source", {}).get("topic", {})]} & off]
    return kept, ([] if "coverage-info" in off else actions)


def _assertion_row(assertion: AssertionRecord, determinations: list) -> dict[str, Any]:
    """What the audit keeps per coverage assertion: enough to explain the decision later (DTR, disputes)."""
    determination = next(d for d in determinations if set(assertion.order_ids) <= set(d.order_ids))
    return {
        "assertion_id": assertion.assertion_id,
        "order_ids": list(assertion.order_ids),
        "decision": assertion.decision.value,
        "revision": assertion.revision_id,
        "criteria": assertion_criteria(determination),
    }


def audit_call(ctx: Services, request: HookRequest, *, service_id: str, client: str | None, started: float,
               determinations: list, gathered: Any, normalized: Any = None, assertions: list[AssertionRecord] = (),  # type: ignore[assignment]
               out_of_scope: tuple[str, ...] = (), outcome: str | None = None, cards: list[dict] = ()) -> None:  # type: ignore[assignment]
    """Audit row, metrics and one log line for a hook call (hashed patient id; no tokens, bodies or codes)."""
    duration_ms = (time.perf_counter() - started) * 1000
    hashed = patient_hash(ctx.hash_key, request.patient_id)
    decisions = [audit_decision(d) for d in determinations]
    for d in determinations:
        decision = d.decision.value if d.decision else "none"
        metrics.DECISIONS.labels(request.hook, d.revision_id or "none", decision).inc()
        metrics.count_criteria(request.hook, d.revision_id, ((c.criterion_id, c.status.value) for c in d.criteria))
    if gathered.technical_problem:
        metrics.FHIR_FAILURES.labels(request.hook).inc()
        log.warning("FHIR data unavailable for patient %s on %s: %s", hashed, request.hook, gathered.technical_problem)
    skipped = normalized.skipped if normalized is not None else []
    if skipped:
        metrics.SKIPPED_RESOURCES.inc(len(skipped))
    assertion_rows = [_assertion_row(a, determinations) for a in assertions]
    detail = {
        "fhirServer": request.fhir_server,  # a server's base URL (no patient data): FHIR failures by server
        "prefetchedKeys": gathered.prefetched_keys,
        "fetchedKeys": gathered.fetched_keys,
        "cachedKeys": gathered.cached_keys,
        # Resource ids are keyed hashes, like patient ids: a skipped Patient's id IS a patient id, and a dropped
        # resource belongs to another patient. The same id always gives the same hash, so a row can still be
        # matched to a record by whoever holds the key.
        "skippedResources": [resource_ref(ctx.hash_key, s.resource_type, s.resource_id) for s in skipped]
        + [f"{kind}/? ({problem})" if rid is None else resource_ref(ctx.hash_key, kind, rid)
           for kind, rid, problem in request.skipped],  # bad ids: named, never echoed
        "droppedResources": [resource_ref(ctx.hash_key, d[0], d[1]) for d in gathered.dropped],
        "outOfScopeOrders": list(out_of_scope),
        **({"outcome": outcome} if outcome else {}),
    }
    ctx.store.record_audit(
        AuditEntry(request.hook, request.hook_instance, service_id, client, hashed, 200, duration_ms, decisions,
                   gathered.technical_problem, detail,
                   card_uuids=tuple(str(c["uuid"]) for c in cards if c.get("uuid"))),  # feedback names these
        assertion_rows,
    )
    log.info("%s %s client=%s patient=%s procedures=%d decisions=%s %.1fms", request.hook, request.hook_instance,
             client or "-", hashed, len(determinations), ",".join(str(d["decision"]) for d in decisions) or "-",
             duration_ms, extra={"hook": request.hook, "client": client or "-", "duration_ms": round(duration_ms, 1),
                                 "decision": ",".join(str(d["decision"]) for d in decisions) or "-"})
