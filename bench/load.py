"""HTTP load for the benchmarks and the suite's short load test: ``wrk`` when it is installed (a C
load generator from another process, Debian package ``wrk``), else a bounded asyncio client.

:func:`drive` sends a round-robin mix of requests (:class:`Req`) over ``connections`` keep-alive
connections for ``seconds`` and returns a :class:`LoadResult`: requests, throughput, latency
percentiles and errors (non-2xx answers, connection errors, timeouts). :class:`RssSampler` records
the resident memory of server processes meanwhile. Everything stays on 127.0.0.1.

>>> reqs = [Req("POST", "/v1/models/default/similar", {"positive": ["king"]})]  # doctest: +SKIP
>>> drive("http://127.0.0.1:8001", reqs, connections=64, seconds=10).rps       # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    body: Any = None


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_detail: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


WRK_SCRIPT = """
local reqs = {%s}
local i = 0
request = function()
  i = (i %% #reqs) + 1
  return reqs[i]
end
init = function(args)
  for k, r in ipairs(reqs) do
    reqs[k] = wrk.format(r[1], r[2], {["Content-Type"] = "application/json"}, r[3])
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'LOADRESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def drive(
    url: str, reqs: list[Req], *, connections: int, seconds: float, threads: int = 1, tool: str | None = None
) -> LoadResult:
    """Send ``reqs`` round-robin for ``seconds`` over ``connections`` connections; return the figures."""
    tool = tool or ("wrk" if wrk_available() else "python")
    if tool == "wrk":
        return _drive_wrk(url, reqs, connections=connections, seconds=seconds, threads=threads)
    return asyncio.run(_drive_python(url, reqs, connections=connections, seconds=seconds))


def _drive_wrk(url: str, reqs: list[Req], *, connections: int, seconds: float, threads: int) -> LoadResult:
    def entry(r: Req) -> str:
        body = _lua_string(json.dumps(r.body)) if r.body is not None else "nil"
        return f"{{{_lua_string(r.method)}, {_lua_string(r.path)}, {body}}}"

    entries = ", ".join(entry(r) for r in reqs)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT % entries)
        script = fh.name
    try:
        cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s"]
        cmd += ["--timeout", "10s", "-s", script, url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(script)
    m = re.search(r"^LOADRESULT (\{.*\})$", out, re.MULTILINE)
    if not m:
        raise RuntimeError(f"wrk gave no result:\n{out}")
    d = json.loads(m.group(1))
    detail = {k: d[k] for k in ("connect", "read", "write", "status", "timeout") if d[k]}
    return LoadResult(
        tool="wrk",
        requests=d["requests"],
        seconds=d["duration_us"] / 1e6,
        p50_ms=d["p50_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
        errors=sum(detail.values()),
        error_detail=detail,
    )


async def _drive_python(url: str, reqs: list[Req], *, connections: int, seconds: float) -> LoadResult:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(1 << 62))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    start = time.perf_counter()
    deadline = start + seconds
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                r = reqs[next(counter) % len(reqs)]
                t0 = time.perf_counter()
                try:
                    resp = await client.request(r.method, r.path, json=r.body)
                    if resp.status_code >= 400:
                        errors["status"] = errors.get("status", 0) + 1
                except httpx.TimeoutException:
                    errors["timeout"] = errors.get("timeout", 0) + 1
                except httpx.TransportError:
                    errors["connect"] = errors.get("connect", 0) + 1
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    lat = sorted(latencies) or [0.0]
    return LoadResult(
        tool="python",
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=lat[len(lat) // 2] * 1000,
        p99_ms=lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        errors=sum(errors.values()),
        error_detail=errors,
    )


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler:
    """Sample the RSS of ``pids`` every ``period_s`` in a thread (``with RssSampler(pids) as s:``)."""

    def __init__(self, pids: list[int], period_s: float = 1.0) -> None:
        self.pids = pids
        self.period_s = period_s
        self.samples: list[tuple[float, list[int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - t0, [rss_bytes(p) for p in self.pids]))
            self._stop.wait(self.period_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def growth(self, index: int) -> tuple[int, int]:
        """(median RSS of the first quarter, of the last quarter) of process ``index``, in bytes."""
        values = [s[1][index] for s in self.samples if s[1][index]]
        if len(values) < 4:
            return (values[0], values[-1]) if values else (0, 0)
        q = len(values) // 4
        first, last = sorted(values[:q]), sorted(values[-q:])
        return first[len(first) // 2], last[len(last) // 2]
