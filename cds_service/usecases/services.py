"""`Services`: the running service's collaborators, built once per process by `app.build_services`.

One object for everything a call needs (issue 9): the routes read the trust collaborators (clients, keys,
replay store, allow-list) and the use cases the policy, the store and the record cache. Knows nothing of HTTP.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cds_service.cdshooks.discovery import ServiceDefinition
from cds_service.cdshooks.presentation import CardSettings
from cds_service.cdshooks.request import HookRequest
from cds_service.fhir_access.cache import RecordCache
from cds_service.policy.library import PolicyLibrary
from cds_service.security import ClientRegistry, FhirServerAllowlist, JwksProvider, ReplayStore
from cds_service.settings import Settings
from cds_service.storage.store import Store
from cds_service.usecases.order_hooks import answer_order_hook
from cds_service.usecases.patient_view import answer_patient_view


@dataclass
class Services:
    """Everything the routes and use cases need; one instance per app (per worker process)."""

    settings: Settings
    library: PolicyLibrary
    store: Store
    record_cache: RecordCache
    hash_key: bytes  # keys the hashes of patient and resource ids in logs and the audit
    today: Callable[[], date]
    clients: ClientRegistry
    jwks: JwksProvider
    replay: ReplayStore
    dev_allowlist: FhirServerAllowlist  # the fhirServer allow-list when CDS_AUTH=off
    definitions: list[ServiceDefinition] = field(default_factory=list)  # the CDS services offered
    fetch_executor: Executor | None = None  # FHIR fetches run here; None: the process-wide pool

    @property
    def card_settings(self) -> CardSettings:
        s = self.settings
        return CardSettings(plan_name=s.plan_name, policy_url=s.policy_url, pa_needed=s.pa_needed,  # type: ignore[arg-type]
                            documentation_app_url=s.documentation_app_url)

    def service(self, service_id: str) -> ServiceDefinition | None:
        return next((s for s in self.definitions if s.id == service_id), None)

    def answer(self, service: ServiceDefinition, hook_request: HookRequest, client: str | None) -> dict[str, Any]:
        if service.hook == "patient-view":
            return answer_patient_view(self, hook_request, service_id=service.id, client=client)
        return answer_order_hook(self, hook_request, service_id=service.id, client=client)
