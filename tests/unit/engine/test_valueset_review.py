"""Value sets read against their own revision's text (cds_service/policy/data/cp-mp-171/VALUESET-REVIEW.md)."""

from __future__ import annotations

import pytest

from tests.support.criteria_tables import DOC, MET, NOT_MET, R2019, base, result
from tests.support.fhir_builders import block_with_relief, condition, months_ago, order


# 2019 I.A.3bis: the 2019 coding table lists M51.36 as a code that SUPPORTS coverage; only a code that states
# discogenic pain in words (FY2025 children .360/.362, lumbosacral .370/.372) is the text's "discogenic pain".
@pytest.mark.parametrize(
    "code, expected",
    [
        ("M51.36", DOC),
        ("M51.361", DOC),
        ("M51.369", DOC),  # the 2019 supporting table's code and its non-discogenic children
        ("M50.322", DOC),
        ("M51.379", DOC),
        ("M51.35", DOC),  # disc degeneration without stated discogenic pain
        ("M51.360", NOT_MET),
        ("M51.372", NOT_MET),  # "with discogenic back pain": the text's example
        ("M47.26", NOT_MET),
        ("M47.22", NOT_MET),  # spondylosis with radiculopathy: radiculitis (was missing in 2019)
    ],
)
def test_2019_exclusions_against_the_2019_text(code, expected):
    assert result("I.A.3bis", base() + [condition(code, months_ago(2))], order(), **R2019) == expected


# 05/26 I.D.3 "not a candidate for RF (such as established spinal pseudarthrosis or implanted electrical device)".
@pytest.mark.parametrize(
    "code, expected",
    [
        ("M96.0", MET),  # pseudarthrosis after fusion
        ("Z96.82", MET),  # neurostimulator
        ("Z95.0", MET),  # cardiac pacemaker
        ("M43.26", DOC),  # fusion of spine: a fusion is not a pseudarthrosis
        ("Z98.1", DOC),  # arthrodesis status: likewise
    ],
)
def test_not_an_rf_candidate_only_for_what_the_text_names(code, expected):
    records = (
        base()
        + block_with_relief(months_ago(4), 10, 1)
        + block_with_relief(months_ago(3), 10, 1)
        + [condition(code, months_ago(20))]
    )
    assert result("I.D.3", records, order(intent="therapeutic")) == expected


# 05/26 I.A.1.c "tumor": a neoplasm of bone or marrow with no site is a question about the spine, not an answer.
@pytest.mark.parametrize("code, expected", [("C41.2", NOT_MET), ("C79.51", DOC), ("C90.00", DOC), ("D48.0", DOC)])
def test_tumour_without_a_site_is_documentation(code, expected):
    assert result("I.A.1.c", base() + [condition(code, months_ago(2))], order()) == expected


def test_site_unstated_tumour_reason_says_what_to_document():
    from tests.unit.engine.test_episodes_and_status import reason

    text = reason(
        "I.A.1.c",
        base() + [condition("C79.51", months_ago(2), display="Secondary malignant neoplasm of bone")],
        order(),
    )
    assert "without a site" in text and "spine" in text
