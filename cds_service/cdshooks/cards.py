"""CDS Hooks cards for facet-joint orders (contract §4 "Out", CRD STU 2.2 response types).

Per procedure: an Instructions card (order-sign), Propose-Alternate-Request cards when a change
to the order fixes it, an optional documentation-app card; one External Reference card per
response. At order-select only what is already decidable gets a card: no noise.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from cds_service.cdshooks.coverage_info import AssertionRecord, requests_documentation
from cds_service.cdshooks.presentation import (
    POLICY_TITLE,
    CardSettings,
    Hook,
    criteria_table,
    fit_summary,
    ids_summary,
    instructions_detail,
    no_revision_detail,
    order_line,
    procedure_noun,
    revision_name,
    summary_for,
)
from cds_service.evaluation.procedures import is_cpt_coding, order_side, site_levels
from cds_service.evaluation.results import CriterionResult, Decision, ProcedureDetermination
from cds_service.policy.conventions import CARD_TYPE_SYSTEM, CPT, FACET_CDS_CODES
from cds_service.policy.scope import shipped_scope
from cds_service.policy.terms import CodeRole, DecidableAt, Family, Fix

# What a revision says about its criteria (decidable at order-select, the fix a card offers, the level
# limit) comes from the policy data with each result; the codes a fix writes come from the scope table.
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}

TOPICS = {
    "guideline": "Guideline",
    "therapy-alternatives-req": "Required Therapy Alternatives",
}
OVERRIDE_REASONS = (
    {"code": "documented-elsewhere", "system": FACET_CDS_CODES,
     "display": "Criteria are documented outside this record"},
    {"code": "clinical-judgment", "system": FACET_CDS_CODES, "display": "Proceeding on clinical judgment"},
    {"code": "patient-informed", "system": FACET_CDS_CODES,
     "display": "Patient informed it may not be covered"},
)

def build_cards(
    determinations: Sequence[ProcedureDetermination],
    *,
    hook: Hook,
    settings: CardSettings,
    new_uuid: Callable[[], str],
    orders_by_id: Mapping[str, dict],
    assertions: Sequence[AssertionRecord] = (),
) -> list[dict]:
    """All cards of one hook response, in reading order; the policy link last."""
    maker = _CardMaker(settings, new_uuid)
    cards: list[dict] = []
    link_policy = False
    for determination in determinations:
        if determination.revision_id is None:
            cards.append(_no_revision_card(maker, determination, orders_by_id))
        elif hook == "order-sign":
            cards += _order_sign_cards(maker, determination, orders_by_id, assertions)
            link_policy = True
        else:
            selection_cards = _order_select_cards(maker, determination, orders_by_id)
            cards += selection_cards
            link_policy = link_policy or bool(selection_cards)
    if link_policy:
        cards.append(_policy_card(maker, determinations))
    return cards


@dataclass(frozen=True)
class _CardMaker:
    settings: CardSettings
    new_uuid: Callable[[], str]

    def card(
        self,
        *,
        summary: str,
        warning: bool,
        topic: str,
        detail: str | None = None,
        about: Sequence[str] = (),
        suggestions: Sequence[dict] = (),
        links: Sequence[dict] = (),
    ) -> dict:
        """A card with only the fields that have content (CDS Hooks: omit empty optional fields)."""
        source: dict = {"label": self.settings.plan_name,
                        "topic": {"system": CARD_TYPE_SYSTEM, "code": topic, "display": TOPICS[topic]}}
        if self.settings.source_url:
            source["url"] = self.settings.source_url
        card: dict = {"uuid": self.new_uuid(), "summary": fit_summary(summary),
                      "indicator": "warning" if warning else "info", "source": source}
        if detail:
            card["detail"] = detail
        if suggestions:
            card["suggestions"] = list(suggestions)
            card["selectionBehavior"] = "at-most-one"
        if links:
            card["links"] = list(links)
        if warning:
            card["overrideReasons"] = [dict(reason) for reason in OVERRIDE_REASONS]
        if about:  # CRD dev-25: which of the draft orders this card is about
            card["extension"] = {"davinci-crd.associated-resource": list(about)}
        return card


# --- per hook ----------------------------------------------------------------------------------

def _order_sign_cards(
    maker: _CardMaker,
    determination: ProcedureDetermination,
    orders_by_id: Mapping[str, dict],
    assertions: Sequence[AssertionRecord],
) -> list[dict]:
    instructions = maker.card(
        summary=summary_for(determination),
        warning=determination.decision is not Decision.COVERED,
        topic="guideline",  # the card reports the order against a payer guideline (CP.MP.171)
        detail=instructions_detail(determination, pa_needed=maker.settings.pa_needed),
        about=_references(determination.order_ids, orders_by_id),
    )
    cards = [instructions, *_alternative_cards(maker, determination, orders_by_id)]
    documentation = _documentation_card(maker, determination, orders_by_id, assertions)
    return cards + [documentation] if documentation else cards


def _order_select_cards(
    maker: _CardMaker, determination: ProcedureDetermination, orders_by_id: Mapping[str, dict]
) -> list[dict]:
    proposals = _proposals(determination, orders_by_id)
    addressed = {i for p in proposals for change in p.changes for i in change.criterion_ids}
    decidable = [c for c in determination.not_met
                 if _decidable_at_selection(c) and c.criterion_id not in addressed]
    cards = [_early_warning_card(maker, determination, decidable, orders_by_id)] if decidable else []
    return cards + [_alternative_card(maker, determination, p) for p in proposals]


def _decidable_at_selection(criterion: CriterionResult) -> bool:
    """Not met on the order's own facts, so the answer will not change by signing time (policy data role)."""
    return criterion.decidable_at is DecidableAt.ORDER_SELECT


