"""Turn a CDS Hooks request into the patient's raw FHIR resources: prefetch first, `fhirServer` for the rest.

    record = gather_record(hook_request, limits=FetchLimits.from_env(os.environ), cache=cache, issuer=iss)
    if record.technical_problem:
        ...  # answer `indeterminate` (contract §4 "Out"); the reason goes to logs and audit only

Prefetch semantics, per key of `queries.EVIDENCE_QUERIES` (cds-hooks-spec.md P-1):

| prefetch value                                        | meaning                  | what we do             |
| ----------------------------------------------------- | ------------------------ | ---------------------- |
| key absent                                            | the client did not try   | fetch it               |
| `null`                                                | the client has none      | no resources, no fetch |
| Bundle                                                | the data                 | its entries            |
| Bundle with an error/fatal OperationOutcome entry     | the prefetch failed      | fetch it               |
| Bundle with a `next` link                             | only the first page      | fetch it               |
| OperationOutcome                                      | the prefetch failed      | fetch it               |
| any other resource                                    | a read's result          | that resource          |

Keys to fetch go to the EHR's FHIR server in parallel under ONE deadline for the whole call; what is not
back by then is a technical problem, never an exception. Servers may ignore search parameters, so every
resource is checked to belong to the patient (and QuestionnaireResponses to be of our Questionnaire).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from cds_service.errors import PreconditionFailed
from cds_service.fhir_access.bundle_links import link_full_urls
from cds_service.fhir_access.cache import token_fingerprint
from cds_service.fhir_access.client import FhirAccessError, FhirClient, FhirUnavailable, server_key
from cds_service.fhir_access.limits import FetchLimits, shared_bulkheads
from cds_service.fhir_access.patient_filter import (
    DroppedResource,
    keep_patients_own,
)
from cds_service.fhir_access.prefetch import read_prefetch
from cds_service.fhir_access.queries import (
    EVIDENCE_QUERIES,
    EvidenceQuery,
    render_template,
)
from cds_service.policy.conventions import QUESTIONNAIRE_BASE

log = logging.getLogger(__name__)

# Contract §4 (order-select): attestations can change between order-select and order-sign.
NEVER_CACHED_KEYS = frozenset({"questionnaireResponses"})

ClientFactory = Callable[[str, str | None], FhirClient]  # (fhirServer, bearer token) -> client


class Cache(Protocol):
    """What `gather_record` needs of a cache (`RecordCache` is one)."""

    def get(self, key: Hashable) -> Any | None: ...

    def put(self, key: Hashable, value: Any) -> None: ...


class RecordRequest(Protocol):
    """What fetching needs of a hook call, already parsed and checked (`cdshooks.request.HookRequest` is one)."""

    @property
    def patient_id(self) -> str: ...
    @property
    def fhir_server(self) -> str | None: ...  # normalised once: the allow-list checked this very string
    @property
    def fhir_token(self) -> str | None: ...
    @property
    def prefetch(self) -> Mapping[str, Any]: ...
    @property
    def context_values(self) -> Mapping[str, Any]: ...  # fills the `{{context.X}}` of the queries
    @property
    def coverage_ids(self) -> tuple[str, ...]: ...  # Coverage ids the draft orders name


class PrefetchUnavailable(PreconditionFailed, FhirAccessError):  # the category first: it decides the answer
    """Some key was neither prefetched nor fetchable: the request has no `fhirServer` (HTTP 412)."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"not prefetched and no fhirServer to fetch from: {', '.join(keys)}")
        self.keys = keys


_PATIENT_KEY = next(query.key for query in EVIDENCE_QUERIES if query.is_read and query.resource_type == "Patient")


@dataclass
class GatheredRecord:
    """The patient's raw FHIR resources for one hook call, and how they were had (for the audit)."""

    patient_id: str
    resources: list[dict[str, Any]]  # de-duplicated by type/id; all belong to the patient
    dropped: list[DroppedResource] = field(default_factory=list)
    coverage: dict[str, Any] | None = None  # the Coverage the decision is about, when one is in the record
    coverage_reference: str | None = None  # `Coverage/{id}`: that one, else the one the orders name (contract §4)
    technical_problem: str | None = None  # set when a needed key could not be had: answer indeterminate
    patient_not_found: bool = False  # the Patient read was a 404/410: the server does not know this patient
    prefetched_keys: list[str] = field(default_factory=list)
    fetched_keys: list[str] = field(default_factory=list)
    cached_keys: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # server notes (OperationOutcome entries), for logs

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        """The record's resources of one type, in the order they came."""
        return [resource for resource in self.resources if resource.get("resourceType") == resource_type]


