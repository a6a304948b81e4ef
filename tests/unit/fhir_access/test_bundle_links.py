"""A prefetch whose Bundles refer between entries by `urn:uuid:` fullUrl (contract §4 "Codes"), read end to end:
gather_record → normalize_resources → the engine, as the order hooks do."""
from __future__ import annotations

import copy

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.evaluation.evaluator import evaluate
from cds_service.fhir_access import gather_record
from cds_service.fhir_access.bundle_links import FULL_URL_KEY, _references_in, _rewrite, link_full_urls
from cds_service.fhir_access.normalize import normalize_resources
from cds_service.fhir_access.queries import PREFETCH_TEMPLATES
from cds_service.policy.conventions import RXNORM
from cds_service.usecases.engine import default_library
from tests.support.fhir_builders import (
    DOS,
    PATIENT,
    block_with_relief,
    condition,
    coverage,
    months_ago,
    order,
    patient,
    subject,
)
from tests.support.hook_requests import as_request

UUIDS = iter(f"urn:uuid:6f1c2a4e-0000-4000-8000-{n:012d}" for n in range(1, 1000))


def bundle(entries: list[tuple[str, dict]]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"fullUrl": u, "resource": r} for u, r in entries]}


def uuid_linked_blocks(*, drop_block_ids: bool) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
    """Two positive blocks; the pain scores' partOf names each block by its urn:uuid fullUrl only."""
    blocks, scores = [], []
    for day, after in ((months_ago(3), 1), (months_ago(2), 2)):
        block, before_score, after_score = block_with_relief(day, 10, after)
        url = next(UUIDS)
        if drop_block_ids:
            del block["id"]  # the entry is known only by its fullUrl
        for score in (before_score, after_score):
            score["partOf"] = [{"reference": url}]
            scores.append((next(UUIDS), score))
        blocks.append((url, block))
    return blocks, scores


def ibuprofen_request_by_uuid() -> list[tuple[str, dict]]:
    med_url = next(UUIDS)
    medication = {"resourceType": "Medication", "code": {"coding": [{"system": RXNORM, "code": "5640"}]}}
    request = {"resourceType": "MedicationRequest", "id": "mr-1", "status": "completed", "intent": "order",
               "subject": subject(), "authoredOn": months_ago(6).isoformat(),
               "medicationReference": {"reference": med_url},
               "dispenseRequest": {"validityPeriod": {"start": months_ago(6).isoformat()},
                                   "expectedSupplyDuration": {"value": 30, "unit": "days",
                                                              "system": "http://unitsofmeasure.org", "code": "d"}}}
    return [(med_url, medication), (next(UUIDS), request)]


def decide(prefetch: dict, orders: list[dict]) -> dict[str, str]:
    gathered = gather_record(as_request({"hook": "order-sign", "hookInstance": "h-1",
                              "context": {"patientId": PATIENT, "userId": "Practitioner/1"}, "prefetch": prefetch}))
    resources = normalize_resources(gathered.resources).resources
    determination = evaluate(default_library(), resources, orders, today=DOS).determinations[0]
    return {c.criterion_id: c.status.value for c in determination.criteria}


def prefetch_with(**keys) -> dict:
    prefetch = {key: None for key in PREFETCH_TEMPLATES}
    prefetch.update(patient=patient(), coverage=bundle([(next(UUIDS), coverage())]),
                    conditions=bundle([(next(UUIDS), condition("M47.816", months_ago(8)))]))
    prefetch.update(keys)
    return prefetch


def test_pain_scores_partof_a_urn_uuid_block_qualify_an_rf_across_two_prefetch_keys():
    for drop_ids in (False, True):
        blocks, scores = uuid_linked_blocks(drop_block_ids=drop_ids)
        prefetch = prefetch_with(procedures=bundle(blocks), observations=bundle(scores))
        assert decide(prefetch, [order("64635")])["I.B.1.b"] == "met", drop_ids


def test_a_medication_request_naming_a_bundle_medication_by_urn_uuid_counts_as_an_nsaid_course():
    prefetch = prefetch_with(medicationRequests=bundle(ibuprofen_request_by_uuid()))
    assert decide(prefetch, [order()])["I.A.1.b.ii"] == "met"
    # the same request whose Medication entry is missing from the Bundle: the course is not an NSAID we know
    unlinked = bundle(ibuprofen_request_by_uuid()[1:])
    assert decide(prefetch_with(medicationRequests=unlinked), [order()])["I.A.1.b.ii"] == "needs-documentation"


