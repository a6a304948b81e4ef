"""The alert rules and the Grafana dashboard, checked by the real promtool and against the metrics the service exposes.

promtool is Debian's `prometheus` package (`make system-deps` installs it). `check rules` parses every rule's
PromQL; `test rules` runs alerts.test.yml (each alert fires on the series it is written for). The dashboard's
queries are parsed by promtool too, as recording rules, after Grafana's variables are filled in.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import cds_service.observability.metrics  # noqa: F401 - registers every metric the service exposes

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "facet-cds-dashboard.json"
METRIC_NAME = re.compile(r"\b(cds_[a-z0-9_]+)\b")
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$hook": ".*"}


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool not found: `make system-deps` installs Debian's prometheus package, which ships it"
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def exposed_sample_names() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("cds_"):
            continue
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}[family.type]
        names.update(family.name + suffix for suffix in suffixes)
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return queries


def rule_queries() -> list[str]:
    return [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", str(RULES), cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_each_alert_fires_on_the_series_it_is_written_for() -> None:
    result = promtool("test", "rules", "alerts.test.yml", cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_cover_errors_latency_fhir_database_and_readiness() -> None:
    names = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    assert {"FacetCdsErrorRate", "FacetCdsLatencyP99High", "FacetCdsFhirFailures", "FacetCdsDatabaseErrors",
            "FacetCdsNotReady"} <= names


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    rules = []
    for i, query in enumerate(dashboard_queries()):
        if query.startswith("label_values("):  # Grafana's own function, not PromQL
            continue
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        assert "$" not in query, f"a Grafana variable the test does not know: {query}"
        rules.append({"record": f"dashboard:query_{i}", "expr": query})
    (tmp_path / "dashboard-as-rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": rules}]}))
    result = promtool("check", "rules", "dashboard-as-rules.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("source", ["alert rules", "dashboard"])
def test_every_metric_named_is_one_the_service_exposes(source: str) -> None:
    queries = rule_queries() if source == "alert rules" else dashboard_queries()
    used = {name for query in queries for name in METRIC_NAME.findall(query)}
    assert used, "no cds_ metric found: the pattern is broken"
    assert used - exposed_sample_names() == set()


def test_the_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "facet-cds"
    assert all(panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"} for panel in dashboard["panels"])
    assert all(0 <= panel["gridPos"]["x"] and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
               for panel in dashboard["panels"])
