"""The typed way the HTTP layer reaches the running service and the call's verified client.

    svc = services()          # the app's `Services` (built once by app.create_app), typed
    remember_caller(client)   # after JWT verification: the refusal audit names the client

Routes pass what their helpers need as arguments; the only per-call state kept on the request is the
verified caller, written and read here alone, for the after-request refusal audit.
"""
from __future__ import annotations

from flask import Flask, current_app, g

from cds_service.security import TrustedClient
from cds_service.usecases.services import Services

EXTENSION = "facet_cds"


def install_services(app: Flask, svc: Services) -> None:
    app.extensions[EXTENSION] = svc


def services() -> Services:
    """The running app's `Services` (inside a request or app context)."""
    found = current_app.extensions[EXTENSION]
    if not isinstance(found, Services):
        raise TypeError(f"app.extensions[{EXTENSION!r}] is a {type(found).__name__}, not Services")
    return found


def services_if_installed() -> Services | None:
    """`services()`, or None for an app built without them."""
    found = current_app.extensions.get(EXTENSION)
    return found if isinstance(found, Services) else None


def remember_caller(client: TrustedClient) -> None:
    g.client = client


def caller() -> TrustedClient | None:
    """The client whose JWT this call verified, if any (None with CDS_AUTH=off or before verification)."""
    client = g.get("client")
    return client if isinstance(client, TrustedClient) else None
