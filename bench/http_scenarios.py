"""HTTP scenarios against gunicorn (2 workers): read latency on a 1,000-node task, create_task, throughput.

Single-request latency is measured with a sequential series from one client
(one request in flight, so the median is the server's latency plus loopback
plus the client's own cost, which each row prints); the throughput figure
comes from locust, headless, with many users.
"""
from __future__ import annotations

import csv
import http.client
import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from . import trees
from .engine_probe import Unavailable
from .harness import CLIENT_KINDS, REPO, VENV_BIN, Config
from .scenarios import Result, Target

BIZ_ID = 9901
APP_CODE = "sops-bench"
APP_SECRET = "sops-bench-secret"
ACCESS_TOKEN = "sops-bench-access-token"


@dataclass
class Seed:
    base_url: str
    biz_id: int
    big_template_id: int
    small_template_id: int

    @property
    def creds(self) -> dict[str, str]:
        return {"app_code": APP_CODE, "app_secret": APP_SECRET, "access_token": ACCESS_TOKEN}


def require_endpoints() -> None:
    from django.urls import Resolver404, resolve

    for path in ("/apigw/create_task/1/1/", "/apigw/start_task/1/1/", "/apigw/get_task_status/1/1/",
                 "/apigw/get_task_node_detail/1/1/"):
        try:
            resolve(path)
        except Resolver404 as exc:
            raise Unavailable(f"endpoint {path.split('/')[2]} is not routed yet") from exc


def seed(base_url: str) -> Seed:
    """A business, an app, a maintainer with an access_token, a 1,000-node and a small template.

    Rows are created through the apps' own service functions, as an operator's
    commands would; the caller is a plain maintainer (not a superuser) so the
    role check runs as it does for real callers.
    """
    try:
        from access_app.models import Business, Role, UserTicket
        from access_app.services import create_app, ensure_user, issue_ticket, set_member_role
        from templates_app.services import create_template
    except ImportError as exc:
        raise Unavailable(f"seeding needs the apps' services ({exc})") from exc

    business, _ = Business.objects.get_or_create(bk_biz_id=BIZ_ID, defaults={"name": "bench"})
    user = ensure_user(username="bench")
    set_member_role(business=business, user=user, role=Role.MAINTAINER)
    from access_app.models import App

    if not App.objects.filter(app_code=APP_CODE).exists():
        app, _ = create_app(app_code=APP_CODE, secret=APP_SECRET)
        issue_ticket(user=user, kind=UserTicket.ACCESS_TOKEN, app=app, raw=ACCESS_TOKEN, expires_in=7 * 24 * 3600)
    big = create_template(name="bench 1000 noop", pipeline_tree=trees.linear_chain(1000), creator="bench",
                          business=business)
    small = create_template(name="bench small exclusive", pipeline_tree=trees.exclusive_small(),
                            creator="bench", business=business)
    return Seed(base_url, BIZ_ID, big.pk, small.pk)


