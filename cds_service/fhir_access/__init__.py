"""Everything that reads FHIR: a CDS Hooks request in, the patient's raw FHIR resources (plain dicts) out.

    limits = FetchLimits.from_env(os.environ)
    record = gather_record(hook_request, limits=limits, cache=RecordCache(), issuer=iss)  # a parsed HookRequest

Modules, one job each:
    queries  what each evidence key holds and the query for it (also the discovery `prefetch`)
    limits   time, page, size and count limits (`CDS_FHIR_TIMEOUT_S`, ...)
    client   `FhirClient`: one distrustful FHIR REST client (no redirects, bounded bodies and paging)
    source   `gather_record`: prefetch first, parallel fetches under one deadline
    prefetch what the client prefetched, and which keys must be fetched instead
    patient_filter  only the patient's own resources, whatever the server did with the search parameters
    cache    `RecordCache`: order-select's fetches reused by order-sign

Errors (only these leave the package; FHIR server trouble is `GatheredRecord.technical_problem`), in the
service's one tree (cds_service/errors.py; api/errors.py answers them):
    FhirAccessError
      + FhirUnavailable      an UpstreamError: the FHIR server failed (raised by FhirClient; caught by gather_record)
      + PrefetchUnavailable  a PreconditionFailed: data neither prefetched nor fetchable (no fhirServer): HTTP 412
"""
from cds_service.fhir_access.cache import RecordCache
from cds_service.fhir_access.client import (
    FhirAccessError,
    FhirClient,
    FhirUnavailable,
    new_session,
    shared_session,
)
from cds_service.fhir_access.limits import FetchLimits
from cds_service.fhir_access.queries import (
    EVIDENCE_QUERIES,
    PREFETCH_TEMPLATES,
    EvidenceQuery,
    render_template,
)
from cds_service.fhir_access.source import (
    DroppedResource,
    GatheredRecord,
    PrefetchUnavailable,
    RecordRequest,
    gather_record,
    select_coverage,
)

__all__ = [
    "EVIDENCE_QUERIES",
    "PREFETCH_TEMPLATES",
    "DroppedResource",
    "EvidenceQuery",
    "FetchLimits",
    "FhirAccessError",
    "FhirClient",
    "FhirUnavailable",
    "GatheredRecord",
    "PrefetchUnavailable",
    "RecordCache",
    "RecordRequest",
    "gather_record",
    "new_session",
    "render_template",
    "select_coverage",
    "shared_session",
]
