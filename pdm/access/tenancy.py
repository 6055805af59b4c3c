"""Who is asking, and which company they may see.

A ``Principal`` is the logged-in user reduced to plain values (safe to keep in a Streamlit
session or pass to a fragment). Technicians and engineers are pinned to one company; the
cluster reviewer sees cross-company aggregates only; the admin manages users and reads the
audit log. Every company-scoped read goes through ``require_company``, which answers
"not found" (never "forbidden") so that a caller cannot learn what exists elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from pdm.errors import NotFound, PdmError

TECHNICIAN = "technician"
ENGINEER = "engineer"
CLUSTER_REVIEWER = "cluster_reviewer"
ADMIN = "admin"
ROLES = (TECHNICIAN, ENGINEER, CLUSTER_REVIEWER, ADMIN)
COMPANY_ROLES = (TECHNICIAN, ENGINEER)

# Pages (st.navigation url paths) each role may open. One table, so the UI and the tests agree.
ROLE_PAGES: dict[str, tuple[str, ...]] = {
    # overview: every role's landing page (its own company's tiles; counts per company for the reviewer).
    TECHNICIAN: ("overview", "alerts", "assets"),
    # savings and costs: the other member pages (pdm/ui/savings.py, pdm/ui/costs.py).
    ENGINEER: ("overview", "alerts", "assets", "endpoints", "savings", "costs"),
    CLUSTER_REVIEWER: ("overview", "cluster", "failure-modes"),
    ADMIN: (
        "overview",
        "alerts",
        "assets",
        "endpoints",
        "savings",
        "costs",
        "cluster",
        "failure-modes",
        "users",
        "audit",
    ),
}


class Forbidden(PdmError):
    """The principal's role does not allow this action at all (not a per-object check)."""


@dataclass(frozen=True)
class Principal:
    username: str
    role: str
    company_id: int | None = None


def check_role(role: str, company_id: int | None) -> None:
    """A role/company pair that can exist: company roles need a company, the others none."""
    if role not in ROLES:
        raise PdmError(f"role = {role!r}: expected one of {', '.join(ROLES)}")
    if role in COMPANY_ROLES and company_id is None:
        raise PdmError(f"company = None: a {role} belongs to one company")
    if role not in COMPANY_ROLES and company_id is not None:
        raise PdmError(f"company = {company_id!r}: a {role} is not a member of a company")


def require_company(principal: Principal, company_id: int) -> int:
    """The company id the principal may read, or NotFound.

    The admin may act for any company (support); a cluster reviewer never reads a
    single company's rows, so for them every company is "not found".
    """
    if principal.role == ADMIN:
        return company_id
    if principal.role in COMPANY_ROLES and principal.company_id == company_id:
        return company_id
    raise NotFound(f"company {company_id} not found")


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role!r} may not do this (needs {' or '.join(roles)})")


def pages_for(principal: Principal | None) -> tuple[str, ...]:
    return () if principal is None else ROLE_PAGES.get(principal.role, ())