class Client:
    """One caller's connection: `get`/`post` return (seconds until the answer was read, its JSON).

    gunicorn's sync workers close the connection after each answer, so both kinds connect once
    per request (http.client reopens by itself), as a caller of the real service does."""

    def __init__(self, seed: Seed, kind: str = CLIENT_KINDS[0]) -> None:
        if kind not in CLIENT_KINDS:
            raise ValueError(f"unknown HTTP client {kind!r}; one of {', '.join(CLIENT_KINDS)}")
        self.seed, self.kind = seed, kind
        #: the driver's CPU seconds spent in this client's requests (JSON decoding included), and their count
        self.cpu_s, self.calls = 0.0, 0
        if kind == "requests":
            import requests

            self.s = requests.Session()
        else:
            parts = urlsplit(seed.base_url)
            self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)

    def get(self, endpoint: str, task_id: int, **params: Any) -> tuple[float, dict[str, Any]]:
        return self._send("GET", f"/apigw/{endpoint}/{task_id}/{self.seed.biz_id}/",
                          query={**self.seed.creds, **params})

    def post(self, endpoint: str, first: int, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        return self._send("POST", f"/apigw/{endpoint}/{first}/{self.seed.biz_id}/", body={**self.seed.creds, **body})

    def cpu_ms_per_call_since(self, mark: tuple[float, int]) -> float | None:
        """The driver's CPU per request since `mark` (a `(cpu_s, calls)` taken before), in ms."""
        calls = self.calls - mark[1]
        return round((self.cpu_s - mark[0]) * 1e3 / calls, 3) if calls else None

    def _send(self, method: str, path: str, query: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None) -> tuple[float, dict[str, Any]]:
        cpu0 = time.thread_time()
        t0 = time.perf_counter()
        if self.kind == "requests":
            resp = self.s.request(method, self.seed.base_url + path, params=query, json=body, timeout=60)
            elapsed = time.perf_counter() - t0
            status, payload = resp.status_code, resp.content
        else:
            target = f"{path}?{urlencode(query)}" if query else path
            data = json.dumps(body).encode() if body is not None else None
            try:
                self.conn.request(method, target, body=data,
                                  headers={"Content-Type": "application/json"} if data is not None else {})
                answer = self.conn.getresponse()
                payload = answer.read()
            except Exception:
                self.conn.close()  # the next request opens a new connection
                raise
            elapsed = time.perf_counter() - t0
            status = answer.status
        decoded = _body(status, payload)
        self.cpu_s += time.thread_time() - cpu0
        self.calls += 1
        return elapsed, decoded

    def create_task(self, template_id: int, name: str) -> tuple[float, dict[str, Any]]:
        elapsed, body = self.post("create_task", template_id, {"name": name, "flow_type": "common"})
        if not body.get("result"):
            raise RuntimeError(f"create_task failed: {body.get('message')}")
        return elapsed, body["data"]

    def run_task(self, template_id: int, name: str, timeout: float = 120) -> dict[str, Any]:
        """create_task + start_task, then poll get_task_status until FINISHED (outside any timing)."""
        _, data = self.create_task(template_id, name)
        _, body = self.post("start_task", data["task_id"], {})
        if not body.get("result"):
            raise RuntimeError(f"start_task failed: {body.get('message')}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, status = self.get("get_task_status", data["task_id"])
            state = (status.get("data") or {}).get("state")
            if state == "FINISHED":
                return data
            if state in ("FAILED", "REVOKED"):
                raise RuntimeError(f"task {data['task_id']} ended {state}")
            time.sleep(0.2)
        raise RuntimeError(f"task {data['task_id']} not FINISHED after {timeout}s")


def _body(status: int, payload: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(payload)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        return decoded
    return {"result": False, "message": f"HTTP {status}: {payload[:200].decode(errors='replace')}"}


def _series(fn: Any, n: int, warm: int = 3) -> list[float]:
    for _ in range(warm):
        fn()
    out = []
    for _ in range(n):
        elapsed, body = fn()
        if not body.get("result"):
            raise RuntimeError(f"request failed: {body.get('message')}")
        out.append(elapsed)
    return out


def _latency_result(name: str, what: str, target_ms: float, samples: list[float], **extra: Any) -> Result:
    ms = sorted(x * 1e3 for x in samples)
    r = Result(name, what, Target(f"median <= {target_ms:g} ms", median_ms=target_ms))
    r.extra.update(requests=len(ms), median_ms=statistics.median(ms), min_ms=ms[0], max_ms=ms[-1],
                   p95_ms=ms[max(0, int(len(ms) * 0.95) - 1)], **extra)
    return r


def _server_cpu(web_pid: int | None) -> dict[str, dict[int, float]]:
    """CPU seconds per process of gunicorn (master and workers) and of our PostgreSQL backends."""
    from .harness import children_of, cpu_seconds, postgres_backends

    web_pids = [web_pid, *children_of(web_pid)] if web_pid else []
    return {"web": {pid: cpu_seconds(pid) for pid in web_pids},
            "pg": {pid: cpu_seconds(pid) for pid in postgres_backends()}}


def _used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], role: str) -> float:
    # Per process: a process that appeared meanwhile started from zero; one that is gone is not counted.
    return sum(max(0.0, t - before[role].get(pid, 0.0)) for pid, t in after[role].items())


def run_locust(cfg: Config, seed: Seed, task_id: int, users: int, seconds: int,
               web_pid: int | None = None) -> dict[str, Any]:
    """Headless locust on get_task_status; returns requests/s and failures from its CSV.

    Locust shares the 2 cores with the server, so the CPU each side spends per
    request is reported too: server CPU per request bounds what the server alone
    could answer on this machine.
    """
    import resource
    out_dir = cfg.log_dir / "locust"
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / "status_small"
    env = dict(os.environ)
    env["SOPS_BENCH_PATH"] = (f"/apigw/get_task_status/{task_id}/{seed.biz_id}/?app_code={APP_CODE}"
                              f"&app_secret={APP_SECRET}&access_token={ACCESS_TOKEN}")
    argv = [str(VENV_BIN / "locust"), "-f", str(REPO / "bench" / "locustfile.py"), "--headless",
            "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", seed.base_url,
            "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "5"]
    server_before = _server_cpu(web_pid)
    kids_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out_dir / "locust.log", "wb") as log:
        proc = subprocess.run(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                              timeout=seconds + 60)
    kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_after = _server_cpu(web_pid)
    web_cpu, pg_cpu = _used(server_before, server_after, "web"), _used(server_before, server_after, "pg")
    server_cpu = web_cpu + pg_cpu
    locust_cpu = (kids_after.ru_utime + kids_after.ru_stime) - (kids_before.ru_utime + kids_before.ru_stime)
    stats_path = Path(f"{prefix}_stats.csv")
    if not stats_path.exists():
        raise RuntimeError(f"locust wrote no stats (exit {proc.returncode}); see {out_dir / 'locust.log'}")
    with open(stats_path) as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    agg = rows["Aggregated"]
    requests = int(agg["Request Count"]) or 1
    return {"rps": float(agg["Requests/s"]), "requests": int(agg["Request Count"]),
            "failures": int(agg["Failure Count"]), "median_ms": float(agg["Median Response Time"]),
            "p95_ms": float(agg.get("95%", "nan")), "users": users, "seconds": seconds,
            "server_cpu_ms_per_request": round(server_cpu * 1e3 / requests, 3),
            "gunicorn_cpu_ms_per_request": round(web_cpu * 1e3 / requests, 3),
            "postgres_cpu_ms_per_request": round(pg_cpu * 1e3 / requests, 3),
            "locust_cpu_ms_per_request": round(locust_cpu * 1e3 / requests, 3),
            "server_only_capacity_rps": round((os.cpu_count() or 1) / (server_cpu / requests))
            if server_cpu else None}


def profile_in_process(cfg: Config, seed: Seed, big_id: int, node: str, small_id: int, n: int = 20) -> None:
    """The same requests through Django's test client under cProfile (--profile): where a request's
    time goes, without gunicorn in the way. Written as <scenario>-driver.prof."""
    import cProfile

    from django.test import Client

    client = Client()
    biz = seed.biz_id
    cases = {
        "http_status_1000": lambda: client.get(f"/apigw/get_task_status/{big_id}/{biz}/", seed.creds),
        "http_node_detail_1000": lambda: client.get(f"/apigw/get_task_node_detail/{big_id}/{biz}/",
                                                    {**seed.creds, "node_id": node, "act_id": node}),
        "http_create_task_1000": lambda: client.post(
            f"/apigw/create_task/{seed.big_template_id}/{biz}/",
            data={**seed.creds, "name": "bench profile"}, content_type="application/json"),
        "http_status_small_rps": lambda: client.get(f"/apigw/get_task_status/{small_id}/{biz}/", seed.creds),
    }
    for name, call in cases.items():
        call()  # warm caches and connections outside the profile
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            call()
        prof.disable()
        prof.dump_stats(str(cfg.profile_dir / f"{name}-driver.prof"))


def http_scenarios(cfg: Config, base_url: str, quick: bool, web_pid: int | None = None) -> list[Result]:
    names = ["http_status_1000", "http_node_detail_1000", "http_create_task_1000", "http_status_small_rps"]
    try:
        require_endpoints()
        s = seed(base_url)
        client = Client(s, cfg.http_client)
        big = client.run_task(s.big_template_id, "bench big")
        small = client.run_task(s.small_template_id, "bench small")
    except Unavailable as exc:
        return [Result(n, "", Target(""), skipped=str(exc)) for n in names]
    except Exception as exc:  # noqa: BLE001 - report, do not crash the other scenarios
        return [Result(n, "", Target(""), error=f"setup: {type(exc).__name__}: {exc}") for n in names]

    results: list[Result] = []
    big_id = big["task_id"]
    node_ids = sorted((big.get("pipeline_tree") or {}).get("activities", {}))
    n = 20 if quick else 50

    def one(name: str, what: str, target: float, fn: Any, count: int) -> None:
        try:
            mark = (client.cpu_s, client.calls)
            samples = _series(fn, count)
            results.append(_latency_result(name, what, target, samples,
                                           client_cpu_ms=client.cpu_ms_per_call_since(mark)))
        except Exception as exc:  # noqa: BLE001
            results.append(Result(name, what, Target(f"median <= {target:g} ms"), error=str(exc)))

    one("http_status_1000", "get_task_status on a finished 1,000-node task", 30,
        lambda: client.get("get_task_status", big_id), n)
    if node_ids:
        node = node_ids[len(node_ids) // 2]
        one("http_node_detail_1000", "get_task_node_detail, one node of the 1,000-node task", 10,
            lambda: client.get("get_task_node_detail", big_id, node_id=node, act_id=node), n * 2)
    else:
        results.append(Result("http_node_detail_1000", "", Target(""), error="create_task returned no tree"))
    counter = iter(range(10**6))
    one("http_create_task_1000", "create_task from the 1,000-node template", 150,
        lambda: client.post("create_task", s.big_template_id, {"name": f"bench c{next(counter)}"}),
        10 if quick else 20)

    if cfg.profile:
        profile_in_process(cfg, s, big_id, node_ids[len(node_ids) // 2] if node_ids else "", small["task_id"])

    r = Result("http_status_small_rps", "get_task_status on a small task, locust headless",
               Target(">= 400 requests/s", rps=400))
    try:
        figures = run_locust(cfg, s, small["task_id"], users=16, seconds=8 if quick else 20, web_pid=web_pid)
        r.extra.update(figures)
        if figures["failures"]:
            r.error = f"{figures['failures']} failed requests"
    except Exception as exc:  # noqa: BLE001
        r.error = f"{type(exc).__name__}: {exc}"
    results.append(r)
    return results
