"""The card for a facet order that could not be read (a value no FHIR reader can use, e.g. a date that does not
exist): nothing was decided about it, and saying nothing would read as "no concern" (CDS Hooks: orders are
read defensively; what still cannot be read is said, not dropped). order-sign only: while an order is being
written (order-select) it is expected to be incomplete.
"""
from __future__ import annotations

from collections.abc import Callable

from cds_service.cdshooks.presentation import CardSettings, fit_summary, guideline_source, markdown_text
from cds_service.fhir_access.normalize import Skipped


def unreadable_order_card(order: Skipped, *, policy_id: str, settings: CardSettings,
                          new_uuid: Callable[[], str]) -> dict:
    problem = order.problem.split(": ", 1)[-1] if order.problem.startswith(order.ref) else order.problem
    detail = (f"The draft order {markdown_text(order.ref)} could not be read, so it was not checked against "
              f"{policy_id} and no coverage decision was made: {markdown_text(problem)}.\n\n"
              "Correct the order in the EHR and sign it again.")
    source = guideline_source(settings)
    card: dict = {"uuid": new_uuid(), "indicator": "warning", "source": source, "detail": detail,
                  "summary": fit_summary(f"Facet order could not be read: not checked against {policy_id}")}
    if order.resource_id:
        card["extension"] = {"davinci-crd.associated-resource": [f"ServiceRequest/{order.resource_id}"]}
    return card
