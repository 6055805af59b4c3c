"""The simulated plants of bench/scale.py: one asyncua server per process, and CPU accounting.

Each server serves its share of the assets (one object per asset, ``tags`` Double variables)
and writes a new value with its source timestamp to every variable ``rate`` times a second:
a slow load cycle per asset, a gain per tag and noise, so detectors have structure to learn.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC
from pathlib import Path

NS = "urn:pdm:bench"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), to say which side used the cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runq_s(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (Linux schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError):  # a thread that ended meanwhile
            pass
    return total / 1e9


def serve(url: str, first: int, count: int, tags: int, rate: float, ready, stop, written) -> None:
    import logging

    import numpy as np

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    from datetime import datetime

    from asyncua import Server, ua

    async def main():
        server = Server()
        await server.init()
        server.set_endpoint(url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.disable_clock()
        idx = await server.register_namespace(NS)
        ids = []
        for a in range(first, first + count):
            obj = await server.nodes.objects.add_object(ua.NodeId(f"a{a}", idx), f"a{a}")
            for t in range(tags):
                ids.append(ua.NodeId(f"a{a}/t{t}", idx))
                await obj.add_variable(ids[-1], f"t{t}", 0.0)
        rng = np.random.default_rng(first)
        gain = rng.uniform(0.5, 2.0, size=len(ids))  # every tag follows its asset's load, differently
        phase = np.repeat(rng.uniform(0, 6.28, size=count), tags)
        good = ua.StatusCode(ua.StatusCodes.Good)
        async with server:
            ready.set()
            tick, t0 = 0, time.monotonic()
            while not stop.is_set():
                stamp = datetime.now(UTC)
                load = np.sin(phase + tick / 60.0)
                values = gain * load + rng.normal(0, 0.05, size=len(ids))
                for nodeid, v in zip(ids, values.tolist()):
                    await server.write_attribute_value(
                        nodeid,
                        ua.DataValue(
                            ua.Variant(v, ua.VariantType.Double),
                            StatusCode=good,
                            SourceTimestamp=stamp,
                            ServerTimestamp=stamp,
                        ),
                    )
                with written.get_lock():
                    written.value += len(ids)
                tick += 1
                await asyncio.sleep(max(0.0, t0 + tick / rate - time.monotonic()))

    asyncio.run(main())
