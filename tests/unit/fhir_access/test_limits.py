"""FetchLimits and the CDS_* variables that set them."""
import pytest

from cds_service.fhir_access.limits import FetchLimits


def test_defaults_match_the_contract():
    limits = FetchLimits.from_env({})

    assert limits == FetchLimits(timeout_s=3.0, max_pages=20, max_response_bytes=10 * 1024 * 1024, max_resources=5000)


def test_every_variable_is_read():
    limits = FetchLimits.from_env(
        {
            "CDS_FHIR_TIMEOUT_S": "1.5",
            "CDS_MAX_FHIR_PAGES": "7",
            "CDS_MAX_FHIR_RESPONSE_BYTES": "1000",
            "CDS_MAX_PREFETCH_RESOURCES": "42",
            "CDS_FHIR_MAX_FETCHES_PER_SERVER": "5",
            "UNRELATED": "x",
        }
    )

    assert limits == FetchLimits(
        timeout_s=1.5, max_pages=7, max_response_bytes=1000, max_resources=42, max_fetches_per_server=5
    )


def test_blank_values_keep_the_default():
    assert FetchLimits.from_env({"CDS_FHIR_TIMEOUT_S": "  "}).timeout_s == 3.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CDS_FHIR_TIMEOUT_S", "soon"),
        ("CDS_FHIR_TIMEOUT_S", "0"),
        ("CDS_FHIR_TIMEOUT_S", "-1"),
        ("CDS_FHIR_TIMEOUT_S", "nan"),
        ("CDS_FHIR_TIMEOUT_S", "inf"),
        ("CDS_MAX_FHIR_PAGES", "2.5"),
        ("CDS_MAX_FHIR_PAGES", "0"),
        ("CDS_MAX_FHIR_RESPONSE_BYTES", "10MB"),
        ("CDS_MAX_PREFETCH_RESOURCES", "-5"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(variable, value):
    with pytest.raises(ValueError, match=variable):
        FetchLimits.from_env({variable: value})


def test_constructor_refuses_non_positive_limits():
    with pytest.raises(ValueError, match="max_pages"):
        FetchLimits(max_pages=0)
