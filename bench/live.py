#!/usr/bin/env python3
"""Issue 15's measured targets: live logs (Server-Sent Events) and the dashboard of
`wharf serve`.

usage: bench/live.py [--wharf BIN] [--work DIR] [--results DIR] SUBCOMMAND [options]

  followers  one job printing 5 MiB/s for ~20 s, run once per entry of --followers
             (default: 0, then 100 SSE followers of it); half of the followers close their
             connection at a random moment and reconnect with Last-Event-ID. Reports the
             job's achieved rate (ratio to the run without followers), whether every
             follower's copy of each step is byte-identical to the stored log (sha256),
             reconnects, and the server's RSS (sampled every 100 ms).
  pages      10,000 runs (3 jobs `true` each) in a project's history, then 500 sequential
             requests to each of the runs page (first and a deep page), a run page and
             /api/v1/health (the HTTP stack alone): p50/p95/p99 of request -> last byte.
  latency    a job prints a line holding its wall-clock time every 200 ms for ~25 s; one
             follower records each line's arrival: latency = arrival - printed (one clock).
             Alone, with 100 other followers of the same job, and beside a 5 MiB/s job of
             the same run followed by 100 followers.

Python 3 standard library only; it reuses bench/server.py's server, repository and token
helpers. Everything talks to 127.0.0.1. Each subcommand prints a Markdown table and writes
RESULTS/live-NAME-STAMP.md and .json (RESULTS defaults to docs/bench-results). Its work
directory (a fresh directory under --work) and its servers are removed at the end, also on
Ctrl-C, unless --keep. Nothing asserts a time: the verdicts are written by a person.
"""

import argparse
import base64
import hashlib
import http.client
import json
import multiprocessing
import os
import random
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import server as srv  # noqa: E402  (bench/server.py)
from server import Repo, Server, log, machine_line, pct, stamp  # noqa: E402

ROOT = srv.ROOT

# ---------------------------------------------------------------------------------------
# What the jobs run: bench-writer.py, committed into each project's repository.
# ---------------------------------------------------------------------------------------

LINE = 128                 # bytes per flood line, "é" (2 bytes) in the middle so that reads
PER_TICK = 1024            # cut characters now and then; 1024 lines = 128 KiB per tick


def flood_line(n: int) -> bytes:
    return f"{n:012d} {'x' * 56}é{'x' * 56}\n".encode()


assert len(flood_line(0)) == LINE

WRITER = r'''
import json, os, sys, time

def write_all(b):
    while b:
        n = os.write(1, b)
        b = b[n:]

def flood(stats, rate, seconds):
    line = lambda n: f"{n:012d} {'x' * 56}é{'x' * 56}\n"
    per_tick = %(PER_TICK)d
    tick = per_tick * %(LINE)d / rate
    ticks = int(round(seconds / tick))
    w0 = time.time(); m0 = time.monotonic(); lag = 0.0; late = 0
    for k in range(ticks):
        due = m0 + k * tick
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        else:
            lag = max(lag, now - due)
            late += now - due > tick
        base = k * per_tick
        write_all("".join(line(base + i) for i in range(per_tick)).encode())
    m1 = time.monotonic(); w1 = time.time()
    n = ticks * per_tick * %(LINE)d
    with open(stats, "w") as f:
        json.dump({"bytes": n, "lines": ticks * per_tick, "start": w0, "end": w1,
                   "seconds": m1 - m0, "rate": n / (m1 - m0), "max_lag": lag,
                   "ticks_late": late, "ticks": ticks}, f)

def lat(stats, interval, count):
    m0 = time.monotonic(); lag = 0.0
    for i in range(count):
        due = m0 + i * interval
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        else:
            lag = max(lag, now - due)
        write_all(f"LAT {i} {time.time():.6f}\n".encode())
    with open(stats, "w") as f:
        json.dump({"lines": count, "seconds": time.monotonic() - m0, "max_lag": lag}, f)

mode, stats = sys.argv[1], sys.argv[2]
if mode == "flood":
    flood(stats, float(sys.argv[3]), float(sys.argv[4]))
else:
    lat(stats, float(sys.argv[3]), int(sys.argv[4]))
''' % {"PER_TICK": PER_TICK, "LINE": LINE}


def flood_expected(stats: dict) -> tuple[str, int]:
    """sha256 and length of what the flood step printed (its lines are deterministic)."""
    h = hashlib.sha256()
    n = stats["lines"]
    for base in range(0, n, PER_TICK):
        h.update(b"".join(flood_line(i) for i in range(base, min(n, base + PER_TICK))))
    return h.hexdigest(), n * LINE


def flood_job(stats_dir: Path, rate: int, seconds: float, needs=None) -> list[str]:
    return [
        "  flood:",
        "    steps:",
        "      - name: print",
        f'        run: python3 bench-writer.py flood "{stats_dir}/flood-$WHARF_RUN_ID.json" {rate} {seconds}',
        "      - name: trailer",
        "        run: echo trailer of run $WHARF_RUN_ID",
    ]