# --- the cards ----------------------------------------------------------------------------------

def _early_warning_card(
    maker: _CardMaker,
    determination: ProcedureDetermination,
    decidable: Sequence[CriterionResult],
    orders_by_id: Mapping[str, dict],
) -> dict:
    noun, policy = procedure_noun(determination), determination.policy_id
    detail = "\n".join([
        f"**Not covered** under {revision_name(determination)}, whatever the rest of the record shows.",
        "",
        order_line(determination),
        "",
        criteria_table(decidable),
        "",
        "The other criteria are checked when the order is signed.",
    ])
    return maker.card(
        summary=ids_summary(f"{noun}: not covered under {policy}", decidable),
        warning=True,
        topic="guideline",
        detail=detail,
        about=_references(determination.order_ids, orders_by_id),
    )


def _no_revision_card(
    maker: _CardMaker, determination: ProcedureDetermination, orders_by_id: Mapping[str, dict]
) -> dict:
    return maker.card(
        summary=summary_for(determination),
        warning=False,
        topic="guideline",
        detail=no_revision_detail(determination),
        about=_references(determination.order_ids, orders_by_id),
    )


def _policy_card(maker: _CardMaker, determinations: Sequence[ProcedureDetermination]) -> dict:
    policy = next((d.policy_id for d in determinations if d.revision_id), determinations[0].policy_id)
    name = f"{policy} {POLICY_TITLE}"
    link = {"label": f"{name} (policy text)", "url": maker.settings.policy_url, "type": "absolute"}
    return maker.card(summary=f"Policy {policy}: {POLICY_TITLE}", warning=False, topic="guideline", links=[link])


def _documentation_card(
    maker: _CardMaker,
    determination: ProcedureDetermination,
    orders_by_id: Mapping[str, dict],
    assertions: Sequence[AssertionRecord],
) -> dict | None:
    app_url = maker.settings.documentation_app_url
    if not app_url or not requests_documentation(determination, "order-sign"):
        return None
    orders = _references(determination.order_ids, orders_by_id)
    records = [r for r in assertions if set(r.order_ids) & set(determination.order_ids)]
    context: dict = {"orders": orders}
    if records:
        context["coverage-assertion-ids"] = [r.assertion_id for r in records]
    questionnaire = next((r.questionnaire for r in records if r.questionnaire), determination.questionnaire)
    if questionnaire:
        context["questionnaire"] = questionnaire
    attestable = [c for c in determination.needs_documentation if c.attestable]
    policy = determination.policy_id
    link = {"label": f"Open the {policy} documentation form", "url": app_url, "type": "smart",
            "appContext": json.dumps(context, separators=(",", ":"))}
    return maker.card(
        summary=ids_summary(f"{procedure_noun(determination)}: document {policy} items in the form", attestable),
        warning=False,
        topic="guideline",
        detail=f"The form asks only for the items marked **needs documentation**.\n\n{order_line(determination)}",
        about=orders,
        links=[link],
    )


# --- Propose-Alternate-Request: a change to one order that fixes it ------------------------------

@dataclass(frozen=True)
class _Change:
    summary: str  # "change 0216T to 64493 (fluoroscopic guidance)"
    explanation: str
    field: str  # what the update touches, in words
    criterion_ids: tuple[str, ...]  # the criteria the change addresses


@dataclass(frozen=True)
class _Proposal:
    order: dict
    updated: dict
    changes: tuple[_Change, ...]


