"""gather_record with a fake FHIR client: prefetch semantics, patient filtering, deadline, cache."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cds_service.cdshooks.request import BadRequest
from cds_service.fhir_access import (
    PREFETCH_TEMPLATES,
    FetchLimits,
    FhirUnavailable,
    PrefetchUnavailable,
    RecordCache,
    gather_record,
)
from tests.support.hook_requests import as_request

PATIENT = "pat-a"
OUR_QUESTIONNAIRE = "https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171|2026-05"
FHIR_SERVER = "http://127.0.0.1:9/fhir"


class FakeFhirClient:
    """Answers searches by resource type from a dict, like a server that ignores search parameters."""

    def __init__(self, resources_by_type=None, failures=None, delay_s=0.0):
        self.resources_by_type = {"Patient": [{"resourceType": "Patient", "id": PATIENT}], **(resources_by_type or {})}
        self.failures = failures or {}  # resource type -> exception to raise
        self.delay_s = delay_s
        self.warnings: list[str] = []
        self.calls: list[str] = []
        self.built_with: tuple | None = None

    def factory(self, base_url, bearer_token):
        self.built_with = (base_url, bearer_token)
        return self

    def search(self, relative_query, deadline):
        return self._answer(relative_query.split("?", 1)[0], relative_query)

    def read(self, path, deadline):
        resource_type = path.split("/", 1)[0]
        found = self._answer(resource_type, path)
        if not found:
            raise FhirUnavailable(f"{resource_type} read: HTTP 404")
        return found[0]

    def _answer(self, resource_type, target):
        self.calls.append(target)
        time.sleep(self.delay_s)
        if resource_type in self.failures:
            raise self.failures[resource_type]
        return list(self.resources_by_type.get(resource_type, []))


def hook_request(prefetch=None, fhir_server=FHIR_SERVER, **extra):
    request = {
        "hook": "order-sign",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"patientId": PATIENT, "userId": "Practitioner/1"},
        **extra,
    }
    if fhir_server is not None:
        request["fhirServer"] = fhir_server
        request["fhirAuthorization"] = {"access_token": "secret-token", "token_type": "Bearer"}
    if prefetch is not None:
        request["prefetch"] = prefetch
    return request


def condition(resource_id, patient=PATIENT, reference=None):
    return {
        "resourceType": "Condition",
        "id": resource_id,
        "subject": {"reference": reference or f"Patient/{patient}"},
        "code": {"text": "lumbar spondylosis"},
    }


def searchset(*resources):
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def full_prefetch(**overrides):
    """A prefetch with every key answered `null` (the client has nothing), then the overrides."""
    prefetch = {key: None for key in PREFETCH_TEMPLATES}
    prefetch.update(overrides)
    return prefetch


def ids(record, resource_type):
    return [resource["id"] for resource in record.of_type(resource_type)]


# -- prefetch semantics ------------------------------------------------------------------------------

ERROR_OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}
NOTE_OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "not-supported"}]}


@pytest.mark.parametrize(
    ("prefetched_conditions", "fetches", "condition_ids"),
    [
        pytest.param("<absent>", True, ["server-1"], id="missing key: fetch it"),
        pytest.param(None, False, [], id="null: the client has none, no fetch"),
        pytest.param(searchset(), False, [], id="empty Bundle: none"),
        pytest.param(searchset(condition("pre-1")), False, ["pre-1"], id="Bundle: its entries"),
        pytest.param(condition("pre-1"), False, ["pre-1"], id="a single resource"),
        pytest.param(ERROR_OUTCOME, True, ["server-1"], id="OperationOutcome: prefetch failed, fetch"),
        pytest.param(
            {**searchset(condition("pre-1")), "entry": [{"resource": condition("pre-1")}, {"resource": ERROR_OUTCOME}]},
            True,
            ["server-1"],
            id="Bundle with an error OperationOutcome: fetch",
        ),
        pytest.param(
            {**searchset(), "entry": [{"resource": condition("pre-1")}, {"resource": NOTE_OUTCOME}]},
            False,
            ["pre-1"],
            id="Bundle with a warning OperationOutcome: a note",
        ),
        pytest.param(
            {**searchset(condition("pre-1")), "link": [{"relation": "next", "url": f"{FHIR_SERVER}/Condition?page=2"}]},
            True,
            ["server-1"],
            id="paginated Bundle: fetch it whole",
        ),
        pytest.param("not a resource", True, ["server-1"], id="garbage: fetch"),
    ],
)
def test_prefetch_semantics(prefetched_conditions, fetches, condition_ids):
    prefetch = full_prefetch()
    if prefetched_conditions == "<absent>":
        del prefetch["conditions"]
    else:
        prefetch["conditions"] = prefetched_conditions
    fake = FakeFhirClient({"Condition": [condition("server-1")]})

    record = gather_record(as_request(hook_request(prefetch)), client_factory=fake.factory)

    assert ids(record, "Condition") == condition_ids
    assert fake.calls == ([f"Condition?patient={PATIENT}"] if fetches else [])
    assert ("conditions" in record.fetched_keys) is fetches
    assert ("conditions" in record.prefetched_keys) is not fetches
    assert record.technical_problem is None


def test_everything_prefetched_needs_no_fhir_server():
    prefetch = full_prefetch(patient={"resourceType": "Patient", "id": PATIENT}, conditions=searchset(condition("c1")))

    record = gather_record(as_request(hook_request(prefetch, fhir_server=None)))

    assert ids(record, "Patient") == [PATIENT]
    assert ids(record, "Condition") == ["c1"]
    assert record.fetched_keys == []
    assert record.prefetched_keys == list(PREFETCH_TEMPLATES)


def test_missing_keys_without_fhir_server_is_prefetch_unavailable():
    prefetch = full_prefetch()
    del prefetch["procedures"], prefetch["devices"]

    with pytest.raises(PrefetchUnavailable) as raised:
        gather_record(as_request(hook_request(prefetch, fhir_server=None)))

    assert raised.value.keys == ["procedures", "devices"]


def test_a_failed_prefetch_without_fhir_server_is_prefetch_unavailable():
    with pytest.raises(PrefetchUnavailable):
        gather_record(as_request(hook_request(full_prefetch(coverage=ERROR_OUTCOME), fhir_server=None)))


def test_no_patient_id_is_refused_once_when_the_request_is_parsed():
    request = hook_request(full_prefetch())
    del request["context"]["patientId"]

    with pytest.raises(BadRequest, match="patientId"):
        as_request(request)  # gather_record only ever sees a parsed request with a checked patient id


def test_every_missing_key_is_fetched_with_its_template_and_the_token():
    fake = FakeFhirClient()

    record = gather_record(as_request(hook_request()), client_factory=fake.factory)

    assert fake.built_with == (FHIR_SERVER, "secret-token")
    assert sorted(fake.calls) == sorted(
        template.replace("{{context.patientId}}", PATIENT) for template in PREFETCH_TEMPLATES.values()
    )
    assert record.fetched_keys and sorted(record.fetched_keys) == sorted(PREFETCH_TEMPLATES)
    assert record.technical_problem is None


# -- whose resources ----------------------------------------------------------------------------------


def test_another_patients_resources_are_dropped_and_named():
    fake = FakeFhirClient(
        {
            "Condition": [
                condition("mine"),
                condition("absolute", reference=f"https://ehr.example/fhir/Patient/{PATIENT}"),
                condition("versioned", reference=f"Patient/{PATIENT}/_history/3"),
                condition("theirs", patient="pat-b"),
                condition("suffix-trap", reference=f"Patient/x{PATIENT}"),
                {"resourceType": "Condition", "id": "nobody", "code": {"text": "?"}},
                condition("padded", reference=f" Patient/{PATIENT}\n"),  # the engine reads it stripped too
                condition("padded-absolute", reference=f"  https://ehr.example/fhir/Patient/{PATIENT} "),
                condition("padded-versioned", reference=f"\tPatient/{PATIENT}/_history/2 "),
                condition("inner-space", reference=f"Patient/ {PATIENT}"),
            ],
        }
    )

    record = gather_record(as_request(hook_request()), client_factory=fake.factory)

    assert ids(record, "Condition") == ["mine", "absolute", "versioned", "padded", "padded-absolute",
                                        "padded-versioned"]
    assert ("Condition", "inner-space", "subject is another patient") in record.dropped
    assert ("Condition", "theirs", "subject is another patient") in record.dropped
    assert ("Condition", "suffix-trap", "subject is another patient") in record.dropped
    assert ("Condition", "nobody", "no subject reference") in record.dropped


def test_each_type_is_checked_by_its_own_patient_element():
    mine = {"reference": f"Patient/{PATIENT}"}
    coverage_mine = {"resourceType": "Coverage", "id": "cov-a", "status": "active", "beneficiary": mine}
    coverage_theirs = {**coverage_mine, "id": "cov-b", "beneficiary": {"reference": "Patient/pat-b"}}
    allergy = {"resourceType": "AllergyIntolerance", "id": "al-1", "patient": mine}
    device_theirs = {"resourceType": "Device", "id": "dev-b", "patient": {"reference": "Patient/pat-b"}}
    other_patient = {"resourceType": "Patient", "id": "pat-b"}
    prefetch = full_prefetch(
        patient=other_patient,
        coverage=searchset(coverage_theirs, coverage_mine),
        allergies=searchset(allergy),
        devices=searchset(device_theirs),
    )

    record = gather_record(as_request(hook_request(prefetch)))

    assert [r["id"] for r in record.resources] == ["cov-a", "al-1"]
    assert record.coverage == coverage_mine
    assert {(d.resource_type, d.resource_id) for d in record.dropped} == {
        ("Patient", "pat-b"),
        ("Coverage", "cov-b"),
        ("Device", "dev-b"),
    }


def test_questionnaire_responses_must_be_the_patients_and_of_our_questionnaire():
    def response(resource_id, patient=PATIENT, questionnaire=OUR_QUESTIONNAIRE):
        return {
            "resourceType": "QuestionnaireResponse",
            "id": resource_id,
            "status": "completed",
            "subject": {"reference": f"Patient/{patient}"},
            "questionnaire": questionnaire,
        }

    fake = FakeFhirClient(
        {
            "QuestionnaireResponse": [
                response("ours"),
                response("someone-elses", patient="pat-b"),
                response("other-form", questionnaire="http://example.org/Questionnaire/phq-9|1"),
                {**response("no-form"), "questionnaire": None},
            ]
        }
    )
    prefetch = full_prefetch()
    del prefetch["questionnaireResponses"]

    record = gather_record(as_request(hook_request(prefetch)), client_factory=fake.factory)

    assert ids(record, "QuestionnaireResponse") == ["ours"]
    assert {d.resource_id: d.reason for d in record.dropped} == {
        "someone-elses": "subject is another patient",
        "other-form": "not the policy's Questionnaire",
        "no-form": "not the policy's Questionnaire",
    }


def test_a_resource_from_prefetch_and_a_fetch_is_kept_once():
    prefetch = full_prefetch(conditions=searchset(condition("c1"), condition("c1")))
    del prefetch["procedures"]
    duplicate_via_include = condition("c1")
    fake = FakeFhirClient({"Procedure": [duplicate_via_include]})

    record = gather_record(as_request(hook_request(prefetch)), client_factory=fake.factory)

    assert ids(record, "Condition") == ["c1"]


@pytest.mark.parametrize(
    ("coverages", "insurance", "expected"),
    [
        ([("c1", "cancelled"), ("c2", "active"), ("c3", "active")], [], "c2"),
        ([("c2", "active"), ("c3", "active")], ["Coverage/c3"], "c3"),
        ([("c1", "cancelled")], [], None),
    ],
)
def test_coverage_is_the_one_the_order_names_else_the_first_active(coverages, insurance, expected):
    resources = [
        {"resourceType": "Coverage", "id": cid, "status": status, "beneficiary": {"reference": f"Patient/{PATIENT}"}}
        for cid, status in coverages
    ]
    order = {"resourceType": "ServiceRequest", "id": "sr-1", "insurance": [{"reference": ref} for ref in insurance]}
    request = hook_request(full_prefetch(coverage=searchset(*resources)))
    request["context"]["draftOrders"] = searchset(order)

    record = gather_record(as_request(request))

    assert (record.coverage or {}).get("id") == expected


# -- failures and the deadline -----------------------------------------------------------------------


def test_a_failing_key_is_a_technical_problem_and_the_rest_is_kept():
    fake = FakeFhirClient(
        {"Condition": [condition("c1")]},
        failures={"Procedure": FhirUnavailable("Procedure search: HTTP 500"), "Device": RuntimeError("bug")},
    )

    record = gather_record(as_request(hook_request()), client_factory=fake.factory)

    assert ids(record, "Condition") == ["c1"]
    assert record.technical_problem is not None
    assert "procedures: Procedure search: HTTP 500" in record.technical_problem
    assert "devices: unexpected error" in record.technical_problem
    assert "procedures" not in record.fetched_keys


def test_a_client_that_cannot_be_built_is_a_technical_problem():
    def refuse(base_url, token):
        raise FhirUnavailable("fhirServer is not an absolute http(s) URL")

    record = gather_record(as_request(hook_request(full_prefetch(conditions="x"))), client_factory=refuse)

    assert record.technical_problem == "conditions: fhirServer is not an absolute http(s) URL"


def test_returns_at_the_deadline_even_when_every_fetch_hangs():
    fake = FakeFhirClient(delay_s=1.0)
    with ThreadPoolExecutor(max_workers=16) as executor:
        started = time.monotonic()

        record = gather_record(as_request(hook_request()), client_factory=fake.factory, deadline_s=0.3, executor=executor)

        elapsed = time.monotonic() - started
    assert elapsed < 0.3 + 0.2
    assert record.technical_problem is not None
    assert "no answer before the deadline" in record.technical_problem


def test_too_many_resources_is_a_technical_problem():
    prefetch = full_prefetch(conditions=searchset(*(condition(f"c{i}") for i in range(11))))

    record = gather_record(as_request(hook_request(prefetch)), limits=FetchLimits(max_resources=10))

    assert record.technical_problem == "more than 10 resources"


# -- cache --------------------------------------------------------------------------------------------


def test_cached_keys_are_reused_except_questionnaire_responses():
    cache = RecordCache()
    first = FakeFhirClient({"Condition": [condition("c1")]})
    second = FakeFhirClient({"Condition": [condition("changed")]})

    gather_record(as_request(hook_request()), client_factory=first.factory, cache=cache, issuer="https://ehr.example")
    record = gather_record(as_request(hook_request()), client_factory=second.factory, cache=cache, issuer="https://ehr.example")

    assert ids(record, "Condition") == ["c1"]
    assert second.calls == [f"QuestionnaireResponse?subject=Patient/{PATIENT}"]
    assert record.fetched_keys == ["questionnaireResponses"]
    assert sorted(record.cached_keys) == sorted(set(PREFETCH_TEMPLATES) - {"questionnaireResponses"})


def test_cache_is_not_shared_between_issuers_and_skips_failed_keys():
    cache = RecordCache()
    failing = FakeFhirClient(failures={"Condition": FhirUnavailable("Condition search: timed out")})
    gather_record(as_request(hook_request()), client_factory=failing.factory, cache=cache, issuer="https://ehr-1.example")
    same_issuer = FakeFhirClient()
    other_issuer = FakeFhirClient()

    gather_record(as_request(hook_request()), client_factory=same_issuer.factory, cache=cache, issuer="https://ehr-1.example")
    gather_record(as_request(hook_request()), client_factory=other_issuer.factory, cache=cache, issuer="https://ehr-2.example")

    assert sorted(same_issuer.calls) == [
        f"Condition?patient={PATIENT}",
        f"QuestionnaireResponse?subject=Patient/{PATIENT}",
    ]
    assert len(other_issuer.calls) == len(PREFETCH_TEMPLATES)


def test_cached_resources_cannot_be_changed_through_a_record():
    cache = RecordCache()
    fake = FakeFhirClient({"Condition": [condition("c1")]})
    first = gather_record(as_request(hook_request()), client_factory=fake.factory, cache=cache)
    first.of_type("Condition")[0]["code"]["text"] = "scribbled"

    second = gather_record(as_request(hook_request()), client_factory=fake.factory, cache=cache)

    assert second.of_type("Condition")[0]["code"]["text"] == "lumbar spondylosis"