def lat_job(stats_dir: Path, interval: float, count: int) -> list[str]:
    return [
        "  lat:",
        "    steps:",
        "      - name: clock",
        f'        run: python3 bench-writer.py lat "{stats_dir}/lat-$WHARF_RUN_ID.json" {interval} {count}',
    ]


def pipeline(*jobs: list[str]) -> str:
    out = ["version: 1", "on:", "  manual: {}", "jobs:"]
    for j in jobs:
        out.extend(j)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# Cleanup: servers stopped and the work directory removed, also on Ctrl-C / SIGTERM.
# ---------------------------------------------------------------------------------------

SERVERS: list[Server] = []
WORKDIRS: list[Path] = []
KEEP = False


def cleanup():
    # a second Ctrl-C must not leave a server behind
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for s in SERVERS:
        try:
            s.stop()
        except Exception as e:  # noqa: BLE001
            log(f"stopping a server: {e}")
    SERVERS.clear()
    if not KEEP:
        for d in WORKDIRS:
            shutil.rmtree(d, ignore_errors=True)
    elif WORKDIRS:
        log(f"kept {', '.join(map(str, WORKDIRS))}")
    WORKDIRS.clear()


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def new_server(a, w: Path, name: str, *extra) -> Server:
    s = Server(a.wharf, w / f"data-{name}")
    SERVERS.append(s)
    return s


def viewer_token(s: Server) -> str:
    return json.loads(s.admin("token", "create", "viewer", "--role", "viewer", "--json"))["token"]


def trigger(s: Server, project: str) -> int:
    st, _, data = s.api(f"/projects/{project}/trigger", method="POST", body=b"{}", raw=True,
                        headers={"Content-Type": "application/json"})
    if st != 202:
        raise RuntimeError(f"trigger {project}: {st} {data[:500]!r}\n{s.tail()}")
    return json.loads(data)["event"]


def wait_run(s: Server, project: str, eid: int, job: str, timeout=60) -> int:
    """The run number of event `eid` once its run record names `job`."""
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        e = next((x for x in s.events(project, 20) if x["id"] == eid), None)
        if e and e.get("runs"):
            run = e["runs"][0]
            st, _, data = s.api(f"/projects/{project}/runs/{run}", raw=True)
            if st == 200 and any(j["id"] == job for j in json.loads(data).get("jobs", [])):
                return run
        if e and e["state"] not in ("queued", "running"):
            raise RuntimeError(f"event {eid} ended {e['state']} without a run: {e.get('error')}\n{s.tail()}")
        time.sleep(0.01)
    raise RuntimeError(f"event {eid}: no run after {timeout} s\n{s.tail()}")


def wait_event(s: Server, project: str, eid: int, timeout=600) -> dict:
    return srv.wait_events_done(s, project, [eid], timeout=timeout, poll=0.1)[eid]


class Sampler(threading.Thread):
    """The server's VmRSS every `every` s (and its CPU time at start and stop)."""

    def __init__(self, pid: int, every=0.1):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self.peak = {}  # the status at the largest VmRSS
        self.halt = threading.Event()
        self.cpu0 = cpu_seconds(pid)
        self.cpu1 = None

    def run(self):
        t0 = time.monotonic()
        while not self.halt.is_set():
            try:
                st = proc_status(self.pid)
                self.samples.append((round(time.monotonic() - t0, 2), st["VmRSS"]))
                if st["VmRSS"] >= self.peak.get("VmRSS", 0):
                    self.peak = st
            except (FileNotFoundError, ProcessLookupError):
                return
            self.halt.wait(self.every)

    def stop(self):
        self.halt.set()
        self.join()
        self.cpu1 = cpu_seconds(self.pid)
        return self

    @property
    def max_kib(self):
        return max(v for _, v in self.samples)