def gather_record(
    hook_request: RecordRequest,
    *,
    client_factory: ClientFactory | None = None,
    deadline_s: float | None = None,
    limits: FetchLimits | None = None,
    executor: Executor | None = None,
    cache: Cache | None = None,
    issuer: str | None = None,
    questionnaire_prefix: str = QUESTIONNAIRE_BASE,
) -> GatheredRecord:
    """Collect the patient's resources for every evidence key: prefetch first, then `fhirServer`.

    :param client_factory: builds the client for (fhirServer, token); default: `FhirClient` on the shared session.
    :param deadline_s: the budget of every FHIR request of this call together; default `limits.timeout_s`.
    :param executor: runs the fetches in parallel; default: a process-wide pool.
    :param cache: reuse of fetched keys across calls, keyed by (issuer, fhirServer, patientId, token digest).
    :param issuer: the authenticated client's `iss` (part of the cache key).
    :param questionnaire_prefix: QuestionnaireResponses whose `questionnaire` does not start with it are dropped.
    :raise PrefetchUnavailable: a key is not prefetched and the request has no `fhirServer`.
    """
    limits = limits or FetchLimits()
    deadline = time.monotonic() + (limits.timeout_s if deadline_s is None else deadline_s)
    patient_id, fhir_server = hook_request.patient_id, hook_request.fhir_server
    context = hook_request.context_values

    record = GatheredRecord(patient_id=patient_id, resources=[])
    by_key: dict[str, list[dict[str, Any]]] = {}
    missing: list[EvidenceQuery] = []
    prefetch = hook_request.prefetch
    for query in EVIDENCE_QUERIES:
        prefetched = read_prefetch(query.key, prefetch, record.warnings)
        if prefetched is None:
            missing.append(query)
        else:
            by_key[query.key] = prefetched
            record.prefetched_keys.append(query.key)

    problems: list[str] = []
    if missing:
        if fhir_server is None:
            raise PrefetchUnavailable([query.key for query in missing])
        bearer_token = hook_request.fhir_token
        problems = _fetch_missing(
            missing,
            by_key,
            record,
            context=context,
            fhir_server=fhir_server,
            bearer_token=bearer_token,
            client_factory=client_factory or _default_client_factory(limits),
            deadline=deadline,
            executor=executor or shared_executor(2 * limits.max_fetches_per_server),
            bulkhead=shared_bulkheads.for_server(server_key(fhir_server), limits.max_fetches_per_server),
            cache=cache,
            # the token's digest too: another token (or none) may not see what this one could
            cache_key=(issuer, fhir_server, patient_id, token_fingerprint(bearer_token)),
        )

    raw = link_full_urls([resource for query in EVIDENCE_QUERIES for resource in by_key.get(query.key, [])])
    if len(raw) > limits.max_resources:
        problems.append(f"more than {limits.max_resources} resources")
    record.resources, record.dropped = keep_patients_own(raw, patient_id, questionnaire_prefix)
    record.coverage = select_coverage(record.resources, hook_request.coverage_ids)
    named = hook_request.coverage_ids[0] if hook_request.coverage_ids else None
    record.coverage_reference = f"Coverage/{record.coverage['id']}" if record.coverage else (
        f"Coverage/{named}" if named else None)
    record.technical_problem = "; ".join(problems) or None
    return record


def select_coverage(resources: Iterable[dict[str, Any]], preferred_ids: Iterable[str] = ()) -> dict[str, Any] | None:
    """The active Coverage the orders name in `ServiceRequest.insurance`, else the first active one."""
    active = [
        resource
        for resource in resources
        if resource.get("resourceType") == "Coverage" and resource.get("status") == "active"
        and isinstance(resource.get("id"), str) and resource["id"]  # it is referenced by id in the answer
    ]
    preferred = set(preferred_ids)
    for coverage in active:
        if coverage.get("id") in preferred:
            return coverage
    return active[0] if active else None


def _fetch_missing(
    missing: list[EvidenceQuery],
    by_key: dict[str, list[dict[str, Any]]],
    record: GatheredRecord,
    *,
    context: Mapping[str, Any],
    fhir_server: str,
    bearer_token: str | None,
    client_factory: ClientFactory,
    deadline: float,
    executor: Executor,
    bulkhead: threading.BoundedSemaphore,
    cache: Cache | None,
    cache_key: Hashable,
) -> list[str]:
    """Fill `by_key` for the missing keys from the cache, then from the server; returns the problems."""
    to_fetch = _take_from_cache(cache, cache_key, missing, by_key, record)
    fetch = _fetch_in_parallel(
        to_fetch, context, fhir_server, bearer_token, client_factory, deadline, executor, bulkhead
    )
    by_key.update(fetch.resources_by_key)
    record.fetched_keys = list(fetch.resources_by_key)
    record.warnings.extend(fetch.warnings)
    if cache is not None and fetch.resources_by_key:
        _store_in_cache(cache, cache_key, fetch.resources_by_key)
    # FhirClient words an HTTP refusal "<what>: HTTP <status>"; a gone or unknown Patient is not a retryable fault
    patient_problem = next((reason for key, reason in fetch.problems.items() if key == _PATIENT_KEY), "")
    record.patient_not_found = patient_problem.endswith((": HTTP 404", ": HTTP 410"))
    return [f"{key}: {reason}" for key, reason in fetch.problems.items()]


