"""The scenarios. Each states its expectation and the clause it rests on, written from the policy texts
(../shared/policy/) and contract §4 before the engine ever ran them.

Dates: 05/26 scenarios are dated 2026-11-20 (look-back from 2025-11-20); 2019 ones 2023-03-13.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhir_fixtures.real_world.builders import (
    CPT_OID,
    ICD10_OID,
    LOINC_OID,
    RXNORM_OID,
    SNOMED_OID,
    SNOMED_URL,
    THERAPEUTIC,
    Record,
    cc,
    coding,
)

DOS = "2026-11-20"
DOS_2019 = "2023-03-13"  # before any 05/26-log revision someone may reconstruct (07/23 onwards)
CASES: list[Callable[[], dict[str, Any]]] = []

LBP = ("M54.50", "Low back pain, unspecified")
SPONDY = ("M47.816", "Spondylosis without myelopathy or radiculopathy, lumbar region")
CERV_SPONDY = ("M47.812", "Spondylosis without myelopathy or radiculopathy, cervical region")
L_BLOCK = ("64493", "Inj paravertebral facet joint w/ img guidance, lumbar/sacral; single level")
L_BLOCK2 = ("64494", "Inj paravertebral facet joint w/ img guidance, lumbar/sacral; second level")
L_BLOCK3 = ("64495", "Inj paravertebral facet joint w/ img guidance, lumbar/sacral; third+ level")
C_BLOCK = ("64490", "Inj paravertebral facet joint w/ img guidance, cervical/thoracic; single level")
L_RF = ("64635", "Destruction paravertebral facet joint nerve, lumbar/sacral; single joint")
L_RF2 = ("64636", "Destruction paravertebral facet joint nerve, lumbar/sacral; each additional joint")
WEEKLY_PT = ["2026-06-01", "2026-06-08", "2026-06-15", "2026-06-22", "2026-06-29", "2026-07-06", "2026-07-13"]


def case(fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    CASES.append(fn)
    return fn


def scenario(rec: Record, sid: str, purpose: str, clause: str, trap: str, expected: list[dict[str, Any]],
             by_order: dict[str, str] | None = None, prefetch_only: str | None = None,
             settled: str | None = None) -> dict[str, Any]:
    record, orders = rec.bundles()
    out: dict[str, Any] = {"id": sid, "purpose": purpose, "clause": clause, "trap": trap, "patientId": rec.patient_id,
                           "realWorld": True, "record": record, "draftOrders": orders, "expected": expected}
    if by_order:
        out["expectedByOrder"] = by_order
    if prefetch_only:
        out["prefetchOnly"] = prefetch_only
    if settled:
        out["settled"] = settled
    return out


def exp(decision: str, criteria: dict[str, str], revision: str = "2026-05") -> list[dict[str, Any]]:
    return [{"revision": revision, "decision": decision, "criteria": criteria}]


def base(prefix: str, *, pain: bool = True, pt: bool = True, nsaid: bool = True, attest: tuple[str, ...] | None = None,
         **kw: Any) -> Record:
    """A 05/26 lumbar patient who meets everything unless a case takes a piece away."""
    r = Record(prefix, **kw)
    r.coverage()
    if pain:
        r.condition(*SPONDY, onset={"onsetDateTime": "2025-09-20"}, recorded="2025-09-22")
    if pt:
        r.pt_course(WEEKLY_PT)
    if nsaid:
        r.med_statement("7258", "naproxen", period=("2026-07-20", "2026-08-31"))
    # settled (all 05/26): I.A.1.b "failed to respond" needs evidence of failure after the therapy, which the
    # first draft left out; a pain score after the courses is what a chart would show.
    r.pain_score(7, "2026-10-30T15:00:00-05:00")
    r.attest(
        list(attest if attest is not None else ("I.A.1.a", "I.A.1.c", "I.A.1.f")), authored="2026-11-18T14:00:00-05:00"
    )
    return r


def base_2019(prefix: str, *, pt_dates: list[str] | None = None, **kw: Any) -> Record:
    r = Record(prefix, **kw)
    r.coverage()
    r.condition(*SPONDY, onset={"onsetDateTime": "2022-06-01"}, recorded="2022-06-03")
    r.pt_course(pt_dates or ["2022-10-03", "2022-10-10", "2022-10-17", "2022-10-24", "2022-10-31", "2022-11-07",
                              "2022-11-14", "2022-11-21"])
    r.med_statement("7258", "naproxen", period=("2022-11-28", "2023-01-09"))
    r.pain_score(7, "2023-02-06T15:00:00-05:00")  # settled: evidence the conservative therapy failed (2019 I.A.3)
    r.attest(["I.A.2", "I.A.3.c", "I.A.3bis"], authored="2023-03-09T10:00:00-05:00", revision="2019")
    return r


def first_block(r: Record, dos: str = DOS, sites: list[Any] | None = None) -> None:
    r.order(*L_BLOCK, dos, sites=sites or ["L4-L5"])


# ------------------------------------------------------------------------------------------ codes and systems
@case
def rw01() -> dict[str, Any]:
    r = Record("rw01")
    r.coverage()
    r.condition("M47816", SPONDY[1], system=ICD10_OID, onset={"onsetDateTime": "2025-09-20"}, recorded="2025-09-22")
    r.pt_course(WEEKLY_PT, system=CPT_OID)
    r.med_statement("7258", "naproxen", period=("2026-07-20", "2026-08-31"), system=RXNORM_OID)
    r.pain_score(7, "2026-10-30T15:00:00-05:00", system=LOINC_OID)
    r.attest(["I.A.1.a", "I.A.1.c", "I.A.1.f"], authored="2026-11-18T14:00:00-05:00")
    first_block(r)
    return scenario(
        r,
        "rw-01-oid-systems-undotted-icd-first-block",
        "Epic-style record: ICD-10 M47816 via urn:oid, PT CPT via OID, naproxen RxNorm via OID; first lumbar block",
        "05/26 I.A.1.b.i (>= 4 weeks PT), I.A.1.b.ii (NSAIDs >= 3 weeks); contract §4 Codes (OID aliases, ICD without "
        "dot)",
        "wrong-denial",
        exp("covered", {"I.A.1.b.i": "met", "I.A.1.b.ii": "met", "I.A.1": "met"}),
    )


@case
def rw02() -> dict[str, Any]:
    r = base("rw02", nsaid=False)
    r.med_request("7258", "naproxen 500 MG Oral Tablet", authored="2026-07-01", quantity=60, per_day=2)
    first_block(r)
    return scenario(
        r,
        "rw-02-nsaid-quantity-and-dosage-only",
        "Naproxen MedicationRequest with only quantity 60 and 1 tab twice daily (= 30 days), no supply duration",
        "05/26 I.A.1.b.ii NSAIDs >= three weeks; contract §4 NSAID days: quantity / daily dose",
        "wrong-denial",
        exp("covered", {"I.A.1.b.ii": "met"}),
    )


@case
def rw03() -> dict[str, Any]:
    r = base("rw03", nsaid=False)
    r.med_request("7258", "naproxen 500 MG Oral Tablet", authored="2026-06-01", validity=("2026-06-01", "2027-06-01"),
                  dosage_text="Take as directed")
    first_block(r)
    return scenario(
        r,
        "rw-03-nsaid-validity-period-is-not-supply",
        "Naproxen prescription with a 1-year validityPeriod, no quantity, no supply, dosage 'as directed'",
        "05/26 I.A.1.b.ii; contract §4: validityPeriod is the time it may be filled, not a supply; underivable course "
        "= documentation",
        "wrong-approval",
        exp("conditional", {"I.A.1.b.ii": "needs-documentation"}),
    )


@case
def rw04() -> dict[str, Any]:
    r = base("rw04", nsaid=False)
    r.med_request("5640", "ibuprofen 600 MG Oral Tablet", authored="2026-07-01", bounds_days=28)
    first_block(r)
    return scenario(
        r,
        "rw-04-nsaid-bounds-duration-28-days",
        "Ibuprofen order: dosage timing boundsDuration 28 days, no quantity or supply",
        "05/26 I.A.1.b.ii; contract §4: a duration stated in the dosage (boundsDuration)",
        "wrong-denial",
        exp("covered", {"I.A.1.b.ii": "met"}),
    )


@case
def rw05() -> dict[str, Any]:
    r = base("rw05", nsaid=False, vendor="cerner")
    r.med_request("41493", "meloxicam 15 MG Oral Tablet", authored="2026-07-01", supply_days=30, contained=True,
                  system=RXNORM_OID, quantity=30, per_day=1)
    first_block(r)
    return scenario(
        r,
        "rw-05-nsaid-contained-medication",
        "Cerner-style MedicationRequest whose medicationReference is '#med1', a contained Medication (meloxicam, "
        "RxNorm OID), 30-day supply",
        "05/26 I.A.1.b.ii; contract §4: a contained Medication is read like an inline code",
        "wrong-denial",
        exp("covered", {"I.A.1.b.ii": "met"}),
    )


@case
def rw06() -> dict[str, Any]:
    r = base("rw06", nsaid=False)
    r.med_statement("5640", "ibuprofen", period=("2026-09-01", None), status="active")
    first_block(r)
    return scenario(
        r,
        "rw-06-nsaid-open-ended-statement",
        "Only NSAID evidence: an active ibuprofen MedicationStatement started 2026-09-01, no end, no supply",
        "05/26 I.A.1.b.ii; contract §4: a course whose length cannot be derived is documentation, never '1 day'",
        "wrong-denial",
        exp("conditional", {"I.A.1.b.ii": "needs-documentation"}),
    )


@case
def rw07() -> dict[str, Any]:
    r = base("rw07", nsaid=False)
    r.med_statement("7258", "naproxen", period=("2026-08-01", "2026-08-14"))
    first_block(r)
    return scenario(
        r,
        "rw-07-nsaid-dated-course-14-days",
        "Only NSAID evidence: a completed naproxen course dated 2026-08-01..08-14 (14 days)",
        "05/26 I.A.1.b.ii NSAIDs >= three weeks: a dated course shorter than required is not met",
        "wrong-approval",
        exp("not-covered", {"I.A.1.b.ii": "not-met"}),
    )


# ------------------------------------------------------------------------------------------ physical therapy
@case
def rw08() -> dict[str, Any]:
    r = base("rw08", pt=False)
    r.procedure("97161", "PT evaluation, low complexity", when="2026-06-01")
    r.procedure(
        "229065009",
        "Exercise therapy (regime/therapy)",
        system=SNOMED_URL,
        period=("2026-06-01", "2026-07-20"),
        text="Home exercise program - lumbar stabilisation",
    )
    first_block(r)
    return scenario(
        r,
        "rw-08-home-exercise-performed-period",
        "PT evaluation plus one home-exercise Procedure (SNOMED 229065009) with performedPeriod 2026-06-01..07-20",
        "05/26 I.A.1.b.i >= four weeks PT or prescribed home exercise; contract §4: a performedPeriod spans its whole "
        "period",
        "wrong-denial",
        exp("covered", {"I.A.1.b.i": "met"}),
    )


@case
def rw09() -> dict[str, Any]:
    r = base("rw09", pt=False)
    r.procedure("97161", "PT evaluation, low complexity", when="2026-06-01")
    r.procedure("97164", "PT re-evaluation", when="2026-08-03")
    first_block(r)
    return scenario(
        r,
        "rw-09-pt-evaluations-only",
        "Only a PT evaluation (06-01) and a re-evaluation (08-03): no treatment visit recorded",
        "05/26 I.A.1.b.i; contract §4: an evaluation or re-evaluation alone is not treatment",
        "wrong-approval",
        exp("conditional", {"I.A.1.b.i": "needs-documentation"}),
    )


@case
def rw10() -> dict[str, Any]:
    r = base("rw10", pt=False)
    r.procedure("310882002", "Exercise on prescription (regime/therapy)", system=SNOMED_URL, when="2026-06-01",
                text="Home exercise program prescribed")
    first_block(r)
    return scenario(
        r,
        "rw-10-home-exercise-prescribed-no-duration",
        "A prescribed home-exercise programme recorded once (2026-06-01), no period, no follow-up",
        "05/26 I.A.1.b.i; contract §4: a prescribed programme with no recorded duration leaves the length to "
        "documentation",
        "wrong-denial",
        exp("conditional", {"I.A.1.b.i": "needs-documentation"}),
    )


# ------------------------------------------------------------------------------------------ onset and episodes
@case
def rw11() -> dict[str, Any]:
    r = base("rw11", pain=False, attest=("I.A.1.c", "I.A.1.f"))
    r.condition(*SPONDY, recorded="2026-11-06")
    first_block(r)
    return scenario(
        r,
        "rw-11-onset-recorded-date-only",
        "Only spinal-pain diagnosis carries recordedDate 2026-11-06 and no onset[x]; no ADL attestation",
        "05/26 I.A.1.a >= three months; contract §4: recordedDate alone leaves the duration to documentation",
        "wrong-denial",
        exp("conditional", {"I.A.1.a": "needs-documentation"}),
    )


@case
def rw12() -> dict[str, Any]:
    r = base("rw12", pain=False, birth="1970-03-15")
    r.condition(
        *SPONDY,
        onset={"onsetAge": {"value": 55, "unit": "years", "system": "http://unitsofmeasure.org", "code": "a"}},
        recorded="2026-11-06",
    )
    first_block(r)
    return scenario(
        r,
        "rw-12-onset-age",
        "Pain diagnosis with onsetAge 55 a (born 1970-03-15 -> 2025-03-15), recorded 2026-11-06; ADL attested",
        "05/26 I.A.1.a; contract §4: onsetAge from the birth date; recordedDate is not onset",
        "wrong-denial",
        exp("covered", {"I.A.1.a": "met"}),
    )


@case
def rw13() -> dict[str, Any]:
    r = base("rw13", pain=False)
    r.condition(*SPONDY, onset={"onsetString": "2026-10-09"}, recorded="2026-11-06")
    first_block(r)
    return scenario(
        r,
        "rw-13-onset-string-date-six-weeks",
        "Only pain diagnosis: onsetString '2026-10-09' (6 weeks before service); clinician attested I.A.1.a anyway",
        "05/26 I.A.1.a >= three months; contract §4: onsetString stating a date is onset; Attestations: evidence of "
        "not-met wins",
        "wrong-approval",
        exp("conditional", {"I.A.1.a": "needs-documentation"}),
        settled="clinical review F9 (2026-12-03): PT from 2026-06-01 and NSAIDs from 2026-07-20 for this complaint "
        "contradict the 2026-10-09 onset, so the onset is not clean positive evidence of < 3 months (not met needs "
        "positive evidence): needs documentation to correct the onset; the attestation cannot settle a record that "
        "contradicts itself (still no approval)",
    )


@case
def rw14() -> dict[str, Any]:
    r = base("rw14", pain=False)
    r.condition(*SPONDY, onset={"onsetString": "gradual onset, several years"}, recorded="2026-11-06")
    first_block(r)
    return scenario(
        r,
        "rw-14-onset-string-vague-attested",
        "Pain diagnosis with onsetString 'gradual onset, several years' (no date), recorded 2026-11-06; I.A.1.a "
        "attested",
        "05/26 I.A.1.a; contract §4: an onsetString without a date is not onset; recordedDate is not onset; "
        "attestation settles what the record leaves open",
        "wrong-denial",
        exp("covered", {"I.A.1.a": "met"}),
    )


@case
def rw15() -> dict[str, Any]:
    r = base("rw15", pain=False)
    r.condition(
        *LBP,
        onset={"onsetDateTime": "2018-04-01"},
        abatement={"abatementDateTime": "2019-02-01"},
        clinical="resolved",
        recorded="2018-04-02",
    )
    r.condition(*SPONDY, onset={"onsetDateTime": "2026-10-09"}, recorded="2026-10-09")
    first_block(r)
    return scenario(
        r,
        "rw-15-old-episode-abated-new-six-weeks",
        "Low back pain 2018 resolved 2019-02-01 (abatement); new lumbar spondylosis onset 2026-10-09; I.A.1.a attested",
        "05/26 I.A.1.a >= three months; contract §4: an episode ends at abatement, a later diagnosis starts a new one",
        "wrong-approval",
        exp("conditional", {"I.A.1.a": "needs-documentation"}),
        settled="clinical review F9 (2026-12-03): the abated 2018 episode is still history, but PT from 2026-06-01 "
        "contradicts the new episode's 2026-10-09 onset: needs documentation to correct the onset, which the "
        "attestation cannot settle (still no approval)",
    )


# ------------------------------------------------------------------------------------- blocks, regions, levels, sides
@case
def rw16() -> dict[str, Any]:
    r = base("rw16")
    r.block(*L_BLOCK, "2026-10-15", before=8, after=1, sites=["L4-L5", "L5-S1"], addon=L_BLOCK2)
    r.order(*L_BLOCK, DOS, sites=["L4-L5", "L5-S1"])
    r.order(*L_BLOCK2, DOS)
    return scenario(
        r,
        "rw-16-prior-two-level-block-primary-plus-addon",
        "One prior two-level block recorded as 64493 + 64494 Procedures the same day (88% relief); second block "
        "ordered 36 days later",
        "05/26 I.A.1 'up to two', I.A.1.e same levels >= 2 weeks apart and >= 80%; contract §4: a block is a session",
        "wrong-denial",
        exp("covered", {"I.A.1": "met", "I.A.1.e": "met", "I.A.1 Note": "not-applicable"}),
        settled='settled: I expected the Note "met"; contract §4 makes a not-medically-necessary clause "not '
                'applicable" unless the order falls in its category (relief below the threshold), so it is '
                'not-applicable here',
    )


@case
def rw17() -> dict[str, Any]:
    r = base("rw17")
    r.condition(*CERV_SPONDY, onset={"onsetDateTime": "2025-06-01"})
    r.block(*C_BLOCK, "2026-08-10", sites=["C5-C6"])
    r.block(*C_BLOCK, "2026-09-01", sites=["C5-C6"])
    first_block(r)
    return scenario(
        r,
        "rw-17-two-cervical-blocks-then-first-lumbar",
        "Two cervical blocks already done; now the first lumbar block",
        "05/26 I.A.1 'up to two' counts blocks of the same region; contract §4: regions never mix",
        "wrong-denial",
        exp("covered", {"I.A.1": "met", "I.A.1.e": "not-applicable"}),
    )


@case
def rw18() -> dict[str, Any]:
    r = base("rw18", attest=())
    r.condition(*CERV_SPONDY, onset={"onsetDateTime": "2025-06-01"})
    r.block(*C_BLOCK, "2026-08-10", sites=["C5-C6"])
    r.block(*C_BLOCK, "2026-09-01", sites=["C5-C6"])
    r.order(*L_RF, DOS, intent=None, sites=["L4-L5"])
    return scenario(
        r,
        "rw-18-lumbar-rf-with-cervical-blocks-only",
        "Initial lumbar RF; the two positive blocks on record are cervical, none lumbar",
        "05/26 I.B.1.b two positive blocks 'at each region to be treated'",
        "wrong-approval",
        exp("not-covered", {"I.B.1.b": "not-met"}),
    )


@case
def rw19() -> dict[str, Any]:
    r = base("rw19")
    r.order(*L_BLOCK, DOS, sites=["L2-L3, L3-L4, L4-L5 and L5-S1"])
    r.order(*L_BLOCK2, DOS)
    r.order(*L_BLOCK3, DOS)
    return scenario(
        r,
        "rw-19-four-levels-in-one-bodysite-text",
        "64493+64494+64495 with one bodySite text naming 4 levels 'L2-L3, L3-L4, L4-L5 and L5-S1'",
        "05/26 I.A.1.d no more than three levels; contract §4 Levels: one text may name several",
        "wrong-approval",
        exp("not-covered", {"I.A.1.d": "not-met"}),
    )


@case
def rw20() -> dict[str, Any]:
    r = base("rw20")
    r.order(*L_BLOCK, DOS, sites=["L3-L4, L4-L5 and L5-S1"])
    r.order(*L_BLOCK2, DOS)
    r.order(*L_BLOCK3, DOS)
    return scenario(
        r,
        "rw-20-three-levels-in-one-bodysite-text",
        "64493+64494+64495 with one bodySite text 'L3-L4, L4-L5 and L5-S1' (exactly 3 levels)",
        "05/26 I.A.1.d; contract §4 Levels: 64495 means 3+, exactly 3 needs bodySite (given here)",
        "wrong-denial",
        exp("covered", {"I.A.1.d": "met"}),
    )


@case
def rw21() -> dict[str, Any]:
    r = base("rw21")
    left = cc(coding(SNOMED_URL, "7771000", "Left"))
    right = cc(coding(SNOMED_URL, "24028007", "Right"))
    r.order(*L_BLOCK, DOS, sites=[{"coding": left["coding"], "text": "L4-L5 facet joint, left"}])
    r.order(*L_BLOCK, DOS, sites=[{"coding": right["coding"], "text": "L4-L5 facet joint, right"}])
    return scenario(
        r,
        "rw-21-bilateral-as-left-and-right-orders",
        "Bilateral L4-L5 block ordered as two 64493 ServiceRequests, left and right, same date",
        "05/26 I 'one procedure per visit', I.A.1.d unilateral or bilateral; contract §4 In scope: left+right = one "
        "bilateral procedure",
        "wrong-denial",
        exp("covered", {"I": "met", "I.A.1.d": "met"}),
    )


@case
def rw22() -> dict[str, Any]:
    r = base("rw22")
    r.block(*L_BLOCK, "2026-10-15", before=9, after=1, sites=["L4-L5"])
    r.order(*L_BLOCK, DOS, sites=["L4-L5"])
    r.order(*L_RF, "2027-01-02", intent=None, sites=["L4-L5"])
    return scenario(
        r,
        "rw-22-block-now-rf-six-weeks-later",
        "Second lumbar block today plus the RF ordered for 2027-01-02 in the same signing session",
        "05/26 I 'one procedure per visit'; contract §4: a draft dated for another day is another visit",
        "wrong-denial",
        exp("covered", {"I": "met", "I.A.1.e": "met"}),
        by_order={"rw22-order-1": "covered"},
    )


@case
def rw23() -> dict[str, Any]:
    r = base("rw23", attest=())
    r.block(*L_BLOCK, "2026-09-08", before=8, after=1, sites=["L4-L5"])
    r.block(*L_BLOCK, "2026-10-06", before=7, after=1, sites=["L4-L5"])
    r.order(
        *L_RF,
        DOS,
        intent=None,
        sites=["L4-L5"],
        text="Lumbar medial branch RFA L4-L5, conventional thermal (not pulsed)",
        note="Conventional 80 C lesioning, not pulsed RF.",
    )
    return scenario(
        r,
        "rw-23-rf-text-says-not-pulsed",
        "Initial conventional lumbar RF whose text and note say 'not pulsed'; two lumbar blocks >= 80%",
        "05/26 I.F pulsed RF not medically necessary (does not apply); I.B.1; contract: text with negation",
        "wrong-denial",
        exp("covered", {"I.F": "not-applicable", "I.B.1.b": "met"}),
    )


@case
def rw24() -> dict[str, Any]:
    r = base("rw24", attest=())
    r.block(*L_BLOCK, "2026-09-08", sites=["L4-L5"])
    r.block(*L_BLOCK, "2026-10-06", sites=["L4-L5"])
    r.order("64999", "Unlisted procedure, nervous system", DOS, intent=None, sites=["L4-L5"],
            text="Pulsed radiofrequency of lumbar medial branch nerves L4-L5")
    return scenario(
        r,
        "rw-24-pulsed-rf-unlisted-code",
        "64999 whose text names pulsed radiofrequency of lumbar medial branches",
        "05/26 I.F pulsed radiofrequency neurotomy is not medically necessary",
        "wrong-approval",
        exp("not-covered", {"I.F": "not-met"}),
    )


# ------------------------------------------------------------------------------------------ exclusions
@case
def rw25() -> dict[str, Any]:
    r = base("rw25")
    r.condition("S32010A", "Wedge compression fracture of first lumbar vertebra, initial encounter", system=ICD10_OID,
                onset={"onsetDateTime": "2026-10-28"}, category="encounter-diagnosis")
    first_block(r)
    return scenario(
        r,
        "rw-25-active-fracture-oid-undotted",
        "Active confirmed L1 fracture coded S32010A under the ICD-10-CM OID; findings attested anyway",
        "05/26 I.A.1.c imaging suggests no other obvious cause (e.g., fracture); contract §4 Codes; evidence wins "
        "over attestation",
        "wrong-approval",
        exp("not-covered", {"I.A.1.c": "not-met"}),
    )


@case
def rw26() -> dict[str, Any]:
    r = base("rw26", attest=("I.A.1.a", "I.A.1.f"))
    r.condition("S32.010A", "Wedge compression fracture of first lumbar vertebra, initial encounter",
                onset={"onsetDateTime": "2026-10-28"}, verification="differential", category="encounter-diagnosis")
    first_block(r)
    return scenario(
        r,
        "rw-26-fracture-differential",
        "L1 fracture recorded as a differential diagnosis only; no I.A.1.c attestation",
        "05/26 I.A.1.c; contract §4: a differential/provisional exclusion is documentation, not an established "
        "exclusion",
        "wrong-denial",
        exp("conditional", {"I.A.1.c": "needs-documentation"}),
    )


@case
def rw27() -> dict[str, Any]:
    r = base("rw27")
    r.condition("M54.16", "Radiculopathy, lumbar region", onset={"onsetDateTime": "2024-10-01"},
                abatement={"abatementDateTime": "2025-01-15"}, clinical="resolved")
    first_block(r)
    return scenario(
        r,
        "rw-27-radiculopathy-resolved-2025",
        "Lumbar radiculopathy resolved 2025-01-15 (abatement); findings attested",
        "05/26 I.A.1.c pain not associated with radiculopathy; contract §4: exclusions count only when active on the "
        "date of service",
        "wrong-denial",
        exp("covered", {"I.A.1.c": "met"}),
    )


# ------------------------------------------------------------------------------------------ NSAID contraindication
@case
def rw28() -> dict[str, Any]:
    r = base("rw28", nsaid=False)
    r.egfr(26, "2025-12-10T08:00:00-05:00")
    r.egfr(78, "2026-10-20T08:00:00-05:00")
    first_block(r)
    return scenario(
        r,
        "rw-28-egfr-low-in-past-normal-now",
        "No NSAID course; eGFR 26 in 2025-12, 78 on 2026-10-20 (the result in force)",
        "05/26 I.A.1.b.ii NSAIDs contraindicated; contract §4: the lab value in force at the date of service",
        "wrong-approval",
        exp("conditional", {"I.A.1.b.ii": "needs-documentation"}),
    )


@case
def rw29() -> dict[str, Any]:
    r = base("rw29", nsaid=False)
    r.egfr(72, "2025-12-10T08:00:00-05:00")
    r.egfr(24, "2026-11-02T08:00:00-05:00")
    first_block(r)
    return scenario(
        r,
        "rw-29-egfr-low-now",
        "No NSAID course; eGFR 72 in 2025-12 but 24 on 2026-11-02 (in force): NSAIDs contraindicated",
        "05/26 I.A.1.b.ii 'or NSAIDs contraindicated'; mapping §5.3 eGFR < 30",
        "wrong-denial",
        exp("covered", {"I.A.1.b.ii": "met"}),
    )


@case
def rw30() -> dict[str, Any]:
    r = base("rw30", nsaid=False)
    r.allergy("5640", "ibuprofen")
    first_block(r)
    return scenario(
        r,
        "rw-30-nsaid-intolerance-rxnorm-oid",
        "No NSAID course; AllergyIntolerance (intolerance) to ibuprofen coded under the RxNorm OID",
        "05/26 I.A.1.b.ii 'or NSAIDs ... not tolerated'; contract §4 Codes",
        "wrong-denial",
        exp("covered", {"I.A.1.b.ii": "met"}),
    )


# ------------------------------------------------------------------------------------------ RF and other regions
@case
def rw31() -> dict[str, Any]:
    r = base("rw31", attest=())
    r.block(*L_BLOCK, "2026-09-08", sites=["L4-L5", "L5-S1"], system=CPT_OID)
    r.block(*L_BLOCK, "2026-10-06", before=7, after=1, sites=["L4-L5", "L5-S1"], system=CPT_OID)
    r.order(*L_RF, DOS, intent=None, sites=["L4-L5", "L5-S1"])
    r.order(*L_RF2, DOS, intent=None, quantity=1)
    return scenario(
        r,
        "rw-31-rf-prior-blocks-cpt-oid",
        "Initial lumbar RF 64635+64636; both prior blocks coded 64493 under the CPT OID, 88% and 86% relief",
        "05/26 I.B.1.b two positive blocks >= 80%; contract §4 Codes (CPT OID)",
        "wrong-denial",
        exp("covered", {"I.B.1.b": "met", "I.B.1.a": "met", "I.B.1.c": "met"}),
    )


@case
def rw32() -> dict[str, Any]:
    r = base("rw32")
    r.condition(
        "M47.814",
        "Spondylosis without myelopathy or radiculopathy, thoracic region",
        onset={"onsetDateTime": "2025-05-01"},
    )
    r.order(
        *C_BLOCK,
        DOS,
        sites=[{"coding": [coding(SNOMED_URL, "122495006", "Thoracic spine structure")], "text": "T7-T8 facet"}],
    )
    return scenario(
        r,
        "rw-32-thoracic-block-snomed-site",
        "64490 with bodySite SNOMED 122495006 thoracic spine, text 'T7-T8 facet'",
        "05/26 I.C thoracic facet injections are not medically necessary; contract §4 Region",
        "wrong-approval",
        exp("not-covered", {"I.C": "not-met"}),
    )


@case
def rw33() -> dict[str, Any]:
    r = base("rw33")
    r.order(*L_BLOCK, DOS, sites=["L4-L5"])
    r.order(
        "62323", "Injection, interlaminar epidural, lumbar/sacral, with imaging guidance", "2026-12-15", intent=None
    )
    return scenario(
        r,
        "rw-33-epidural-ordered-for-another-day",
        "First lumbar facet block today; an epidural 62323 in the same draftOrders dated 2026-12-15",
        "05/26 I 'one procedure per visit'; contract §4: a draft dated for another day is another visit",
        "wrong-denial",
        exp("covered", {"I": "met"}),
        by_order={"rw33-order-1": "covered"},
    )


@case
def rw34() -> dict[str, Any]:
    r = base("rw34", urn_uuid=True, attest=())
    b1 = r.block(*L_BLOCK, "2026-09-08", sites=["L4-L5"])
    b2 = r.block(*L_BLOCK, "2026-10-06", sites=["L4-L5"])
    assert b1 and b2
    r.order(*L_RF, DOS, intent=None, sites=["L4-L5"])
    return scenario(
        r,
        "rw-34-urn-uuid-relief-references",
        "Initial lumbar RF; the relief scores reference their blocks by urn:uuid fullUrl (prefetched as sent; SEKMET "
        "rewrites them on load, so fetched reads Procedure/id)",
        "05/26 I.B.1.b; contract §4 Codes: references resolve via urn:uuid full URLs of a Bundle",
        "wrong-denial",
        exp("covered", {"I.B.1.b": "met"}),
    )


@case
def rw35() -> dict[str, Any]:
    r = base("rw35")
    r.block(*L_BLOCK, "2026-10-15", before=8, after=2, sites=["L4-L5"])
    r.order(*L_BLOCK, DOS, sites=["L4-L5"])
    return scenario(
        r,
        "rw-35-second-block-after-75-percent",
        "Second lumbar block after a first with 75% relief (8 -> 2)",
        "05/26 I.A.1 Note: first block < 80% relief -> a second block is not medically necessary",
        "wrong-approval",
        exp("not-covered", {"I.A.1 Note": "not-met"}),
    )


# ------------------------------------------------------------------------------------------ 2019 revision
@case
def rw36() -> dict[str, Any]:
    r = base_2019("rw36")
    r.order(*L_BLOCK, DOS_2019, sites=["L4-L5"])
    return scenario(
        r,
        "rw-36-2019-first-block-covered",
        "Dated 2023-03-13 (2019 text): 7 weeks PT, 6 weeks naproxen, ADL/activity-modification/findings attested",
        "2019 I.A.1-I.A.4",
        "wrong-denial",
        exp("covered", {"I.A.3.a": "met", "I.A.3.b": "met", "I.A.3.c": "met"}, revision="2019"),
    )


@case
def rw37() -> dict[str, Any]:
    r = base_2019("rw37", pt_dates=["2022-10-03", "2022-10-10", "2022-10-17", "2022-10-24", "2022-10-31", "2022-11-07"])
    r.order(*L_BLOCK, DOS_2019, sites=["L4-L5"])
    return scenario(r, "rw-37-2019-pt-five-weeks", "2019 text: PT treatment visits 2022-10-03..11-07 (35 days) only",
                    "2019 I.A.3.a >= 6 weeks chiropractic, PT or home exercise", "wrong-approval",
                    exp("not-covered", {"I.A.3.a": "not-met"}, revision="2019"))


@case
def rw38() -> dict[str, Any]:
    r = base_2019("rw38")
    r.block(*L_BLOCK, "2023-02-17", before=8, after=2, sites=["L4-L5"])
    r.order(*L_BLOCK, DOS_2019, sites=["L4-L5"])
    return scenario(
        r,
        "rw-38-2019-second-block-after-75-percent",
        "2019 text: second block 24 days after a first with exactly 75% relief",
        "2019 I.A Note: < 75% relief -> second block not medically necessary (75% is not < 75%, so it does not "
        "apply); I.A.1 2 weeks apart",
        "wrong-denial",
        exp("covered", {"I.A Note": "not-applicable", "I.A.1": "met"}, revision="2019"),
        settled='settled: I expected the Note "met"; contract §4 makes a not-medically-necessary clause "not '
                'applicable" unless the order falls in its category (relief below the threshold), so it is '
                'not-applicable here',
    )


@case
def rw39() -> dict[str, Any]:
    r = base_2019("rw39")
    r.order(*L_BLOCK, DOS_2019, intent=THERAPEUTIC, sites=["L4-L5"])
    return scenario(r, "rw-39-2019-therapeutic-injection", "2019 text: a therapeutic lumbar facet injection",
                    "2019 V therapeutic facet joint injections are not medically necessary", "wrong-approval",
                    exp("not-covered", {"V": "not-met"}, revision="2019"))


# ------------------------------------------------------------------------------------------ second batch
@case
def rw40() -> dict[str, Any]:
    r = base("rw40", attest=("I.A.1.a", "I.A.1.f"))
    r.condition(
        "M54.16",
        "Radiculopathy, lumbar region",
        onset={"onsetDateTime": "2026-10-01"},
        verification="provisional",
        category="encounter-diagnosis",
    )
    first_block(r)
    return scenario(
        r,
        "rw-40-radiculopathy-provisional",
        "Lumbar radiculopathy entered as a provisional encounter diagnosis; no I.A.1.c attestation",
        "05/26 I.A.1.c not associated with radiculopathy; contract §4: a provisional exclusion is documentation",
        "wrong-denial",
        exp("conditional", {"I.A.1.c": "needs-documentation"}),
    )


@case
def rw41() -> dict[str, Any]:
    r = base("rw41", pain=False, vendor="cerner")
    r.condition(*SPONDY, onset={"onsetPeriod": {"start": "2025-04-01"}}, recorded="2026-11-10")
    first_block(r)
    return scenario(
        r,
        "rw-41-onset-period-cerner",
        "Cerner-style problem with onsetPeriod.start 2025-04-01, recorded 2026-11-10; ADL attested",
        "05/26 I.A.1.a; contract §4: onsetPeriod.start is onset, recordedDate is not",
        "wrong-denial",
        exp("covered", {"I.A.1.a": "met"}),
    )


@case
def rw42() -> dict[str, Any]:
    r = base("rw42", nsaid=False)
    r.med_statement("7258", "naproxen", period=("2026-08-01", "2026-08-12"))
    r.med_request("7258", "naproxen 500 MG Oral Tablet", authored="2026-08-01", supply_days=12, quantity=24, per_day=2)
    first_block(r)
    return scenario(
        r,
        "rw-42-nsaid-one-course-recorded-twice",
        "One 12-day naproxen course recorded as a MedicationStatement and as its 12-day MedicationRequest",
        "05/26 I.A.1.b.ii >= three weeks; contract §4: union of intervals, a course recorded twice counts once",
        "wrong-approval",
        exp("not-covered", {"I.A.1.b.ii": "not-met"}),
    )


@case
def rw43() -> dict[str, Any]:
    r = base("rw43", nsaid=False)
    r.med_statement("7258", "naproxen", period=("2026-03-01", "2026-03-12"))
    r.med_statement("5640", "ibuprofen", period=("2026-08-01", "2026-08-12"))
    first_block(r)
    return scenario(
        r,
        "rw-43-nsaid-two-separate-courses",
        "Two separate 12-day NSAID courses (naproxen in March, ibuprofen in August): 24 days in the year",
        "05/26 I.A.1.b.ii NSAIDs >= three weeks within the past year; contract §4: NSAID days = union of intervals",
        "wrong-denial",
        exp("covered", {"I.A.1.b.ii": "met"}),
    )


@case
def rw44() -> dict[str, Any]:
    r = base("rw44", pain=False)
    r.condition(*CERV_SPONDY, onset={"onsetDateTime": "2025-06-01"})
    r.order(*C_BLOCK, DOS, sites=["C5-C6"])
    return scenario(
        r,
        "rw-44-first-cervical-block",
        "First cervical diagnostic block 64490 at C5-C6, neck pain since 2025-06",
        "05/26 I.A.1 lumbar and cervical regions; contract §4 Region: bodySite names a C level",
        "wrong-denial",
        exp("covered", {"I.A.1": "met", "I.C": "not-applicable"}),
    )


@case
def rw45() -> dict[str, Any]:
    r = base("rw45")
    r.condition("94602001", "Secondary malignant neoplasm of vertebral column", system=SNOMED_OID,
                onset={"onsetDateTime": "2026-09-15"})
    first_block(r)
    return scenario(
        r,
        "rw-45-spinal-metastasis-snomed-oid",
        "Active confirmed spinal metastasis coded in SNOMED CT under its OID; findings attested anyway",
        "05/26 I.A.1.c no other obvious cause (e.g., tumor); contract §4 Codes (SNOMED OID)",
        "wrong-approval",
        exp("not-covered", {"I.A.1.c": "not-met"}),
    )


@case
def rw46() -> dict[str, Any]:
    r = base("rw46", attest=())
    r.condition(
        "M47.814",
        "Spondylosis without myelopathy or radiculopathy, thoracic region",
        onset={"onsetDateTime": "2025-05-01"},
    )
    r.order("64633", "Destruction paravertebral facet joint nerve, cervical/thoracic; single joint", DOS, intent=None,
            sites=["T10-T11"])
    return scenario(
        r,
        "rw-46-thoracic-rf-t-level-text",
        "Conventional RF 64633 with bodySite text 'T10-T11'",
        "05/26 I.E thoracic conventional RF neurotomy is not medically necessary; contract §4 Region (text names a T "
        "level)",
        "wrong-approval",
        exp("not-covered", {"I.E": "not-met"}),
    )


@case
def rw47() -> dict[str, Any]:
    r = base("rw47")
    r.order(
        "0216T",
        "Inj paravertebral facet joint w/ ultrasound guidance, lumbar/sacral; single level",
        DOS,
        sites=["L4-L5"],
    )
    return scenario(
        r,
        "rw-47-ultrasound-guided-lumbar-block",
        "Lumbar facet block ordered with the ultrasound-guided code 0216T",
        "05/26 CPT Table 2 (codes that do not support coverage); I.A fluoroscopy or CT guidance",
        "wrong-approval",
        exp("not-covered", {"Table 2": "not-met"}),
    )


@case
def rw48() -> dict[str, Any]:
    r = base("rw48", nsaid=False)
    r.med_statement(None, "Diclofenac sodium 75 MG Delayed Release Oral Tablet", period=("2026-07-01", "2026-08-11"),
                    dosage_text="1 tablet by mouth twice daily with food")
    first_block(r)
    return scenario(
        r,
        "rw-48-nsaid-text-only-oral-delayed-release",
        "Uncoded MedicationStatement 'Diclofenac sodium 75 MG Delayed Release Oral Tablet', oral route, 42 days",
        "05/26 I.A.1.b.ii; contract §4: display text as last resort, dose form and route decide topical vs oral",
        "wrong-denial",
        exp("covered", {"I.A.1.b.ii": "met"}),
    )


@case
def rw49() -> dict[str, Any]:
    r = base("rw49", attest=())
    rf = r.procedure(*L_RF, when="2026-04-01T09:00:00-05:00", body_sites=[{"text": "L4-L5"}])
    r.pain_score(8, "2026-04-01T08:30:00-05:00", part_of=rf, phase="pre-procedure")
    for day, score in (("2026-05-01", 3), ("2026-07-01", 3), ("2026-10-05", 2)):
        r.pain_score(score, f"{day}T10:00:00-05:00", part_of=rf, phase="post-procedure")
    r.attest(["I.B.2.b"], authored="2026-11-18T14:00:00-05:00")
    r.order(*L_RF, DOS, intent=None, sites=["L4-L5"])
    return scenario(
        r,
        "rw-49-repeat-rf-sustained-six-months",
        "Repeat lumbar RF 7.5 months after the last; NRS 8 -> 3, 3, 2 through 2026-10-05 (>= 6 months); functional "
        "improvement attested",
        "05/26 I.B.2.a >= 6 months elapsed, I.B.2.b >= 50% relief for >= 6 months with functional improvement",
        "wrong-denial",
        exp("covered", {"I.B.2.a": "met", "I.B.2.b": "met", "I.B.1.b": "not-applicable"}),
    )


@case
def rw50() -> dict[str, Any]:
    r = base("rw50")
    r.condition("S32.010A", "Wedge compression fracture of first lumbar vertebra, initial encounter",
                onset={"onsetDateTime": "2026-10-28"}, verification="entered-in-error", category="encounter-diagnosis")
    first_block(r)
    return scenario(
        r,
        "rw-50-fracture-entered-in-error",
        "An L1 fracture diagnosis entered in error (verificationStatus entered-in-error); findings attested",
        "05/26 I.A.1.c; contract §4: entered-in-error never counts as an exclusion",
        "wrong-denial",
        exp("covered", {"I.A.1.c": "met"}),
    )


@case
def rw51() -> dict[str, Any]:
    r = base("rw51", pain=False, attest=())
    r.condition(*CERV_SPONDY, onset={"onsetDateTime": "2025-06-01"})
    r.block(*C_BLOCK, "2026-09-08", sites=["C4-C5"])
    r.block(*C_BLOCK, "2026-10-06", before=7, after=1, sites=["C4-C5"])
    r.order("64633", "Destruction paravertebral facet joint nerve, cervical/thoracic; single joint", DOS, intent=None,
            sites=["C4-C5 facet joint (C4 and C5 medial branches), right"])
    return scenario(
        r,
        "rw-51-cervical-rf-one-joint-two-nerves",
        "Initial cervical RF 64633 at the C4-C5 joint, text naming its two medial-branch nerves",
        "05/26 I.B.1.c no more than three levels; contract §4 Levels: a joint is one level even when its two nerves "
        "are named",
        "wrong-denial",
        exp("covered", {"I.B.1.b": "met", "I.B.1.c": "met", "I.E": "not-applicable"}),
    )


@case
def rw52() -> dict[str, Any]:
    r = base("rw52", nsaid=False)
    r.condition(
        "N184", "Chronic kidney disease, stage 4 (severe)", system=ICD10_OID, onset={"onsetDateTime": "2024-02-01"}
    )
    first_block(r)
    return scenario(
        r,
        "rw-52-ckd4-icd-oid-contraindication",
        "No NSAID course; active CKD stage 4 coded N184 under the ICD-10-CM OID",
        "05/26 I.A.1.b.ii 'or NSAIDs contraindicated'; mapping contra-ckd-stage-4-5; contract §4 Codes",
        "wrong-denial",
        exp("covered", {"I.A.1.b.ii": "met"}),
    )


def build_all() -> list[dict[str, Any]]:
    return [fn() for fn in CASES]
