"""The policy data: every criterion id of each revision, strict loading, revision by date."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cds_service.evaluation.checks import CHECK_PARAMS
from cds_service.policy.library import DATA_DIR, PolicyLibrary
from cds_service.policy.loader import PolicyDataError
from cds_service.usecases.engine import default_library, load_library

# Pinned by contract §4 "Criterion ids": none missing, none invented, in this order.
IDS_2026_05 = ["I", "I.A", "I.A.1", "I.A.1.a", "I.A.1.b", "I.A.1.b.i", "I.A.1.b.i Note", "I.A.1.b.ii", "I.A.1.c",
               "I.A.1.d", "I.A.1.e", "I.A.1.f", "I.A.1 Note", "I.B", "I.B.1.a", "I.B.1.b", "I.B.1.c", "I.B.2.a",
               "I.B.2.b", "I.B.2.c", "I.C", "I.D", "I.D.1", "I.D.2", "I.D.3", "I.D.4", "I.E", "I.F", "Table 2"]
IDS_2019 = ["I", "I.A", "I.A.1", "I.A.2", "I.A.3", "I.A.3.a", "I.A.3.b", "I.A.3.c", "I.A.3bis", "I.A.4", "I.A Note",
            "II.A.1", "II.A.2", "II.A.3", "II.B.1", "II.B.2", "II.B.3", "III", "IV", "V"]


def test_published_revisions_have_exactly_the_pinned_criterion_ids():
    lib = default_library()
    assert list(lib.get("2026-05").criterion_ids) == IDS_2026_05
    assert list(lib.get("2019").criterion_ids) == IDS_2019
    assert lib.get("2026-05").provenance == "published" and lib.get("2019").provenance == "published"


@pytest.mark.parametrize(
    "day, expected",
    [
        (date(2019, 6, 30), None),
        (date(2019, 7, 1), "2019"),          # effective date is inclusive
        (date(2024, 5, 31), "2019"),
        (date(2026, 4, 30), "2025-05"),
        (date(2026, 5, 1), "2026-05"),
        (date(2030, 1, 1), "2026-05"),
    ],
)
def test_revision_in_force_is_the_latest_effective_on_or_before_the_date(day, expected):
    revision = default_library().revision_for(day)
    assert (revision.revision if revision else None) == expected


def test_the_plan_can_move_an_effective_date():
    lib = load_library({"2026-05": date(2026, 7, 1)})
    assert lib.revision_for(date(2026, 6, 15)).revision == "2025-05"
    assert lib.revision_for(date(2026, 7, 1)).revision == "2026-05"


def test_every_attestable_criterion_is_in_the_questionnaire():
    from cds_service.cdshooks.questionnaire import questionnaire_for

    for revision in default_library().revisions:
        q = questionnaire_for(revision)
        assert q["version"] == revision.revision
        assert [i["linkId"] for i in q["item"]] == [c.id for c in revision.criteria if c.attestable]
        assert all(i["type"] == "boolean" for i in q["item"])


def _copy_data(tmp_path: Path) -> Path:
    for f in DATA_DIR.iterdir():
        if f.suffix in (".toml", ".json"):
            (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.replace('check = "guidance"', 'check = "guidance"\nsurprise = 1', 1), "unknown keys"),
        (lambda t: t.replace('title = "Facet Joint Interventions"', 'title = "Facet Joint Interventions"\ntitle = "x"', 1), "a key is given twice"),
        (lambda t: t.replace("params = { max_levels = 3 }", "params = { max_level = 3 }", 1), "takes no parameters"),
        (lambda t: t.replace('check = "level_count"', 'check = "levels_count"', 1), "unknown check"),
        (lambda t: t.replace('id = "I.A"', 'id = "I"', 1), "duplicate criterion id"),
        (lambda t: t.replace('"excl-spinal-tumor"', '"excl-spinal-tumour"', 1), "unknown value sets"),
        (lambda t: t.replace('applies_to = ["rf-initial"]', 'applies_to = ["rf-first"]', 1), "unknown order kinds"),
        (lambda t: t.replace("effective = 2026-05-01", 'effective = "May 2026"', 1), "'effective' must be a TOML date"),
        (lambda t: t.replace("effective = 2026-05-01", "effective = 2026-06-01", 1), "named by its effective date"),
    ],
)
def test_malformed_revision_data_fails_loudly_at_start_up(tmp_path, mutate, message):
    data = _copy_data(tmp_path)
    f = data / "2026-05-01.toml"
    f.write_text(mutate(f.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(PolicyDataError) as err:
        PolicyLibrary.load(CHECK_PARAMS, directory=data)
    assert "2026-05-01.toml" in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('"code": "M47.816"', '"code": "M47816X"', "not a valid code"),
        ('"code": "64493"', '"code": "6449"', "not a valid code"),
        ('"system": "http://loinc.org"', '"system": "http://loinc.example"', "unknown code system"),
        ('"verified": "yes"', '"verified": "probably"', "verified"),
    ],
)
def test_bad_codes_in_value_sets_fail_loudly(tmp_path, old, new, message):
    data = _copy_data(tmp_path)
    f = data / "valuesets.json"
    text = f.read_text(encoding="utf-8")
    assert old in text
    f.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PolicyDataError, match=message):
        PolicyLibrary.load(CHECK_PARAMS, directory=data)


def test_duplicate_keys_in_value_sets_fail_loudly(tmp_path):
    data = _copy_data(tmp_path)
    f = data / "valuesets.json"
    text = f.read_text(encoding="utf-8")
    f.write_text(text.replace('"_about":', '"excl-myelopathy": [], "_about":', 1), encoding="utf-8")
    with pytest.raises(PolicyDataError, match="duplicate key"):
        PolicyLibrary.load(CHECK_PARAMS, directory=data)


def test_unverified_codes_are_kept_for_review_but_never_matched():
    vs = default_library().valuesets
    rx = "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert vs.contains("med-nsaid-rxnorm-ingredients", rx, "5640")       # ibuprofen, verified
    assert not vs.contains("med-nsaid-rxnorm-ingredients", rx, "24605")  # etodolac, verified "no"


def test_icd_headers_match_their_descendants():
    vs = default_library().valuesets
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    assert vs.contains("excl-spinal-fracture", icd, "S32.010A")
    assert not vs.contains("excl-spinal-fracture", icd, "S42.001A")


# --- the typed parameter model: what a revision file gets wrong fails at load, naming file, criterion, parameter

def _load_with(tmp_path: Path, name: str, old: str, new: str) -> PolicyDataError:
    data = _copy_data(tmp_path)
    f = data / name
    text = f.read_text(encoding="utf-8")
    assert old in text, old
    f.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PolicyDataError) as err:
        load_library(directory=data)
    return err.value


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("params = { max_levels = 3 }", 'params = { max_levels = "3" }',
         ["criterion #10 (I.A.1.d)", "'max_levels' must be a whole number, not '3'"]),
        ("min_relief_percent = 80, min_interval_days = 14, every_repeat = false",
         "min_relief_percent = 80, every_repeat = false",
         ["criterion #11 (I.A.1.e)", "parameter 'min_interval_days' is missing"]),
        ("params = { max_blocks = 2 }", "params = { }", ["(I.A.1)", "parameter 'max_blocks' is missing"]),
        ("params = { max_blocks = 2 }", "params = { max_blocks = 2, max_block = 3 }",
         ["(I.A.1)", "takes no parameters ['max_block']"]),
        ("every_repeat = false", 'every_repeat = "no"', ["(I.A.1.e)", "'every_repeat' must be true or false"]),
        ('prior = "rf"', 'prior = "rfa"', ["(I.B.2.b)", "'prior' must be one of ['rf', 'therapeutic-injection']"]),
        ('"dx-facet-synovial-cyst"', '"dx-synovial-cyst"', ["(I.A.1.b.i Note)", "unknown value sets ['dx-synovial-cyst']"]),
        ('exception_criterion = "I.A.1.b.i Note"', 'exception_criterion = "I.A.1.b.i note"',
         ["'I.A.1.b.i'", "'exception_criterion' names 'I.A.1.b.i note'"]),
        ('"ct-home-exercise-program"] }', '"ct-home-exercise-program", "ct-chiropractic-2019-only"] }',
         ["(I.A.1.b)", "value sets ['ct-chiropractic-2019-only'] belong to another revision"]),
        ('fix = "levels"', 'fix = "level"', ["(I.A.1.d)", "'level' is not a valid Fix"]),
        ('decidable_at = "order-select"', 'decidable_at = "order-selct"', ["'order-selct' is not a valid DecidableAt"]),
        ('check = "ultrasound_not_covered"\napplies_to = ["all"]\ndecidable_at = "order-select"\nfix = "fluoroscopic-code"\n'
         'params = { codes = ["0213T", "0214T", "0215T", "0216T", "0217T", "0218T"] }',
         'check = "ultrasound_not_covered"\napplies_to = ["all"]\ndecidable_at = "order-select"\nfix = "levels"\n'
         'params = { codes = ["0213T", "0214T", "0215T", "0216T", "0217T", "0218T"] }',
         ["'Table 2'", "fix = 'levels' needs a check with a 'max_levels' parameter"]),
    ],
    ids=["threshold-as-string", "missing-threshold", "missing-only-threshold", "unknown-parameter",
         "bool-as-string", "unknown-prior", "unknown-value-set", "unknown-exception-criterion",
         "another-revisions-value-set", "unknown-fix",
         "unknown-decidable-at", "levels-fix-without-limit"],
)
def test_a_malformed_parameter_fails_at_load_naming_file_criterion_and_parameter(tmp_path, old, new, expected):
    message = str(_load_with(tmp_path, "2026-05-01.toml", old, new))
    assert message.startswith("2026-05-01.toml: ")
    for part in expected:
        assert part in message


def test_a_value_set_renamed_in_valuesets_json_fails_naming_the_first_revision_that_uses_it(tmp_path):
    message = str(_load_with(tmp_path, "valuesets.json", '"excl-myelopathy":', '"excl-myelopathies":'))
    # 2019 does not use it; 06/24 is the first revision that does.
    assert message.startswith("2024-06-01.toml: criterion #9 (I.A.1.c)")
    assert "unknown value sets ['excl-myelopathy']" in message


def test_a_value_set_the_engine_relies_on_fails_when_renamed(tmp_path):
    message = str(_load_with(tmp_path, "valuesets.json", '"lab-egfr-loinc":', '"lab-egfr":'))
    assert message == "valuesets.json: value sets the engine relies on are missing: ['lab-egfr-loinc']"


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ('family = "pulsed-rf"', 'family = "pulsed"', "code #17 (64999): 'pulsed' is not a valid Family"),
        ('fluoroscopic = "64493"', 'fluoroscopic = "64633"', "fluoroscopic 64633 must be an injection code"),
        ('code = "64495"', 'code = "64494"', "code 64494 is given twice"),
        ('"27096",', '"27096", "64493",', "'other_interventional' lists in-scope codes ['64493']"),
    ],
)
def test_a_malformed_scope_table_fails_at_load(tmp_path, old, new, expected):
    message = str(_load_with(tmp_path, "scope.toml", old, new))
    assert message.startswith("scope.toml: ") and expected in message


def test_revision_roles_and_limits_come_from_the_data():
    """What the cards act on: decidable at order-select, the fix, the level limit (not ids in code)."""
    from cds_service.evaluation.check_params import MaxLevels, TherapyTrial
    from cds_service.policy.terms import DecidableAt, Fix

    for revision in default_library().revisions:
        levels = [c for c in revision.criteria if c.fix is Fix.LEVELS]
        assert levels and all(c.check == "level_count" and c.decidable_at is DecidableAt.ORDER_SELECT for c in levels)
        assert {c.params.max_levels for c in levels if isinstance(c.params, MaxLevels)} == {3}
    assert [c.id for c in default_library().get("2019").criteria if c.decidable_at is DecidableAt.ORDER_SELECT] == [
        "I.A.1", "I.A.4", "II.A.3", "II.B.1", "II.B.3", "III", "IV", "V"]
    trial = default_library().get("2026-05").criterion("I.A.1.b.i")
    assert isinstance(trial.params, TherapyTrial) and trial.params.exception is not None
    assert trial.params.exception.min_pain_score == 4  # the Note's own parameter, not a literal in the check


def test_the_service_refuses_to_start_on_a_broken_revision_file_and_says_which(tmp_path):
    """A real `python -m cds_service serve` of a deployment whose revision file has a mistyped threshold."""
    import os
    import shutil
    import subprocess
    import sys

    import cds_service

    package = Path(cds_service.__file__).resolve().parent
    shutil.copytree(package, tmp_path / "cds_service", ignore=shutil.ignore_patterns("__pycache__"))
    broken = tmp_path / "cds_service" / "policy" / "data" / "cp-mp-171" / "2026-05-01.toml"
    broken.write_text(broken.read_text(encoding="utf-8").replace(
        "params = { max_levels = 3 }", 'params = { max_levels = "three" }', 1), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "CDS_AUTH": "off",
           "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}"}
    done = subprocess.run([sys.executable, "-m", "cds_service", "serve", "--port", "1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert ("cannot start: 2026-05-01.toml: criterion #10 (I.A.1.d): check 'level_count' parameter 'max_levels' "
            "must be a whole number, not 'three'") in done.stderr
    assert "Traceback" not in done.stderr and "CDS Hooks discovery" not in done.stdout


def test_a_new_revision_is_a_data_file_down_to_the_cards(tmp_path):
    """A hypothetical 01/27 revision allowing two levels: only a TOML file; the engine and the cards follow it."""
    from cds_service.cdshooks.cards import build_cards
    from cds_service.cdshooks.presentation import CardSettings
    from cds_service.evaluation.evaluator import evaluate
    from cds_service.policy.conventions import CPT

    data = _copy_data(tmp_path)
    text = (data / "2026-05-01.toml").read_text(encoding="utf-8")
    for old, new in [('revision = "2026-05"', 'revision = "2027-01"'), ('label = "05/26"', 'label = "01/27"'),
                     ("effective = 2026-05-01", "effective = 2027-01-01")]:
        text = text.replace(old, new, 1)
    (data / "2027-01-01.toml").write_text(text.replace("max_levels = 3", "max_levels = 2"), encoding="utf-8")
    library = load_library(directory=data)
    order = {"resourceType": "ServiceRequest", "id": "sr-1", "status": "draft", "intent": "order",
             "code": {"coding": [{"system": CPT, "code": "64493"}]}, "subject": {"reference": "Patient/p"},
             "occurrenceDateTime": "2027-02-01",
             "bodySite": [{"text": "L3-L4"}, {"text": "L4-L5"}, {"text": "L5-S1"}]}

    evaluation = evaluate(library, [], [order], today=date(2027, 2, 1))
    (determination,) = evaluation.determinations
    assert determination.revision_id == "2027-01" and determination.max_levels == 2
    assert {c.criterion_id: c.status.value for c in determination.criteria}["I.A.1.d"] == "not-met"
    cards = build_cards(evaluation.determinations, hook="order-select",
                        settings=CardSettings(plan_name="Plan", policy_url="https://plan.example/p"),
                        new_uuid=lambda: "00000000-0000-4000-8000-000000000001", orders_by_id={"sr-1": order})
    proposal = next(c for c in cards if c["source"]["topic"]["code"] == "therapy-alternatives-req")
    assert proposal["summary"].endswith("treat L3-L4, L4-L5 only")
    assert "no more than 2 spinal levels per session (I.A.1.d); this keeps the first two" in proposal["detail"]


def test_level_limits_of_one_order_kind_must_agree(tmp_path):
    """I.A.1.d and a second levels criterion for the same kind with another limit: the card could not choose."""
    old = 'id = "I.D.4"'
    text = (DATA_DIR / "2026-05-01.toml").read_text(encoding="utf-8")
    block = text[text.index(old):]
    block = block[:block.index("[[criterion]]")]
    assert 'applies_to = ["therapeutic-injection"]' in block
    twin = block.replace(old, 'id = "I.D.5"').replace('applies_to = ["therapeutic-injection"]',
                                                      'applies_to = ["diagnostic-block"]').replace(
        "max_levels = 3", "max_levels = 2")
    message = str(_load_with(tmp_path, "2026-05-01.toml", block, block + "[[criterion]]\n" + twin))
    assert "the fix = 'levels' criteria for a diagnostic-block order give different max_levels [2, 3]" in message