# -- cache ------------------------------------------------------------------------------------------


def _take_from_cache(
    cache: Cache | None,
    cache_key: Hashable,
    missing: list[EvidenceQuery],
    by_key: dict[str, list[dict[str, Any]]],
    record: GatheredRecord,
) -> list[EvidenceQuery]:
    """Fill `by_key` from a fresh cache entry; returns the keys still to fetch."""
    entry = cache.get(cache_key) if cache is not None else None
    if not isinstance(entry, dict):
        return missing
    still_missing = []
    for query in missing:
        if query.key in entry and query.key not in NEVER_CACHED_KEYS:
            by_key[query.key] = json.loads(entry[query.key])
            record.cached_keys.append(query.key)
        else:
            still_missing.append(query)
    return still_missing


def _store_in_cache(cache: Cache, cache_key: Hashable, fetched: Mapping[str, list[dict[str, Any]]]) -> None:
    entry = dict(cache.get(cache_key) or {})
    # stored as JSON text: every reader gets its own copy, so nobody can change a cached resource
    entry.update({key: json.dumps(resources) for key, resources in fetched.items() if key not in NEVER_CACHED_KEYS})
    cache.put(cache_key, entry)


# -- fetching ---------------------------------------------------------------------------------------


@dataclass
class _FetchOutcome:
    resources_by_key: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _fetch_in_parallel(
    queries: list[EvidenceQuery],
    context: Mapping[str, Any],
    fhir_server: str,
    bearer_token: str | None,
    client_factory: ClientFactory,
    deadline: float,
    executor: Executor,
    bulkhead: threading.BoundedSemaphore,
) -> _FetchOutcome:
    outcome = _FetchOutcome()
    if not queries:
        return outcome
    futures: dict[Future[list[dict[str, Any]]], str] = {}
    try:
        client = client_factory(fhir_server, bearer_token)
        for query in queries:
            # the bulkhead: wait (in this request thread, never in a fetch thread) for this server's share
            if not bulkhead.acquire(timeout=max(0.0, deadline - time.monotonic())):
                outcome.problems[query.key] = "too many fetches in flight to this FHIR server"
                continue
            try:
                future = executor.submit(_fetch_one, client, query, context, deadline)
            except BaseException:
                bulkhead.release()
                raise
            future.add_done_callback(lambda _done: bulkhead.release())  # also when cancelled below
            futures[future] = query.key
    except FhirUnavailable as error:
        _cancel_all(futures)
        outcome.problems = {query.key: error.reason for query in queries}
        return outcome
    except Exception:  # boundary: a broken factory or executor is a technical problem, not a 500
        log.exception("could not start FHIR fetches")
        _cancel_all(futures)
        outcome.problems = {query.key: "could not start fetching" for query in queries}
        return outcome

    done, _ = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    for future, key in futures.items():
        if future not in done:
            future.cancel()  # still queued: never start it; running: the client's watchdog ends it at the deadline
            outcome.problems[key] = "no answer before the deadline"
            continue
        try:
            outcome.resources_by_key[key] = future.result()
        except FhirUnavailable as error:
            outcome.problems[key] = error.reason
        except Exception:  # boundary: a bug in one fetch must not turn the hook call into a 500
            log.exception("FHIR fetch of %s failed unexpectedly", key)
            outcome.problems[key] = "unexpected error"
    outcome.warnings = list(client.warnings)
    return outcome


def _cancel_all(futures: Iterable[Future[Any]]) -> None:
    for future in futures:
        future.cancel()


def _fetch_one(
    client: FhirClient, query: EvidenceQuery, context: Mapping[str, Any], deadline: float
) -> list[dict[str, Any]]:
    target = render_template(query.template, context)
    if target is None:
        raise FhirUnavailable(f"{query.resource_type}: query template could not be filled")
    if query.is_read:
        return [client.read(target, deadline)]
    return client.search(target, deadline)


def _default_client_factory(limits: FetchLimits) -> ClientFactory:
    def make_client(base_url: str, bearer_token: str | None) -> FhirClient:
        return FhirClient(base_url, bearer_token, limits=limits)

    return make_client


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def shared_executor(max_workers: int = 32) -> ThreadPoolExecutor:
    """The process-wide pool for FHIR fetches; `max_workers` counts only on the first call.

    `gather_record` sizes it at twice the per-server bulkhead: one slow server leaves half the threads free.
    """
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fhir-fetch")
        return _executor
