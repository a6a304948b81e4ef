"""deploy/k8s/: valid against the Kubernetes schemas (kubernetes-validate, offline), and consistent with the service.

Beyond the schemas: the pieces reference each other (ConfigMap, Secret keys, ports, selectors), the settings
are variables the service reads, and the pod is locked down as deploy/README.md says.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.37.0"  # the newest schemas the pinned kubernetes-validate bundles


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> the one resource of that kind (every manifest but the kustomization)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            assert document["kind"] not in found, f"two {document['kind']}s"
            found[document["kind"]] = document
    return found


def container() -> dict[str, Any]:
    (only,) = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("path", sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"))
def test_each_manifest_is_valid_against_the_kubernetes_schemas(path: str) -> None:
    for document in yaml.safe_load_all((K8S / path).read_text()):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)  # strict: no unknown fields


def test_the_validator_rejects_a_broken_manifest() -> None:
    broken = manifests()["Deployment"]
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = broken["spec"]["template"]["spec"][
        "containers"][0].pop("readinessProbe")  # a typo a reviewer could miss
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}


def test_the_kinds_a_replicated_deployment_needs_are_all_there() -> None:
    assert set(manifests()) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                                "ConfigMap", "Secret", "NetworkPolicy"}


def test_probes_hit_the_health_endpoints_on_the_served_port() -> None:
    c = container()
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    (port,) = c["ports"]
    data = manifests()["ConfigMap"]["data"]
    assert data["PORT"] == str(port["containerPort"])  # the image's `serve` listens on $PORT
    assert {c[p]["httpGet"]["port"] for p in ("livenessProbe", "readinessProbe", "startupProbe")} == {port["name"]}
    assert manifests()["Service"]["spec"]["ports"][0]["targetPort"] == port["name"]
    pod = manifests()["Deployment"]["spec"]["template"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port["containerPort"])


def test_the_pod_runs_non_root_on_a_read_only_root_with_writable_scratch_dirs() -> None:
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    c = container()
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False and c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert c["resources"]["requests"] and c["resources"]["limits"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert mounts["/tmp"] in empty_dirs
    assert mounts[manifests()["ConfigMap"]["data"]["PROMETHEUS_MULTIPROC_DIR"]] in empty_dirs


def test_settings_and_secrets_are_variables_the_service_reads() -> None:
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", (DEPLOY / "env.example").read_text(), re.M))
    config = manifests()["ConfigMap"]["data"]
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container()["env"]}
    assert set(config) - documented == set()
    assert set(secret_env) == {"CDS_HASH_KEY", "CDS_ADMIN_TOKEN", "CDS_DATABASE_URL"}
    assert set(secret_env) <= documented


def test_every_reference_resolves() -> None:
    kinds = manifests()
    secret, config = kinds["Secret"], kinds["ConfigMap"]
    c = container()
    assert c["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    for ref in (e["valueFrom"]["secretKeyRef"] for e in c["env"]):
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    clients = next(v for v in kinds["Deployment"]["spec"]["template"]["spec"]["volumes"] if v["name"] == "clients")
    assert clients["secret"]["secretName"] == secret["metadata"]["name"]
    mount = next(m for m in c["volumeMounts"] if m["name"] == "clients")
    assert f"{mount['mountPath']}/{clients['secret']['items'][0]['path']}" == config["data"]["CDS_CLIENTS_FILE"]
    assert clients["secret"]["items"][0]["key"] in secret["stringData"]
    pod_labels = kinds["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
        spec = kinds[kind]["spec"]
        selector = spec["selector"] if kind == "Service" else spec.get("selector", spec.get("podSelector"))["matchLabels"]
        assert selector.items() <= pod_labels.items(), kind
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == kinds["Deployment"]["metadata"]["name"]
    assert kinds["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2  # several replicas, always


def test_draining_fits_in_the_grace_period() -> None:
    drain = float(manifests()["ConfigMap"]["data"]["CDS_DRAIN_SECONDS"])
    grace = manifests()["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > drain + 20  # gunicorn's graceful_timeout is 20 s on top of the drain (deploy/gunicorn.conf.py)


def test_the_secret_placeholders_fail_closed() -> None:
    data = manifests()["Secret"]["stringData"]
    assert len(data["CDS_HASH_KEY"]) < 32  # the service refuses a key this short: no deployment on the placeholder
    assert data["CDS_ADMIN_TOKEN"] == ""  # admin disabled until someone sets a real token


def test_env_example_documents_every_variable_the_service_reads() -> None:
    source = "\n".join(p.read_text() for p in (DEPLOY.parent / "cds_service").rglob("*.py"))
    source += (DEPLOY / "gunicorn.conf.py").read_text()
    internal = {"CDS_GENERATED_HASH_KEY", "CDS_SERVE_ADDRESS"}  # set by the server for its own workers
    read = set(re.findall(r"[\"']((?:CDS|GUNICORN)_[A-Z0-9_]+)[\"']", source)) - internal
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", (DEPLOY / "env.example").read_text(), re.M))
    assert read - documented == set(), "add these to deploy/env.example"


def test_the_kustomization_renders_to_valid_resources() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # not a Debian package; the file-level checks above still run everywhere
        pytest.skip("kubectl not installed: kustomize rendering not checked")
    rendered = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True)
    documents = list(yaml.safe_load_all(rendered.stdout))
    assert {d["kind"] for d in documents} == set(manifests()) - {"Secret"}
    for document in documents:
        assert document["metadata"]["labels"]["app.kubernetes.io/part-of"] == "facet-cds"
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
