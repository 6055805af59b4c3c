"""For the long scenario tests: one database, not both.

Their SQL is the same as that of the shorter tests that run on SQLite and PostgreSQL; what they add
is minutes of simulated operation. They run on PostgreSQL, the cluster's deployment, where the run
has it (CI does), and on SQLite otherwise.
"""

from __future__ import annotations

import os

import pytest

one_database = pytest.mark.parametrize(
    "db_url", ["postgres" if os.environ.get("PDM_TEST_POSTGRES_URL") else "sqlite"], indirect=True
)
