"""Prefetch templates and their rendering (CDS Hooks 2.0 root-level tokens only)."""
import re

import pytest

from cds_service.fhir_access.queries import EVIDENCE_QUERIES, PREFETCH_TEMPLATES, render_template


def test_every_evidence_key_has_a_template_with_only_the_patient_token():
    assert list(PREFETCH_TEMPLATES) == [
        "patient",
        "coverage",
        "conditions",
        "procedures",
        "medicationStatements",
        "medicationRequests",
        "allergies",
        "observations",
        "questionnaireResponses",
        "devices",
    ]
    for template in PREFETCH_TEMPLATES.values():
        assert re.findall(r"\{\{.*?\}\}", template) == ["{{context.patientId}}"]


def test_only_the_patient_key_is_a_read():
    assert [query.key for query in EVIDENCE_QUERIES if query.is_read] == ["patient"]


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        ("Patient/{{context.patientId}}", {"patientId": "pat-1"}, "Patient/pat-1"),
        ("Condition?patient={{ context.patientId }}", {"patientId": "pat-1"}, "Condition?patient=pat-1"),
        # a hostile id cannot add parameters or path segments
        (
            "Condition?patient={{context.patientId}}",
            {"patientId": "x&_id=y/../z"},
            "Condition?patient=x%26_id%3Dy%2F..%2Fz",
        ),
        ("Encounter/{{context.encounterId}}", {"patientId": "p", "encounterId": 7}, "Encounter/7"),
        ("X?flag={{context.flag}}", {"flag": True}, "X?flag=true"),
        ("Condition", {}, "Condition"),
    ],
)
def test_render_template_fills_root_level_context_tokens(template, context, expected):
    assert render_template(template, context) == expected


@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("Encounter/{{context.encounterId}}", {"patientId": "p"}),  # missing value
        ("Patient/{{context.patientId}}", {"patientId": ""}),  # empty value
        ("Patient/{{context.patientId}}", {"patientId": None}),
        ("X?orders={{context.draftOrders}}", {"draftOrders": {"resourceType": "Bundle"}}),  # not a primitive
        ("Practitioner/{{userPractitionerId}}", {"patientId": "p"}),  # a token we do not fill
        ("Y?d={{today()}}", {"patientId": "p"}),
    ],
)
def test_render_template_returns_none_when_a_token_cannot_be_filled(template, context):
    assert render_template(template, context) is None


def test_observation_template_asks_for_every_pain_and_egfr_code_by_url_and_by_oid():
    observations = PREFETCH_TEMPLATES["observations"]

    codes = observations.split("&code=", 1)[1].split(",")

    assert codes[0] == "https://facet-cds.example.org/fhir/CodeSystem/facet-cds|post-block-pain-relief-percent"
    for code in ("72514-3", "77565-0", "91146-1", "91147-9", "98979-8", "62238-1"):
        assert f"http://loinc.org|{code}" in codes
        assert f"urn:oid:2.16.840.1.113883.6.1|{code}" in codes


def test_observation_template_covers_every_loinc_code_the_engine_reads_observations_by():
    """A code the engine reads but the fetch leaves out would make fetched and prefetched records differ."""
    from cds_service.evaluation.clinical import INTERFERENCE_LOINC, PAIN_SCORE_CODES
    from cds_service.policy.library import DATA_DIR
    from cds_service.policy.loader import load_valuesets

    egfr = {e.code for e in load_valuesets(DATA_DIR / "valuesets.json").entries("lab-egfr-loinc")}
    codes = set(PREFETCH_TEMPLATES["observations"].split("&code=", 1)[1].split(","))

    for code in egfr | PAIN_SCORE_CODES | INTERFERENCE_LOINC:
        assert {f"http://loinc.org|{code}", f"urn:oid:2.16.840.1.113883.6.1|{code}"} <= codes


def test_observation_template_asks_for_every_code_of_the_observation_value_sets_and_the_engine_constants():
    """Derived, not hand-kept (issue 12): each code by the URL and by the OID, our own codes by their URL."""
    from cds_service.fhir_access.relevance import OBSERVATION_VALUESET_PREFIXES, engine_constant_codes
    from cds_service.policy.conventions import FACET_CDS_CODES, LOINC
    from cds_service.policy.library import DATA_DIR
    from cds_service.policy.loader import load_valuesets

    valuesets = load_valuesets(DATA_DIR / "valuesets.json")
    wanted = {(e.system, e.code) for name in valuesets.names() if name.startswith(OBSERVATION_VALUESET_PREFIXES)
              for e in valuesets.entries(name) if e.system in (LOINC, FACET_CDS_CODES)}  # not the UCUM unit
    wanted |= {(system, code) for system, codes in engine_constant_codes().items() if system in (LOINC, FACET_CDS_CODES)
               for code in codes}
    tokens = set(PREFETCH_TEMPLATES["observations"].split("&code=", 1)[1].split(","))
    assert {code for system, code in wanted if system == LOINC} >= {"72514-3", "98979-8", "91146-1"}
    for system, code in wanted:
        spellings = {f"{system}|{code}"} | ({f"urn:oid:2.16.840.1.113883.6.1|{code}"} if system == LOINC else set())
        assert spellings <= tokens, code
