"""One company (acme) with one technician (ana), for the tests of users and logins."""

from __future__ import annotations

import pytest

from pdm.access import users
from pdm.storage.tables import Company

PW = "correct horse battery"


@pytest.fixture
def company_id(sessions) -> int:
    with sessions.begin() as s:
        c = Company(slug="acme", name="Acme")
        s.add(c)
        s.flush()
        users.add_user(s, username="ana", password=PW, role="technician", company_id=c.id)
        return c.id
