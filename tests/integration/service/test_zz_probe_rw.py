import json
from tests.conftest import FHIR_TOKEN
from tests.integration.service.hook_bodies import hook_body, coverage_decisions
from tests.integration.service.test_real_world_scenarios import _with_full_urls
from tests.support.scenarios import rw_scenarios

def test_probe(service, fhir_server):
    out = {}
    for s in rw_scenarios():
        for mode in ("p", "f"):
            body = _with_full_urls(hook_body(s, "order-sign"), s) if mode == "p" else hook_body(s, "order-sign", fhir_server=fhir_server, token=FHIR_TOKEN, prefetch=False)
            r = service.hook("facet-order-sign", body)
            if r.status_code != 200:
                out[s["id"] + mode] = {"status": r.status_code, "text": r.text[:500]}; continue
            b = r.json()
            rows = [l for c in b["cards"] for l in c.get("detail", "").splitlines() if ("not met" in l or "needs documentation" in l) and l.startswith("| ")]
            out[s["id"] + mode] = {"dec": coverage_decisions(b), "sum": [c["summary"] for c in b["cards"]], "rows": rows}
    open("/tmp/rwprobe/all.json", "w").write(json.dumps(out, indent=1))