def _alternative_cards(
    maker: _CardMaker, determination: ProcedureDetermination, orders_by_id: Mapping[str, dict]
) -> list[dict]:
    return [_alternative_card(maker, determination, p) for p in _proposals(determination, orders_by_id)]


def _alternative_card(maker: _CardMaker, determination: ProcedureDetermination, proposal: _Proposal) -> dict:
    """One card per order, one suggestion, one `update` (contract §4; CRD alternate-request shape)."""
    reference = _reference(proposal.order)
    what = " and ".join(dict.fromkeys(c.field for c in proposal.changes))
    summaries = "; ".join(c.summary for c in proposal.changes)
    detail = "\n".join([
        order_line(determination),
        "",
        *(f"- {c.explanation}" for c in proposal.changes),
        "",
        f"Accepting changes only the {what} of the {_cpt_code(proposal.order) or reference} order; "
        "everything else stays as entered.",
    ])
    suggestion = {
        "uuid": maker.new_uuid(),
        "label": fit_summary(summaries[0].upper() + summaries[1:]),
        "actions": [{"type": "update", "description": f"Update {reference}: {summaries}",
                     "resource": proposal.updated}],
    }
    return maker.card(
        summary=f"{procedure_noun(determination)}: {summaries}",
        warning=True,
        topic="therapy-alternatives-req",
        detail=detail,
        about=[reference],
        suggestions=[suggestion],
    )


_Step = Callable[[dict], "tuple[dict, _Change] | None"]


def _proposals(determination: ProcedureDetermination, orders_by_id: Mapping[str, dict]) -> list[_Proposal]:
    ultrasound = _failed_ids(determination, Fix.FLUOROSCOPIC_CODE)
    limit = determination.max_levels  # the revision's own level limit for this order
    levels = _failed_ids(determination, Fix.LEVELS) if limit else ()
    if not ultrasound and not levels:
        return []
    orders = [orders_by_id[i] for i in determination.order_ids if i in orders_by_id]
    revision = revision_name(determination)
    steps: list[_Step] = []
    units: dict[str, int] = {}
    if ultrasound:
        steps.append(partial(_swap_ultrasound_code, revision=revision, criterion_ids=ultrasound))
    if levels and limit:
        keep = _first_levels(determination.levels, limit)
        if keep:
            steps.append(partial(_keep_levels, keep=keep, max_levels=limit, revision=revision,
                                 criterion_ids=levels))
        units = _allowed_add_on_units(orders, limit)
    proposals = []
    for order in orders:
        own_steps = list(steps)
        if order.get("id") in units and limit:
            own_steps.append(partial(_reduce_units, units=units[order["id"]], max_levels=limit,
                                     revision=revision, criterion_ids=levels))
        proposal = _apply(order, own_steps)
        if proposal:
            proposals.append(proposal)
    return proposals


def _apply(order: dict, steps: Iterable[_Step]) -> _Proposal | None:
    """Run the changes in turn on one order; None when none of them applies to it."""
    updated, changes = order, []
    for step in steps:
        result = step(updated)
        if result:
            updated, change = result
            changes.append(change)
    return _Proposal(order, updated, tuple(changes)) if changes else None


def _swap_ultrasound_code(
    order: dict, revision: str, criterion_ids: tuple[str, ...]
) -> tuple[dict, _Change] | None:
    codings = order.get("code", {}).get("coding", [])
    for index, coding in enumerate(codings):
        old = coding.get("code")
        target = shipped_scope().fluoroscopic_equivalent(str(old)) if is_cpt_coding(coding) else None
        if target is None or not target.cpt_display:
            continue
        new, display = target.code, target.cpt_display
        updated = copy.deepcopy(order)
        updated["code"]["coding"][index] = {**coding, "system": CPT, "code": new, "display": display}
        if coding.get("display") and updated["code"].get("text") == coding["display"]:
            updated["code"]["text"] = display  # the text only echoed the old code's display
        explanation = (f"Ultrasound-guided facet injections ({old}) do not support coverage under {revision} "
                       f"({', '.join(criterion_ids)}); the same injection under fluoroscopy or CT guidance "
                       f"({new}) does when the other criteria are met.")
        return updated, _Change(f"change {old} to {new} (fluoroscopic guidance)", explanation, "CPT code",
                                criterion_ids)
    return None


