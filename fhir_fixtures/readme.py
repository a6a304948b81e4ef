"""The scenario table of fhir_fixtures/README.md, between its markers (the rest of the README is prose)."""
from __future__ import annotations

TABLE_START, TABLE_END = "<!-- scenarios:start -->", "<!-- scenarios:end -->"


def _decisions(doc: dict) -> str:
    return ", ".join(f"{e['revision'] or 'none'}: {e['decision']}" for e in doc["expected"]) or "no determination"


def _patient_name(doc: dict) -> str:
    patient = next(e["resource"] for e in doc["record"]["entry"] if e["resource"]["id"] == doc["patientId"])
    name = patient["name"][0]
    return f"{' '.join(name['given'])} {name['family']}"


def table(docs: list[dict]) -> list[str]:
    rows = ["| scenario id | patient id (synthetic name) | purpose | expected |", "|---|---|---|---|"]
    for doc in docs:
        star = " ★" if doc.get("demo") else ""
        rows.append(f"| `{doc['id']}`{star} | `{doc['patientId']}` ({_patient_name(doc)}) | {doc['purpose']} "
                    f"| {_decisions(doc)} |")
    return rows


def readme_with_table(text: str, docs: list[dict]) -> str:
    """`text` with the table between the markers replaced by one row per scenario."""
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_START}\n" + "\n".join(table(docs)) + f"\n{TABLE_END}{tail}"
