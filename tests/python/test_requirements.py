"""patches.requirements: the fallback parser agrees with `packaging`; unmet reasons."""

from __future__ import annotations

import pytest

from fast_crewai.patches.requirements import parse_spec, satisfies, unmet_reason

SPECS = ["crewai >= 1.10, < 2", "crewai>=1.14.7,<2", "crewai == 1.15.30", "crewai != 1.12.0",
         "crewai ~= 1.10", "crewai ~= 1.10.0", "crewai == 1.0.*", "crewai != 1.15.*",
         "crewai > 1.9.3", "crewai <= 1.10", "crewai"]
VERSIONS = ["0.203.2", "1.0", "1.0.7", "1.9.3", "1.10", "1.10.0", "1.10.5", "1.12.0", "1.14.6",
            "1.14.7", "1.15.30", "1.99", "2.0", "2.0.1"]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("version", VERSIONS)
def test_fallback_agrees_with_packaging(spec, version):
    assert satisfies(spec, version, use_packaging=False) == satisfies(spec, version)


def test_parse_spec():
    assert parse_spec("crewai >= 1.10, < 2") == ("crewai", [(">=", "1.10"), ("<", "2")])
    assert parse_spec("crewai") == ("crewai", [])
    with pytest.raises(ValueError):
        parse_spec("crewai >> 1")


def test_unmet_reason():
    assert unmet_reason("crewai >= 1.10, < 2") is None
    assert unmet_reason("crewai < 1.0") == "CrewAI 1.15.30 not supported (needs crewai < 1.0)"
    assert unmet_reason("fast-crewai-no-such-dist >= 1") == "fast-crewai-no-such-dist not installed"
