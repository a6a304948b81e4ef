"""The attestation Questionnaire of a revision, generated from the same policy data the engine uses."""
from __future__ import annotations

from typing import Any

from cds_service.policy.model import Revision


def questionnaire_for(revision: Revision) -> dict[str, Any]:
    """One boolean item per attestable criterion; linkId = criterion id (contract §4 "Attestations")."""
    return {
        "resourceType": "Questionnaire",
        "id": f"cp-mp-171-{revision.revision}",
        "url": revision.questionnaire_url,
        "version": revision.revision,
        "name": f"CP_MP_171_{revision.revision.replace('-', '_')}",
        "title": f"{revision.policy} {revision.title} — attestations (revision {revision.label})",
        "status": "active",
        "subjectType": ["Patient"],
        "description": (
            f"Attestations for what the record cannot show, for {revision.policy} revision {revision.label} "
            f"({revision.provenance}). Answer each item the clinician can attest; evidence in the record that a "
            "criterion is not met wins over an attestation."
        ),
        "item": [
            {
                "linkId": c.id,
                "prefix": c.id,
                "text": f"{c.title}. Policy text: {c.text}",
                "type": "boolean",
                "required": False,
            }
            for c in revision.attestable_criteria
        ],
    }