def proc_status(pid: int) -> dict:
    out = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon", "RssFile", "Threads"):
            out[k] = int(v.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


# ---------------------------------------------------------------------------------------
# SSE followers: raw non-blocking sockets in one selector loop, HTTP/1.1 chunked bodies
# and SSE parsed by hand. Each follower keeps, per step, a sha256 and the length of the
# bytes received, checks every `log` event's offset against that length (no gap, no
# duplicate), and resumes with Last-Event-ID after it closed its own connection.
# ---------------------------------------------------------------------------------------

class Follower:
    def __init__(self, idx, host, port, path, token, kill_at=(), latency=False):
        self.idx, self.host, self.port, self.path, self.token = idx, host, port, path, token
        self.kill_at = sorted(kill_at)
        self.latency = latency
        self.sock = None
        self.last_id = None       # the id of the last complete event
        self.from_param = None    # after a `behind`: resume with ?from=
        self.hash: dict[int, "hashlib._Hash"] = {}
        self.length: dict[int, int] = {}
        self.step_end: dict[int, dict] = {}
        self.end = None
        self.errors: list[str] = []
        self.reconnects = 0       # closed by us (the kills)
        self.server_closes = 0    # the stream ended without `end` or `behind`
        self.behinds = 0
        self.behind_bytes = 0
        self.events = 0
        self.log_bytes = 0
        self.lines: list[tuple[int, float, float]] = []  # (seq, printed, arrived)
        self.connected_at = None
        self.reconnect_due = None

    # -- connection --
    def connect(self, sel, resume=False):
        s = socket.create_connection((self.host, self.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        path = self.path
        extra = ""
        if self.from_param is not None:
            path += f"?from={self.from_param}"
            self.from_param = None
        elif resume and self.last_id is not None:
            extra = f"Last-Event-ID: {self.last_id}\r\n"
        elif resume:
            # Nothing complete received yet: start over.
            self.hash.clear()
            self.length.clear()
        req = (f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
               f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n{extra}\r\n")
        s.sendall(req.encode())
        s.setblocking(False)
        self.sock = s
        self.head = bytearray()
        self.in_head = True
        self.chunked = False
        self.raw = bytearray()
        self.chunk_left = 0
        self.skip_crlf = 0
        self.body = bytearray()
        self.body_done = False
        self.connected_at = time.monotonic()
        sel.register(s, selectors.EVENT_READ, self)

    def close(self, sel):
        if self.sock is not None:
            sel.unregister(self.sock)
            self.sock.close()
            self.sock = None

    # -- reading --
    def readable(self, sel):
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except ConnectionError as e:
            self.errors.append(f"recv: {e}")
            data = b""
        now = time.time()
        if not data:
            self.close(sel)
            if self.end is None and self.from_param is None:
                self.server_closes += 1
                self.reconnect_due = time.monotonic()
            return
        if self.in_head:
            self.head += data
            i = self.head.find(b"\r\n\r\n")
            if i < 0:
                return
            head = bytes(self.head[:i]).decode("latin-1")
            data = bytes(self.head[i + 4:])
            self.in_head = False
            status = head.split("\r\n", 1)[0]
            if " 200 " not in status + " ":
                self.errors.append(f"answer {status!r}")
                self.close(sel)
                self.end = {"status": "http-error", "reason": status}
                return
            hl = head.lower()
            self.chunked = "transfer-encoding: chunked" in hl
        if self.chunked:
            self.raw += data
            self.dechunk()
        else:
            self.body += data
        self.parse(sel, now)
        if self.body_done and self.sock is not None:
            # the stream ended without `end` or `behind`: resume after the last event
            self.close(sel)
            self.server_closes += 1
            self.reconnect_due = time.monotonic()

    def dechunk(self):
        raw = self.raw
        pos = 0
        n = len(raw)
        while pos < n:
            if self.skip_crlf:
                k = min(self.skip_crlf, n - pos)
                pos += k
                self.skip_crlf -= k
                continue
            if self.chunk_left:
                k = min(self.chunk_left, n - pos)
                self.body += raw[pos:pos + k]
                pos += k
                self.chunk_left -= k
                if not self.chunk_left:
                    self.skip_crlf = 2
                continue
            e = raw.find(b"\r\n", pos)
            if e < 0:
                break
            size = int(bytes(raw[pos:e]).split(b";")[0], 16)
            pos = e + 2
            if size == 0:
                self.body_done = True
                pos = n
                break
            self.chunk_left = size
        del raw[:pos]

    def parse(self, sel, now):
        body = self.body
        start = 0
        while True:
            e = body.find(b"\n\n", start)
            if e < 0:
                break
            block = bytes(body[start:e])
            start = e + 2
            self.event(block, sel, now)
            if self.sock is None:
                break
        del body[:start]

    def event(self, block: bytes, sel, now):
        kind = id_ = None
        data = []
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                v = line[5:]
                data.append(v[1:] if v.startswith(b" ") else v)
            elif line.startswith(b"event:"):
                kind = line[6:].strip().decode()
            elif line.startswith(b"id:"):
                id_ = line[3:].strip().decode()
        if kind is None and not data:
            return  # a comment (keep-alive)
        self.events += 1
        d = json.loads(b"\n".join(data)) if data else {}
        if kind == "log":
            step = d["step"]
            have = self.length.get(step)
            if have is None:
                self.errors.append(f"log of step {step} before its step event")
                have = 0
                self.hash[step] = hashlib.sha256()
            if d["offset"] != have:
                self.errors.append(f"step {step}: offset {d['offset']} where {have} bytes were received")
            if "text" in d:
                b = d["text"].encode()
            else:
                b = base64.b64decode(d["base64"])
            self.hash[step].update(b)
            self.length[step] = have + len(b)
            self.log_bytes += len(b)
            if self.latency:
                for ln in d.get("text", "").split("\n"):
                    if ln.startswith("LAT "):
                        _, seq, t = ln.split(" ")
                        self.lines.append((int(seq), float(t), now))
        elif kind == "step":
            step = d["step"]
            if step in self.length:
                self.errors.append(f"step event of step {step} twice")
            else:
                self.hash[step] = hashlib.sha256()
                self.length[step] = 0
        elif kind == "step-end":
            self.step_end[d["step"]] = d
        elif kind == "behind":
            self.behinds += 1
            step, frm, to = d["step"], d["from"], d["to"]
            if frm != self.length.get(step):
                self.errors.append(f"behind from {frm} where {self.length.get(step)} bytes were received")
            b = fetch_range(self.host, self.port, self.token, d["url"], frm, to)
            if len(b) != to - frm:
                self.errors.append(f"range {frm}-{to - 1}: {len(b)} bytes")
            self.hash[step].update(b)
            self.length[step] = frm + len(b)
            self.behind_bytes += len(b)
            self.from_param = f"{step}:b:{frm + len(b)}"
            self.last_id = self.from_param
            self.close(sel)
            self.reconnect_due = time.monotonic()
            return
        elif kind == "end":
            self.end = d
            self.close(sel)
            return
        else:
            self.errors.append(f"unknown event {kind!r}")
        if id_ is not None:
            self.last_id = id_


def fetch_range(host, port, token, url, frm, to) -> bytes:
    c = http.client.HTTPConnection(host, port, timeout=60)
    try:
        c.request("GET", url, headers={"Authorization": f"Bearer {token}",
                                       "Range": f"bytes={frm}-{to - 1}"})
        r = c.getresponse()
        return r.read()
    finally:
        c.close()


def run_followers(followers: list[Follower], deadline: float, ready=None):
    """Drives every follower until each received `end` (or the deadline)."""
    sel = selectors.DefaultSelector()
    for f in followers:
        f.connect(sel)
    if ready is not None:
        ready.set()
    while True:
        live = [f for f in followers if f.end is None]
        if not live:
            break
        now = time.monotonic()
        if now > deadline:
            for f in live:
                f.errors.append("deadline passed without `end`")
                f.close(sel)
            break
        nxt = now + 0.1
        for f in live:
            if f.kill_at and f.sock is not None:
                if f.kill_at[0] <= now:
                    f.kill_at.pop(0)
                    f.close(sel)
                    f.reconnects += 1
                    f.reconnect_due = now + random.uniform(0, 0.3)
                else:
                    nxt = min(nxt, f.kill_at[0])
            if f.sock is None and f.reconnect_due is not None:
                if f.reconnect_due <= now:
                    f.reconnect_due = None
                    f.connect(sel, resume=True)
                else:
                    nxt = min(nxt, f.reconnect_due)
        for key, _ in sel.select(max(0.0, nxt - time.monotonic())):
            f = key.data
            if f.sock is not None:
                f.readable(sel)
    sel.close()


def stored_logs(s: Server, token: str, project: str, run: int, job: str, steps: int):
    out = {}
    for i in range(steps):
        st, hd, data, _ = s.request("GET", f"/api/v1/projects/{project}/runs/{run}/jobs/{job}/steps/{i}/log",
                                    headers={"Authorization": f"Bearer {token}"})
        if st != 200:
            raise RuntimeError(f"stored log of step {i}: {st} {data[:300]!r}")
        out[i] = (hashlib.sha256(data).hexdigest(), len(data))
    return out


def follower_stream_path(project, run, job):
    return f"/api/v1/projects/{project}/runs/{run}/jobs/{job}/stream"


# ---------------------------------------------------------------------------------------
# 1. followers
# ---------------------------------------------------------------------------------------

def followers(a):
    st = stamp()
    w = workdir(a, "followers")
    stats_dir = w / "stats"
    stats_dir.mkdir()
    rate = int(a.rate_mib * 1048576)
    repo = Repo(w / "git", {"wharf.yml": pipeline(flood_job(stats_dir, rate, a.seconds)),
                            "bench-writer.py": WRITER})
    s = new_server(a, w, "followers")
    s.add_project("flood", repo)
    s.make_token()
    viewer = viewer_token(s)
    s.start()
    srv.mirror_ready(s, "flood")
    # warm-up: one short run (the first run of a project opens its store, clones, ...)
    log("warm-up run")
    eid = trigger(s, "flood")
    row = wait_event(s, "flood", eid)
    if row["state"] != "done":
        raise RuntimeError(f"warm-up: {row}")
    time.sleep(2)
    rows = []
    rng = random.Random(a.seed)
    for n in a.followers:
        time.sleep(a.settle)
        idle = s.status()
        os_cpu0 = own_cpu()
        sampler = Sampler(s.pid, 0.1)
        sampler.start()
        t0 = time.monotonic()
        eid = trigger(s, "flood")
        run = wait_run(s, "flood", eid, "flood")
        t_run = time.monotonic() - t0
        fl = []
        for i in range(n):
            kills = []
            if i % 2 == 1:  # half of them
                kills = sorted(rng.uniform(a.kill_min, a.kill_max) for _ in range(a.kills))
            fl.append(Follower(i, s.host, s.port, follower_stream_path("flood", run, "flood"), viewer,
                               kill_at=[time.monotonic() + k for k in kills]))
        if fl:
            run_followers(fl, time.monotonic() + a.seconds + a.timeout)
        t_followers = time.monotonic() - t0
        erow = wait_event(s, "flood", eid)
        t_done = time.monotonic() - t0
        time.sleep(0.5)
        sampler.stop()
        end = s.status()
        py_cpu = own_cpu() - os_cpu0
        rec = s.api(f"/projects/flood/runs/{run}")
        job = next(j for j in rec["jobs"] if j["id"] == "flood")
        step0 = job["steps"][0]
        stats = json.loads((stats_dir / f"flood-{run}.json").read_text())
        stored = stored_logs(s, viewer, "flood", run, "flood", len(job["steps"]))
        want_sha, want_len = flood_expected(stats)
        stored_ok = stored[0] == (want_sha, want_len)
        ident = 0
        bad = []
        for f in fl:
            ok = (f.end is not None and f.end.get("status") == "success" and not f.errors and
                  all(i in f.hash and (f.hash[i].hexdigest(), f.length[i]) == stored[i] for i in stored))
            ident += ok
            if not ok:
                bad.append({"follower": f.idx, "end": f.end, "errors": f.errors[:5],
                            "lengths": f.length, "stored": stored})
        r = {
            "followers": n, "run": run, "run_status": rec["status"], "event_state": erow["state"],
            "writer": stats,
            "step_s": (step0["finished_at"] - step0["started_at"]) / 1000,
            "step_rate": stats["bytes"] / ((step0["finished_at"] - step0["started_at"]) / 1000),
            "stored_len": stored[0][1], "stored_matches_printed": stored_ok,
            "identical": ident, "not_identical": bad[:10],
            "reconnects": sum(f.reconnects for f in fl),
            "followers_reconnected": sum(1 for f in fl if f.reconnects),
            "behinds": sum(f.behinds for f in fl), "behind_bytes": sum(f.behind_bytes for f in fl),
            "server_closes": sum(f.server_closes for f in fl),
            "events": sum(f.events for f in fl),
            "log_bytes_streamed": sum(f.log_bytes for f in fl),
            "rss_idle_kib": idle["VmRSS"], "rss_max_kib": sampler.max_kib, "rss_end_kib": end["VmRSS"],
            "rss_samples": len(sampler.samples), "status_at_peak": sampler.peak, "status_end": end,
            "server_cpu_s": round(sampler.cpu1 - sampler.cpu0, 2), "python_cpu_s": round(py_cpu, 2),
            "t_run_s": round(t_run, 2), "t_followers_done_s": round(t_followers, 2),
            "t_event_done_s": round(t_done, 2),
            "rss_series": sampler.samples[::5],
        }
        log(json.dumps({k: v for k, v in r.items() if k != "rss_series"}))
        rows.append(r)
    s.stop()
    base = next((r for r in rows if r["followers"] == 0), None)
    mib = lambda kib: f"{kib / 1024:.1f}"
    L = [f"# wharf serve: {a.rate_mib:g} MiB/s job with SSE followers ({st})", "", machine_line(), "",
         f"command: `{' '.join(sys.argv)}`", "",
         f"One job, step 0 prints {LINE}-byte lines ({PER_TICK} per tick, paced to {a.rate_mib:g} MiB/s, "
         f"{a.seconds:g} s; writer's own monotonic clock), step 1 one line. Followers: raw sockets in one "
         "Python selector loop; every odd-numbered follower closes its connection "
         f"{a.kills}x at a random moment {a.kill_min:g}-{a.kill_max:g} s after the run started and reconnects "
         "with Last-Event-ID. Server RSS sampled every 100 ms from the trigger to 0.5 s after the last follower "
         "got `end` and the event ended.", "",
         "| followers | writer rate (MiB/s) | vs 0 followers | writer max lag | step time (record) | identical copies (sha256, both steps) | stored log = printed | reconnects (followers) | `behind` | RSS idle / max / end (MiB) | server CPU | python CPU | last follower done |",
         "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = f"{r['writer']['rate'] / base['writer']['rate']:.3f}" if base else "-"
        L.append(f"| {r['followers']} | {r['writer']['rate'] / 1048576:.3f} | {ratio} | {r['writer']['max_lag'] * 1000:.0f} ms "
                 f"| {r['step_s']:.2f} s | {r['identical']} / {r['followers']} | {'yes' if r['stored_matches_printed'] else 'NO'} "
                 f"| {r['reconnects']} ({r['followers_reconnected']}) | {r['behinds']} | {mib(r['rss_idle_kib'])} / {mib(r['rss_max_kib'])} / {mib(r['rss_end_kib'])} "
                 f"| {r['server_cpu_s']} s | {r['python_cpu_s']} s | {r['t_followers_done_s']} s |")
    for r in rows:
        if r["not_identical"]:
            L += ["", f"{r['followers']} followers: copies not identical (first 10):", ""]
            L += [f"- {json.dumps(b)}" for b in r["not_identical"]]
    md = "\n".join(L) + "\n"
    write_results(a, "followers", st, {"stamp": st, "machine": machine_line(), "command": " ".join(sys.argv),
                                       "rows": rows}, md)


# ---------------------------------------------------------------------------------------
# 2. pages
# ---------------------------------------------------------------------------------------

PAGES_PIPELINE = """version: 1
on:
  manual: {}
jobs:
  build:
    run: "true"
  test:
    needs: [build]
    run: "true"
  deploy:
    needs: [test]
    run: "true"
"""


def login(s: Server, token: str) -> str:
    body = f"token={token}".encode()
    st, hd, data, _ = s.request("POST", "/login", body=body,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    for k, v in hd.items():
        if k.lower() == "set-cookie" and v.startswith("wharf_session="):
            return v.split(";", 1)[0]
    raise RuntimeError(f"login: {st} {hd} {data[:300]!r}")


def pages(a):
    st = stamp()
    w = workdir(a, "pages")
    repo = Repo(w / "git", {"wharf.yml": PAGES_PIPELINE})
    s = new_server(a, w, "pages")
    s.add_project("app", repo)
    s.make_token()
    viewer = viewer_token(s)
    s.start()
    srv.mirror_ready(s, "app")
    # the first run goes through the server: it makes the project's store
    eid = trigger(s, "app")
    row = wait_event(s, "app", eid)
    if row["state"] != "done":
        raise RuntimeError(f"first run: {row}\n{s.tail()}")
    history = {"via": a.history}
    t0 = time.monotonic()
    if a.history == "cli":
        # `wharf run` in a checkout whose .wharf is the project's store: the same store
        # format and the same engine, without the server's git fetch + worktree per run.
        s.stop()
        co = w / "checkout"
        co.mkdir()
        (co / "wharf.yml").write_text(PAGES_PIPELINE)
        (co / ".wharf").symlink_to(s.data / "projects" / "app" / "state")
        done = 1
        last = time.monotonic()
        while done < a.runs:
            r = subprocess.run([a.wharf, "-C", str(co), "run", "--event", "manual", "--plain"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"wharf run: {r.returncode} {r.stderr}")
            done += 1
            if time.monotonic() - last > 10:
                last = time.monotonic()
                log(f"  {done} runs, {done / (last - t0):.0f}/s")
        s.start()
    else:
        # the server's own way: manual triggers, at most `--in-flight` queued at a time
        pending = []
        done = 1
        last = time.monotonic()
        while done < a.runs or pending:
            while done + len(pending) < a.runs and len(pending) < a.in_flight:
                pending.append(trigger(s, "app"))
            rows = {e["id"]: e for e in s.events("app", 500)}
            still = []
            for e in pending:
                r = rows.get(e)
                if r and r["state"] not in ("queued", "running"):
                    if r["state"] != "done":
                        raise RuntimeError(f"event {e}: {r}")
                    done += 1
                else:
                    still.append(e)
            pending = still
            if time.monotonic() - last > 10:
                last = time.monotonic()
                log(f"  {done} runs, {done / (last - t0):.0f}/s")
            time.sleep(0.05)
    history["seconds"] = round(time.monotonic() - t0, 1)
    latest = s.api("/projects/app/runs?limit=1")[0]
    history["latest_run"] = srv.run_number(latest)
    log(f"history: {history}")
    cookie = login(s, viewer)
    deep = a.runs // 2
    routes = [
        ("/api/v1/health", {"Authorization": f"Bearer {viewer}"}, "API health (baseline: the HTTP stack)"),
        ("/projects/app", {"Cookie": cookie}, "runs page, first page"),
        (f"/projects/app?before={deep}", {"Cookie": cookie}, f"runs page, `before={deep}`"),
        (f"/projects/app/runs/{a.runs - 1}", {"Cookie": cookie}, f"run page, run {a.runs - 1}"),
    ]
    conns = [http.client.HTTPConnection(s.host, s.port, timeout=30) for _ in routes]
    times = [[] for _ in routes]
    sizes = [None] * len(routes)
    cpu0 = cpu_seconds(s.pid)
    for rnd in range(a.warmup + a.requests):
        for k, (path, hd, _) in enumerate(routes):
            c = conns[k]
            t = time.perf_counter()
            c.request("GET", path, headers=hd)
            r = c.getresponse()
            body = r.read()
            el = time.perf_counter() - t
            if r.status != 200:
                raise RuntimeError(f"{path}: {r.status} {body[:300]!r}")
            if rnd == 0 and b"/runs/" not in body and "projects" in path:
                raise RuntimeError(f"{path}: no run links in the page: {body[:500]!r}")
            sizes[k] = len(body)
            if rnd >= a.warmup:
                times[k].append(el * 1000)
    cpu = cpu_seconds(s.pid) - cpu0
    for c in conns:
        c.close()
    rss = s.status()
    s.stop()
    rows = []
    for k, (path, _, what) in enumerate(routes):
        v = times[k]
        rows.append({"path": path, "what": what, "bytes": sizes[k], "n": len(v),
                     "p50": pct(v, 50), "p95": pct(v, 95), "p99": pct(v, 99), "max": max(v),
                     "mean": statistics.mean(v)})
    L = [f"# wharf serve: dashboard pages with {a.runs:,} runs ({st})", "", machine_line(), "",
         f"command: `{' '.join(sys.argv)}`", "",
         f"History: {a.runs:,} runs of a pipeline of 3 jobs `true` "
         + ("(the first through the server, the rest with `wharf run` in a checkout whose `.wharf` is the "
            "project's store, server stopped)" if a.history == "cli" else "(manual triggers through the API)")
         + f", made in {history['seconds']} s. Then {a.warmup} warm-up rounds and {a.requests} measured rounds, "
         "each round one request per route in turn, each route on its own kept-alive connection (http.client); "
         "time = request sent to the last byte of the body read, on the same machine: the client's time is "
         "included, nothing subtracted.", "",
         "| route | what | bytes | p50 | p95 | p99 | max |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        L.append(f"| `{r['path']}` | {r['what']} | {r['bytes']:,} | {r['p50']:.2f} ms | {r['p95']:.2f} ms | "
                 f"{r['p99']:.2f} ms | {r['max']:.2f} ms |")
    L += ["", f"server CPU over the {len(routes) * (a.warmup + a.requests)} requests: {cpu:.2f} s "
              f"({cpu * 1000 / (len(routes) * (a.warmup + a.requests)):.2f} ms per request on average); "
              f"server RSS after: {rss['VmRSS'] / 1024:.1f} MiB"]
    md = "\n".join(L) + "\n"
    write_results(a, "pages", st, {"stamp": st, "machine": machine_line(), "command": " ".join(sys.argv),
                                   "history": history, "rows": rows, "server_cpu_s": cpu,
                                   "times_ms": {r[0]: t for r, t in zip(routes, times)}}, md)


# ---------------------------------------------------------------------------------------
# 3. latency
# ---------------------------------------------------------------------------------------

def latency_follower(host, port, path, token, deadline, q):
    """Runs in its own process so that the other followers' parsing does not delay it."""
    f = Follower(0, host, port, path, token, latency=True)
    run_followers([f], deadline)
    q.put({"lines": f.lines, "errors": f.errors, "end": f.end})


def latency(a):
    st = stamp()
    w = workdir(a, "latency")
    stats_dir = w / "stats"
    stats_dir.mkdir()
    rate = int(a.rate_mib * 1048576)
    count = int(a.seconds / a.interval)
    lat_repo = Repo(w / "git-lat", {"wharf.yml": pipeline(lat_job(stats_dir, a.interval, count)),
                                    "bench-writer.py": WRITER})
    mixed_repo = Repo(w / "git-mixed", {"wharf.yml": pipeline(lat_job(stats_dir, a.interval, count),
                                                              flood_job(stats_dir, rate, a.seconds)),
                                        "bench-writer.py": WRITER})
    s = new_server(a, w, "latency")
    s.add_project("lat", lat_repo)
    s.add_project("mixed", mixed_repo)
    s.make_token()
    viewer = viewer_token(s)
    s.start()
    srv.mirror_ready(s, "lat")
    srv.mirror_ready(s, "mixed")
    for p in ("lat",):
        row = wait_event(s, p, trigger(s, p))
        if row["state"] != "done":
            raise RuntimeError(f"warm-up: {row}")
    scenarios = [("alone", "lat", 0, None),
                 (f"{a.others} other followers of the same job", "lat", a.others, "lat"),
                 (f"beside a {a.rate_mib:g} MiB/s job of the same run with {a.others} followers", "mixed",
                  a.others, "flood")]
    if a.only:
        scenarios = [sc for i, sc in enumerate(scenarios) if i in a.only]
    ctx = multiprocessing.get_context("fork")
    rows = []
    for name, project, others, other_job in scenarios:
        time.sleep(a.settle)
        eid = trigger(s, project)
        run = wait_run(s, project, eid, "lat")
        if other_job:
            wait_run(s, project, eid, other_job)
        q = ctx.Queue()
        deadline = time.monotonic() + a.seconds + a.timeout
        p = ctx.Process(target=latency_follower,
                        args=(s.host, s.port, follower_stream_path(project, run, "lat"), viewer, deadline, q))
        p.start()
        fl = [Follower(i, s.host, s.port, follower_stream_path(project, run, other_job), viewer)
              for i in range(others)] if other_job else []
        cpu0 = cpu_seconds(s.pid)
        if fl:
            run_followers(fl, deadline)
        res = q.get(timeout=a.seconds + a.timeout + 30)
        p.join()
        cpu = cpu_seconds(s.pid) - cpu0
        wait_event(s, project, eid)
        lat_ms = [(arr - printed) * 1000 for _, printed, arr in res["lines"]]
        seqs = sorted(x[0] for x in res["lines"])
        others_ok = sum(1 for f in fl if f.end and f.end.get("status") == "success" and not f.errors)
        r = {"scenario": name, "project": project, "run": run, "lines": len(lat_ms),
             "expected_lines": count, "seq_complete": seqs == list(range(count)),
             "errors": res["errors"][:5], "end": res["end"],
             "p50": pct(lat_ms, 50), "p95": pct(lat_ms, 95), "max": max(lat_ms), "min": min(lat_ms),
             "others": others, "others_ok": others_ok, "server_cpu_s": round(cpu, 2),
             "latencies_ms": lat_ms}
        log(json.dumps({k: v for k, v in r.items() if k != "latencies_ms"}))
        rows.append(r)
    s.stop()
    L = [f"# wharf serve: live-log latency ({st})", "", machine_line(), "",
         f"command: `{' '.join(sys.argv)}`", "",
         f"A step prints `LAT SEQ TIME` ({count} lines, one every {a.interval * 1000:.0f} ms; TIME from "
         "`time.time()` just before the write); one follower, in its own process, takes `time.time()` when "
         "the bytes holding the line's event arrive (before parsing). latency = arrival - printed, one clock.", "",
         "| scenario | lines received | p50 | p95 | max | min | other followers ok | server CPU |",
         "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        L.append(f"| {r['scenario']} | {r['lines']} / {r['expected_lines']}{'' if r['seq_complete'] else ' (gaps!)'} | "
                 f"{r['p50']:.1f} ms | {r['p95']:.1f} ms | {r['max']:.1f} ms | {r['min']:.1f} ms | "
                 f"{r['others_ok']} / {r['others']} | {r['server_cpu_s']} s |")
    md = "\n".join(L) + "\n"
    write_results(a, "latency", st, {"stamp": st, "machine": machine_line(), "command": " ".join(sys.argv),
                                     "rows": rows}, md)


# ---------------------------------------------------------------------------------------

def workdir(a, name) -> Path:
    a.work.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix=f"live-{name}-", dir=a.work))
    WORKDIRS.append(d)
    return d


def write_results(a, name, st, raw, md):
    print()
    print(md, flush=True)
    if a.results is None:
        return
    a.results.mkdir(parents=True, exist_ok=True)
    jp = a.results / f"live-{name}-{st}.json"
    mp = a.results / f"live-{name}-{st}.md"
    jp.write_text(json.dumps(raw, indent=1, default=str) + "\n")
    mp.write_text(md)
    log(f"wrote {jp}\nwrote {mp}")


def main():
    global KEEP
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wharf", default=str(ROOT / "target/release/wharf"))
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()))
    p.add_argument("--results", type=Path, default=ROOT / "docs/bench-results",
                   help="where the tables go ('-' for nowhere)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("followers")
    f.add_argument("--followers", type=int, nargs="+", default=[0, 100])
    f.add_argument("--rate-mib", type=float, default=5)
    f.add_argument("--seconds", type=float, default=20)
    f.add_argument("--kills", type=int, default=1, help="disconnects per killed follower")
    f.add_argument("--kill-min", type=float, default=2)
    f.add_argument("--kill-max", type=float, default=18)
    f.add_argument("--seed", type=int, default=15)
    f.add_argument("--settle", type=float, default=3)
    f.add_argument("--timeout", type=float, default=300, help="beyond --seconds, for the followers")
    f.set_defaults(fn=followers)
    g = sub.add_parser("pages")
    g.add_argument("--runs", type=int, default=10000)
    g.add_argument("--history", choices=["cli", "api"], default="cli")
    g.add_argument("--in-flight", type=int, default=20)
    g.add_argument("--requests", type=int, default=500)
    g.add_argument("--warmup", type=int, default=20)
    g.set_defaults(fn=pages)
    l = sub.add_parser("latency")
    l.add_argument("--interval", type=float, default=0.2)
    l.add_argument("--seconds", type=float, default=25)
    l.add_argument("--others", type=int, default=100)
    l.add_argument("--rate-mib", type=float, default=5)
    l.add_argument("--only", type=int, nargs="+", help="scenario indexes (0 alone, 1 others, 2 beside a flood)")
    l.add_argument("--settle", type=float, default=2)
    l.add_argument("--timeout", type=float, default=300)
    l.set_defaults(fn=latency)
    a = p.parse_args()
    if str(a.results) == "-":
        a.results = None
    a.wharf = str(Path(a.wharf).resolve())
    KEEP = a.keep
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        a.fn(a)
    except KeyboardInterrupt:
        log("interrupted: stopping the servers")
        raise SystemExit(130)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