def _keep_levels(
    order: dict, keep: tuple[str, ...], max_levels: int, revision: str, criterion_ids: tuple[str, ...]
) -> tuple[dict, _Change] | None:
    sites = order.get("bodySite", [])
    kept, dropped_levels = [], []
    for site in sites:
        named = site_levels(site)
        mine = [level for level in named if level in keep]
        dropped_levels += [level for level in named if level not in keep]
        if len(mine) == len(named):
            kept.append(copy.deepcopy(site))
        elif mine:  # one text named several levels: keep the site, naming only the kept ones
            kept.append({"text": ", ".join(mine)})
    if not dropped_levels or not kept or all(not site_levels(site) for site in kept):
        return None  # nothing beyond the first N here, or only deleting the order would help
    dropped = ", ".join(dict.fromkeys(dropped_levels))
    updated = copy.deepcopy(order)
    updated["bodySite"] = kept
    first = _NUMBER_WORDS.get(max_levels, str(max_levels))
    explanation = (f"{revision} covers no more than {max_levels} spinal levels per session "
                   f"({', '.join(criterion_ids)}); this keeps the first {first} as ordered and drops {dropped}.")
    return updated, _Change(f"treat {', '.join(keep)} only", explanation, "body sites", criterion_ids)


def _reduce_units(
    order: dict, units: int, max_levels: int, revision: str, criterion_ids: tuple[str, ...]
) -> tuple[dict, _Change] | None:
    updated = copy.deepcopy(order)
    updated["quantityQuantity"] = {**order.get("quantityQuantity", {}), "value": units}
    code = _cpt_code(order)
    plural = "s" if units != 1 else ""
    explanation = (f"{revision} covers no more than {max_levels} levels per session ({', '.join(criterion_ids)}); "
                   f"the primary joint plus {units} additional joint{plural} makes {max_levels}.")
    return updated, _Change(f"reduce {code} to {units} unit{plural} ({max_levels} joints in all)", explanation,
                            "quantity", criterion_ids)


def _allowed_add_on_units(orders: Iterable[dict], max_levels: int) -> dict[str, int]:
    """RF add-on order id -> the units that make primary + add-ons = the limit, where fewer than ordered."""
    orders = list(orders)
    sides = [order_side(o) for o in orders]
    if sum(1 for o in orders if _is_rf(o, primary=True)) > 1 and all(sides):
        allowed: dict[str, int] = {}  # a bilateral procedure: three joints per side
        for side in ("left", "right"):
            allowed.update(
                _allowed_units_one_side(
                    [o for o, s in zip(orders, sides, strict=True) if s in (side, "bilateral")], max_levels
                )
            )
        return allowed
    return _allowed_units_one_side(orders, max_levels)


def _allowed_units_one_side(orders: list[dict], max_levels: int) -> dict[str, int]:
    remaining = max_levels - sum(1 for o in orders if _is_rf(o, primary=True))
    if remaining == max_levels:
        return {}  # no RF primary in the procedure: add-on units mean nothing on their own
    allowed: dict[str, int] = {}
    for order in orders:
        if not _is_rf(order, primary=False):
            continue
        ordered = order.get("quantityQuantity", {}).get("value", 1)
        units = min(ordered, remaining)
        remaining -= units
        if units < ordered:
            if units < 1:
                return {}  # the fix would delete an order, which an update cannot do
            allowed[order["id"]] = int(units)
    return allowed


def _first_levels(levels: Iterable[str], max_levels: int) -> tuple[str, ...]:
    """The first `max_levels` of the levels the engine counted (one parser: evaluation.procedures.level_names)."""
    distinct = tuple(dict.fromkeys(levels))
    return distinct[:max_levels] if len(distinct) > max_levels else ()


def _failed_ids(determination: ProcedureDetermination, fix: Fix) -> tuple[str, ...]:
    """The not-met criteria that this fix answers (their role in the policy data)."""
    return tuple(c.criterion_id for c in determination.not_met if c.fix is fix)


def _is_rf(order: Mapping, *, primary: bool) -> bool:
    """An RF primary (single joint) or add-on (each additional joint) order, by its CPT code (scope table)."""
    facet = shipped_scope().codes.get(_cpt_code(order) or "")
    return facet is not None and facet.family is Family.RF and (facet.role is CodeRole.PRIMARY) is primary


def _cpt_code(order: Mapping) -> str | None:
    return next((c.get("code") for c in order.get("code", {}).get("coding", []) if is_cpt_coding(c)), None)


def _reference(order: Mapping) -> str:
    return f"{order.get('resourceType', 'ServiceRequest')}/{order.get('id')}"


def _references(order_ids: Iterable[str], orders_by_id: Mapping[str, dict]) -> list[str]:
    return [_reference(orders_by_id.get(i, {"id": i})) for i in order_ids]