def test_linking_leaves_the_request_untouched_and_no_marker_behind():
    blocks, scores = uuid_linked_blocks(drop_block_ids=True)
    prefetch = prefetch_with(procedures=bundle(blocks), observations=bundle(scores))
    before = copy.deepcopy(prefetch)
    gathered = gather_record(as_request({"hook": "order-sign", "hookInstance": "h-1",
                              "context": {"patientId": PATIENT}, "prefetch": prefetch}))
    assert prefetch == before
    assert not any(FULL_URL_KEY in r for r in gathered.resources)
    procedure_ids = {r["id"] for r in gathered.of_type("Procedure")}
    part_of = {ref["reference"] for r in gathered.of_type("Observation") for ref in r["partOf"]}
    assert part_of == {f"Procedure/{pid}" for pid in procedure_ids}


def test_link_full_urls_rewrites_only_references_to_known_entries():
    resources = [
        {"resourceType": "Procedure", "id": "p1", FULL_URL_KEY: "urn:uuid:aaaa"},
        {"resourceType": "Observation", "id": "o1", "partOf": [{"reference": "urn:uuid:aaaa"}, {"reference": "urn:uuid:zzzz"}],
         "subject": {"reference": f"Patient/{PATIENT}"}},
    ]
    linked = link_full_urls(resources)
    assert linked[0] == {"resourceType": "Procedure", "id": "p1"}
    assert linked[1]["partOf"] == [{"reference": "Procedure/p1"}, {"reference": "urn:uuid:zzzz"}]
    assert link_full_urls(linked) == linked  # nothing to do without fullUrls


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Procedure", "Medication", "Observation"]), st.booleans(),
                          st.lists(st.integers(0, 9), max_size=3)), min_size=1, max_size=8))
def test_every_reference_to_an_entry_names_that_entry_and_nothing_else_changes(entries):
    """Entry n has fullUrl urn:uuid:…n (with or without an id) and refers to entries by their uuids."""
    url = "urn:uuid:6f1c2a4e-0000-4000-8000-{:012d}".format
    resources = []
    for n, (rtype, has_id, targets) in enumerate(entries):
        r = {"resourceType": rtype, FULL_URL_KEY: url(n), "partOf": [{"reference": url(t)} for t in targets]}
        if has_id:
            r["id"] = f"r{n}"
        resources.append(r)
    original = copy.deepcopy(resources)

    linked = link_full_urls(resources)

    assert resources == original
    refs = {f"{r['resourceType']}/{r['id']}" for r in linked}
    assert len(refs) == len(linked)  # every entry has an id now
    for n, r in enumerate(linked):
        assert FULL_URL_KEY not in r
        for ref, t in zip(r["partOf"], entries[n][2], strict=False):
            if t < len(entries):
                assert ref["reference"] == f"{linked[t]['resourceType']}/{linked[t]['id']}"
            else:
                assert ref["reference"] == url(t)  # not an entry of the Bundle: left as sent


def _every_reference(value: object) -> set[str]:
    """The walk `_rewrite` does: every string under a "reference" key, anywhere."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                found.add(item.strip())
            found |= _every_reference(item)
    elif isinstance(value, list):
        for item in value:
            found |= _every_reference(item)
    return found


_PIECES = st.sampled_from(['"', "\\", "/", ":", " ", "e", "\n", "é", "\x00", "reference", '"reference":"', "urn:uuid:1"])
_TEXT = st.lists(_PIECES, max_size=6).map("".join)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT | st.just("reference"), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_JSON, max_size=4))
def test_the_text_scan_finds_every_reference_the_walk_finds(values):
    """The fast path must never miss a reference (a urn:uuid partOf left unlinked would lose a block's relief).
    It may find too many (a key `"reference` reads as one): those only send a resource to the exact rewrite."""
    assert set(_references_in(orjson.dumps(values))) >= _every_reference(values)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["urn:uuid:a", "http://ehr/fhir/Procedure/p", "urn:uuid:c\\\"q"]),
                          st.lists(st.sampled_from(["urn:uuid:a", " urn:uuid:a ", "http://ehr/fhir/Procedure/p",
                                                    "Patient/x", "urn:uuid:c\\\"q", "urn:uuid:zz"]), max_size=3)),
                min_size=1, max_size=6))
def test_linking_equals_rewriting_every_resource(entries):
    """Only referrers are rewritten, yet the result is what rewriting every resource gives."""
    resources = [{"resourceType": "Procedure", "id": f"p{n}", FULL_URL_KEY: url,
                  "partOf": [{"reference": ref} for ref in refs], "note": [{"text": "reference"}]}
                 for n, (url, refs) in enumerate(entries)]
    targets = {r[FULL_URL_KEY]: f"Procedure/{r['id']}" for r in resources}
    plain = [{k: v for k, v in r.items() if k != FULL_URL_KEY} for r in resources]
    assert link_full_urls(copy.deepcopy(resources)) == [_rewrite(r, targets) for r in plain]
