"""A plant file that cannot lie: 1,000+ generated bad files, each refused in one line naming its field.

Every file goes through ``load_plants``, the function ``pdmctl config check`` calls. A case passes
when it raises a ``ConfigError`` whose message is one line, names the file and the expected field
(or fragment), echoes no secret and no value longer than a readable cut, and all within
``PER_FILE_S`` (enforced by a timer, so an alias bomb or a runaway parse fails instead of hanging).
"""

from __future__ import annotations

import signal
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from pdm.config import load_plants
from pdm.errors import ConfigError
from tests.helpers.config_errors import refusal_problem
from tests.helpers.plant_corpus import bad_cases, good_cases

EXAMPLES = sorted((Path(__file__).parents[2] / "config").glob("*.yaml"))
PER_FILE_S = 5.0


@contextmanager
def deadline(seconds: float):
    """Raise TimeoutError in this (main) thread after ``seconds``: a hang becomes a failure."""

    def expired(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check(path: Path, case) -> str | None:
    """None when ``case`` is refused as it should be, else what went wrong."""
    try:
        with deadline(PER_FILE_S):
            load_plants(path)
    except ConfigError as exc:
        return refusal_problem(exc, str(path), case, max_chars=600)
    except TimeoutError:
        return "HANG"
    except Exception as exc:
        return f"TRACEBACK {type(exc).__name__}: {exc}"[:300]
    return "ACCEPTED"


@pytest.mark.timeout(120)
def test_every_bad_plant_file_is_refused_in_one_clear_line(tmp_path):
    cases = bad_cases()
    assert len(cases) >= 1000
    assert len({c.name for c in cases}) == len(cases)
    failures, slowest = [], (0.0, "")
    start = time.perf_counter()
    for i, case in enumerate(cases):
        path = tmp_path / f"bad{i:04d}.yaml"
        path.write_bytes(case.content)
        t0 = time.perf_counter()
        problem = check(path, case)
        slowest = max(slowest, (time.perf_counter() - t0, case.name))
        if problem:
            failures.append(f"{case.name}: {problem}")
        path.unlink()
    elapsed = time.perf_counter() - start
    kinds = {k: sum(f.split(": ", 1)[1].startswith(k) for f in failures) for k in ("HANG", "TRACEBACK", "ACCEPTED")}
    print(
        f"\n{len(cases)} bad files: {len(cases) - len(failures)} clear one-line errors, "
        f"{kinds['TRACEBACK']} tracebacks, {kinds['HANG']} hangs, {kinds['ACCEPTED']} wrongly accepted, "
        f"{len(failures) - sum(kinds.values())} unclear; {elapsed:.1f} s, slowest {slowest[0]:.2f} s ({slowest[1]})"
    )
    assert not failures, f"{len(failures)} of {len(cases)} failed:\n" + "\n".join(failures[:40])


@pytest.mark.parametrize("name, content", list(good_cases()), ids=[n for n, _ in good_cases()])
def test_valid_variants_are_accepted(tmp_path, name, content):
    path = tmp_path / "plants.yaml"
    path.write_bytes(content)
    with deadline(PER_FILE_S):
        cfg = load_plants(path)
    assert [c.id for c in cfg.companies] == ["acme", "beta"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_repository_examples_are_accepted(path):
    assert load_plants(path).companies
