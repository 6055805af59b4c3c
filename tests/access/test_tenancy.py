"""Principals and the company check: own company only, "not found" for everything else."""

from __future__ import annotations

import pytest

from pdm.access.tenancy import (
    ADMIN,
    CLUSTER_REVIEWER,
    ENGINEER,
    TECHNICIAN,
    Forbidden,
    Principal,
    check_role,
    pages_for,
    require_company,
    require_role,
)
from pdm.errors import NotFound, PdmError


@pytest.mark.parametrize("role", [TECHNICIAN, ENGINEER])
def test_company_roles_read_only_their_company(role):
    p = Principal("ana", role, company_id=1)
    assert require_company(p, 1) == 1
    with pytest.raises(NotFound, match="company 2 not found"):
        require_company(p, 2)


def test_cluster_reviewer_reads_no_single_company_and_admin_any():
    with pytest.raises(NotFound):
        require_company(Principal("rev", CLUSTER_REVIEWER), 1)
    assert require_company(Principal("root", ADMIN), 7) == 7


def test_role_and_company_must_fit():
    check_role(TECHNICIAN, 1)
    check_role(ADMIN, None)
    with pytest.raises(PdmError, match="company = None"):
        check_role(ENGINEER, None)
    with pytest.raises(PdmError, match="company = 3"):
        check_role(CLUSTER_REVIEWER, 3)
    with pytest.raises(PdmError, match="role = 'boss'"):
        check_role("boss", None)


def test_pages_per_role():
    assert pages_for(None) == ()
    assert set(pages_for(Principal("t", TECHNICIAN, 1))) == {"overview", "alerts", "assets"}
    assert set(pages_for(Principal("e", ENGINEER, 1))) == {
        "overview",
        "alerts",
        "assets",
        "endpoints",
        "savings",
        "costs",
    }
    # The overview first: every role's landing page (for the reviewer, counts per state only).
    assert pages_for(Principal("r", CLUSTER_REVIEWER)) == ("overview", "cluster", "failure-modes")
    assert {"users", "audit"} <= set(pages_for(Principal("a", ADMIN)))
    with pytest.raises(Forbidden):
        require_role(Principal("t", TECHNICIAN, 1), ADMIN)
