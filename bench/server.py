#!/usr/bin/env python3
"""Benchmarks and the crash test of `wharf serve` (issue 14's "Measured" section).

usage: bench/server.py [--wharf BIN] [--work DIR] [--results DIR] SUBCOMMAND [options]

  firstclone  a new project's first deliveries sent as the server starts (the first
              clone of its mirror): how many of their events fail
  crash       20 runs of 5 jobs, the server kill -9'd at 10 seeded random moments and
              restarted after 0-20 s; checks final states, markers and stored logs
  latency     50 signed GitHub push deliveries, one at a time: answer time (client side)
              and delivery received -> first step started (server side)
  idle        server RSS after 60 s idle with 3 projects (and again after some runs)
  throughput  1,000 trivial runs queued by webhook and drained: runs/s, peak RSS
  joblog      one job printing 200 MiB of ~100-byte lines: the server's RSS rise and the
              step's time against `sh -c 'cat FILE' | tee OUT > /dev/null`
  all         every one of the above, in that order

Python 3 standard library only. Everything talks to 127.0.0.1. Each subcommand writes
its raw figures to RESULTS/server-NAME-STAMP.json and a summary to
RESULTS/server-NAME-STAMP.md (RESULTS defaults to docs/bench-results). Nothing here
asserts a time: the figures are reported, the verdicts are written by a person.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-webhook-secret-0123456789abcdef"
ZERO = "0" * 40


def log(*a):
    print(*a, flush=True)


def stamp():
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def machine_line():
    model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    return (f"machine: {os.cpu_count()} cores, {model}, load avg {load}, "
            f"{datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}")


def pct(values, p):
    """The p-th percentile (nearest rank) of values."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))
    return v[k]


def git(*args, cwd=None, check=True):
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost")
    r = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {r.stderr}")
    return r.stdout.strip()


class Repo:
    """A bare repository (what the server clones) and a work clone to commit from."""

    def __init__(self, root: Path, files: dict):
        self.bare = root / "repo.git"
        self.work = root / "work"
        git("init", "-q", "--bare", "-b", "main", str(self.bare))
        git("init", "-q", "-b", "main", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.sha = self.commit(files, "the pipeline")
        self.push("main")

    def commit(self, files: dict, msg: str) -> str:
        for name, text in files.items():
            p = self.work / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", msg, cwd=self.work)
        self.sha = git("rev-parse", "HEAD", cwd=self.work)
        return self.sha

    def push(self, branch: str):
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)


def push_body(branch: str, sha: str) -> bytes:
    return json.dumps({
        "ref": f"refs/heads/{branch}",
        "before": ZERO,
        "after": sha,
        "repository": {"full_name": "bench/app"},
        "pusher": {"name": "bench"},
        "sender": {"login": "bench"},
        "head_commit": {"id": sha, "message": "m"},
    }).encode()


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


class Server:
    """A `wharf serve` on 127.0.0.1:0 with its own data directory."""

    def __init__(self, wharf: str, data: Path):
        self.wharf = wharf
        self.data = data
        self.data.mkdir(parents=True, exist_ok=True)
        self.log_path = data / "serve.log"
        self.proc = None
        self.url = None
        self.token = None

    # --- process ---
    def start(self, *extra):
        info = self.data / "serve.json"
        if info.exists():
            info.unlink()
        logf = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if k != "WHARF_SECRET_KEY"}
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [self.wharf, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data), *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=logf, env=env)
        logf.close()
        while True:
            try:
                v = json.loads(info.read_text())
                self.url = v["url"]
                u = urllib.parse.urlparse(self.url)
                self.host, self.port = u.hostname, u.port
                return time.monotonic() - t0
            except (FileNotFoundError, ValueError, KeyError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.tail()}")
            if time.monotonic() - t0 > 60:
                raise RuntimeError(f"the server did not start:\n{self.tail()}")
            time.sleep(0.01)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def status(self):
        """VmRSS, VmHWM, RssAnon, RssFile, Threads of the server, KiB (Threads a count)."""
        out = {}
        for line in open(f"/proc/{self.pid}/status"):
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[k] = int(v.split()[0])
        return out

    def reset_hwm(self):
        """Resets VmHWM to the current RSS (clear_refs 5)."""
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")

    def tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    # --- administration (the CLI on the data directory) ---
    def admin(self, *args, stdin=""):
        env = {k: v for k, v in os.environ.items() if k != "WHARF_SECRET_KEY"}
        r = subprocess.run([self.wharf, "server", "--data-dir", str(self.data), *args],
                           input=stdin, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"wharf server {' '.join(args)}: {r.returncode}\n{r.stderr}")
        return r.stdout

    def add_project(self, name, repo: Repo):
        self.admin("project", "add", name, "--repo", str(repo.bare), "--forge", "github",
                   "--webhook-secret-stdin", stdin=SECRET)

    def make_token(self):
        self.token = json.loads(self.admin("token", "create", "bench", "--role", "admin", "--json"))["token"]
        return self.token

    def events_cli(self, limit=5000):
        return json.loads(self.admin("events", "--json", "--limit", str(limit)))

    # --- HTTP ---
    def request(self, method, path, body=None, headers=None, timeout=60):
        """(status, headers, body bytes, seconds from connect to the last byte)."""
        t0 = time.perf_counter()
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data, time.perf_counter() - t0
        finally:
            c.close()

    def api(self, path, method="GET", body=None, raw=False, headers=None):
        h = {"Authorization": f"Bearer {self.token}"}
        h.update(headers or {})
        st, hd, data, _ = self.request(method, "/api/v1" + path, body=body, headers=h)
        if raw:
            return st, hd, data
        if st >= 300:
            raise RuntimeError(f"{method} {path}: {st} {data[:500]!r}")
        return json.loads(data)

    def deliver(self, project, branch, sha, delivery):
        body = push_body(branch, sha)
        st, _, data, secs = self.request("POST", f"/hooks/{project}", body=body, headers={
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature(body),
            "Content-Type": "application/json",
        })
        return st, data, secs

    def events(self, project, limit=500):
        return self.api(f"/projects/{project}/events?limit={limit}")

    def all_runs(self, project):
        runs, before = [], None
        while True:
            q = "?limit=200" + (f"&before={before}" if before else "")
            page = self.api(f"/projects/{project}/runs{q}")
            if not page:
                return runs
            runs.extend(page)
            before = min(r["number"] if "number" in r else r["run"] for r in page)


def run_number(summary):
    for k in ("number", "run", "id"):
        if k in summary:
            return summary[k]
    raise KeyError(f"no run number in {summary}")


def first_step_started(rec):
    times = [s["started_at"] for j in rec.get("jobs", []) for s in j.get("steps", [])
             if s.get("started_at")]
    return min(times) if times else None


def write_results(results: Path, name: str, raw: dict, md: str):
    results.mkdir(parents=True, exist_ok=True)
    st = raw.get("stamp") or stamp()
    jp = results / f"server-{name}-{st}.json"
    mp = results / f"server-{name}-{st}.md"
    jp.write_text(json.dumps(raw, indent=1, default=str) + "\n")
    mp.write_text(md)
    log(f"\nwrote {jp.relative_to(ROOT) if jp.is_relative_to(ROOT) else jp}")
    log(f"wrote {mp.relative_to(ROOT) if mp.is_relative_to(ROOT) else mp}")


def fresh(work: Path, name: str) -> Path:
    d = work / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def wait_events_done(s: Server, project: str, ids, timeout=600, poll=0.05):
    """Waits until every event in ids has ended; their rows by id."""
    ids = set(ids)
    deadline = time.monotonic() + timeout
    while True:
        rows = {e["id"]: e for e in s.events(project, 500)}
        if all(i in rows and rows[i]["state"] not in ("queued", "running") for i in ids):
            return rows
        if time.monotonic() > deadline:
            raise RuntimeError(f"events {sorted(ids)} did not end:\n{s.tail()}")
        time.sleep(poll)


def mirror_ready(s: Server, project: str, timeout=30):
    """Waits until the server's mirror of `project` exists. At start the scheduler clones
    every project's mirror without the dispatcher's lock; a delivery taken meanwhile can
    race that first clone and fail, or break the mirror for good (see `firstclone` and
    docs/benchmarks.md). The timing benchmarks wait for it so that they time runs."""
    head = s.data / "projects" / project / "repo.git" / "HEAD"
    t = time.monotonic()
    while not head.exists():
        if time.monotonic() - t > timeout:
            raise RuntimeError(f"no mirror of {project} after {timeout} s:\n{s.tail()}")
        time.sleep(0.05)
    time.sleep(0.5)


def warm_up(s: Server, project: str, sha: str, delivery: str, branch="warmup"):
    """One event, which must succeed, before anything is timed."""
    mirror_ready(s, project)
    status, data, _ = s.deliver(project, branch, sha, delivery)
    eid = json.loads(data)["event"]
    row = wait_events_done(s, project, [eid])[eid]
    if row["state"] != "done":
        raise RuntimeError(f"the warm-up event {eid} ended {row['state']}: {row['error']}\n{s.tail()}")
    return row


TRIVIAL = """version: 1
on:
  push: { branches: ["**"] }
jobs:
  first:
    run: "true"
"""


# ---------------------------------------------------------------------------------------
# 1. The crash test
# ---------------------------------------------------------------------------------------

JOBS = {  # job -> needs
    "build": [],
    "unit": ["build"],
    "lint": ["build"],
    "package": ["unit", "lint"],
    "deploy": ["package"],
}
LINES_PER_STEP = 16384          # x 64 bytes = 1 MiB
CHUNKS = 8                      # printed in 8 chunks of 2,048 lines, 0.25 s apart


def crash_line_pad(job):
    # "%08d JOB " + pad + "\n" = 64 bytes
    head = 8 + 1 + len(job) + 1
    return "=" * (64 - head - 1)


def crash_expected(job) -> bytes:
    pad = crash_line_pad(job)
    return "".join(f"{i:08d} {job} {pad}\n" for i in range(1, LINES_PER_STEP + 1)).encode()


def crash_pipeline(markers: Path, chunk_sleep: float) -> str:
    per = LINES_PER_STEP // CHUNKS
    out = ["version: 1", "on:", '  push: { branches: ["**"] }', "jobs:"]
    for job, needs in JOBS.items():
        pad = crash_line_pad(job)
        out.append(f"  {job}:")
        if needs:
            out.append(f"    needs: [{', '.join(needs)}]")
        out.append("    run: |")
        script = f"""M={markers}
echo "$WHARF_RUN_ID-$WHARF_JOB start $(date +%s%N) $$" >> "$M"
c=0
while [ $c -lt {CHUNKS} ]; do
  seq -f "%08.0f {job} {pad}" $((c*{per}+1)) $((c*{per}+{per}))
  echo "$WHARF_RUN_ID-$WHARF_JOB chunk$c $(date +%s%N) $$" >> "$M"
  sleep {chunk_sleep}
  c=$((c+1))
done
echo "$WHARF_RUN_ID-$WHARF_JOB end $(date +%s%N) $$" >> "$M"
"""
        out.extend("      " + l for l in script.splitlines())
    return "\n".join(out) + "\n"


def crash(a):
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)
    log(f"crash test: seed {seed}")
    st = stamp()
    w = fresh(a.work, "crash")
    markers = w / "markers.txt"
    markers.touch()
    repo = Repo(w / "git", {"wharf.yml": crash_pipeline(markers, a.chunk_sleep)})
    s = Server(a.wharf, w / "data")
    s.add_project("crash", repo)
    s.make_token()
    extra = ["--interrupted-attempts", str(a.attempts)]
    first_up = time.time()
    s.start(*extra)
    if a.wait_mirror:
        # the scheduler clones a new project's mirror at start; a delivery taken meanwhile
        # can race that clone (see `firstclone`): wait for it, so that this test measures
        # the crashes only
        mirror_ready(s, "crash")
    # the schedule of kills, drawn before anything runs
    plan = [(round(rng.uniform(a.up_min, a.up_max), 3), round(rng.uniform(0, 20), 3))
            for _ in range(a.kills)]
    log("kill schedule (uptime before the kill, seconds down):", plan)
    t_start = time.time()
    webhook = []
    for i in range(a.runs):
        status, data, secs = s.deliver("crash", f"crash-{i:02d}", repo.sha, f"crash-{st}-{i}")
        if status != 202:
            raise RuntimeError(f"delivery {i}: {status} {data!r}")
        webhook.append(json.loads(data)["event"])
    log(f"{a.runs} deliveries accepted: events {webhook[0]}..{webhook[-1]}")
    instances = []  # (started wall time, killed wall time)
    up_since = first_up
    for k, (up, down) in enumerate(plan):
        time.sleep(up)
        # how far was it? (from the markers; no call to the server)
        killed_at = time.time()
        s.kill9()
        killed_at_after = time.time()
        instances.append({"up": up_since, "killed": killed_at, "killed_after": killed_at_after})
        lines = markers.read_text().splitlines()
        log(f"kill {k + 1}/{a.kills} after {up:.2f} s up; {len(lines)} marker lines so far; "
            f"restart in {down:.2f} s")
        # is any step of the dead server still running? (the watchdog should stop them)
        time.sleep(down)
        alive = steps_alive(markers)
        instances[-1]["alive_at_restart"] = alive
        up_since = time.time()
        s.start(*extra)
    instances.append({"up": up_since, "killed": None})
    log("last restart done; waiting for the queue to drain")
    deadline = time.monotonic() + a.drain_timeout
    while True:
        evs = s.events("crash", 500)
        if evs and all(e["state"] not in ("queued", "running") for e in evs):
            break
        if time.monotonic() > deadline:
            log("the queue did not drain in time:", [e for e in evs if e["state"] in ("queued", "running")])
            break
        time.sleep(0.5)
    t_end = time.time()
    report = crash_check(s, markers, webhook, instances)
    report.update(seed=seed, plan=plan, instances=instances, stamp=st, wall_s=round(t_end - t_start, 1),
                  interrupted_attempts=a.attempts, chunk_sleep=a.chunk_sleep,
                  machine=machine_line(), command=" ".join(sys.argv))
    s.stop()
    shutil.copy(s.log_path, w / "serve-final.log")
    # the evidence stays in the work dir; the server log is copied next to the results
    report["server_log"] = str(w / "serve-final.log")
    report["markers_file"] = str(markers)
    md = crash_md(report)
    log(md)
    write_results(a.results, "crash", report, md)
    # the evidence beside the figures: every marker line and what the server printed
    shutil.copy(markers, a.results / f"server-crash-{st}.markers.txt")
    shutil.copy(s.log_path, a.results / f"server-crash-{st}.serve.log")


def steps_alive(markers: Path):
    """PIDs of marker-writing step shells still alive (from the markers' pids)."""
    pids = set()
    for line in markers.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            pids.add(int(parts[3]))
    alive = []
    for p in pids:
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if cmd:
            alive.append(p)
    return alive


def crash_check(s: Server, markers: Path, webhook, instances):
    rep = {"problems": []}
    P = rep["problems"]
    events = s.events_cli(5000)
    by_id = {e["id"]: e for e in events}
    rep["events"] = [{k: e.get(k) for k in ("id", "source", "state", "runs", "attempt", "rerun", "error")}
                     for e in sorted(events, key=lambda e: e["id"])]
    states = {}
    for e in events:
        states[e["state"]] = states.get(e["state"], 0) + 1
    rep["event_states"] = states
    rep["events_by_source"] = {}
    for e in events:
        rep["events_by_source"][e["source"]] = rep["events_by_source"].get(e["source"], 0) + 1
    stuck = [e["id"] for e in events if e["state"] in ("queued", "running")]
    if stuck:
        P.append(f"events still queued/running at the end: {stuck}")
    # retry events by the run they re-run
    retry_of = {}
    for e in events:
        if e["source"] == "retry" and e.get("rerun") is not None:
            retry_of.setdefault(e["rerun"], []).append(e)
    # all runs of the store
    summaries = s.all_runs("crash")
    records = {}
    for r in summaries:
        n = run_number(r)
        records[n] = s.api(f"/projects/crash/runs/{n}")
    rep["runs_total"] = len(records)
    rstates = {}
    for rec in records.values():
        rstates[rec["status"]] = rstates.get(rec["status"], 0) + 1
    rep["run_states"] = rstates
    if rstates.get("running"):
        P.append(f"runs still 'running': {[n for n, r in records.items() if r['status'] == 'running']}")
    # lineages
    lineages = []
    referenced = set()
    for eid in webhook:
        chain = []
        e = by_id.get(eid)
        while e is not None:
            runs = e.get("runs") or []
            referenced.update(runs)
            chain.append({"event": e["id"], "state": e["state"], "attempt": e["attempt"], "runs": runs,
                          "run_status": [records[r]["status"] if r in records else None for r in runs]})
            if len(runs) != 1:
                if len(runs) > 1:
                    P.append(f"event {e['id']} started {len(runs)} runs: {runs}")
                break
            nxt = retry_of.get(runs[0], [])
            if len(nxt) > 1:
                P.append(f"run {runs[0]} was retried by {len(nxt)} events: {[x['id'] for x in nxt]}")
            e = nxt[0] if nxt else None
        last = chain[-1]
        final_run = last["runs"][0] if last["runs"] else None
        ok = False
        why = ""
        # a re-run's record lists only the jobs it ran; the others were reused from the
        # runs before it: each job's latest result along the lineage is what counts
        latest = {}
        for c in chain:
            for r in c["runs"]:
                for j in records.get(r, {}).get("jobs", []):
                    latest[j["id"]] = (r, j.get("status"))
        if final_run is None:
            why = f"the last event {last['event']} ({last['state']}: {by_id[last['event']].get('error')}) has no run"
        else:
            rec = records[final_run]
            bad = {k: v for k, v in latest.items() if v[1] != "success"}
            if rec["status"] != "success":
                why = f"final run {final_run} is {rec['status']}"
            elif set(latest) != set(JOBS):
                why = f"jobs recorded along the lineage: {sorted(latest)}"
            elif bad:
                why = f"jobs whose latest result is not success: {bad}"
            else:
                ok = True
        if not ok:
            P.append(f"lineage of event {eid}: {why}")
        lineages.append({"webhook_event": eid, "attempts": len(chain), "chain": chain, "ok": ok, "why": why,
                         "job_results": latest})
    rep["lineages"] = lineages
    rep["lineages_ok"] = sum(1 for l in lineages if l["ok"])
    rep["lineage_attempts"] = {}
    for l in lineages:
        rep["lineage_attempts"][l["attempts"]] = rep["lineage_attempts"].get(l["attempts"], 0) + 1
    orphans = sorted(set(records) - referenced)
    rep["runs_not_in_any_event"] = orphans
    if orphans:
        P.append(f"runs no event lists (started, then the server died before recording them): "
                 f"{[(n, records[n]['status']) for n in orphans]}")
    # markers
    lines = markers.read_text().splitlines()
    rep["marker_lines"] = len(lines)
    starts, ends, last_seen, chunks = {}, {}, {}, {}
    malformed = []
    for line in lines:
        parts = line.split()
        if len(parts) != 4:
            malformed.append(line)
            continue
        key, phase, ns, pid = parts[0], parts[1], int(parts[2]), parts[3]
        last_seen[key] = max(last_seen.get(key, 0), ns)
        if phase == "start":
            starts.setdefault(key, []).append((ns, pid))
        elif phase == "end":
            ends.setdefault(key, []).append((ns, pid))
        elif phase.startswith("chunk"):
            chunks[key] = max(chunks.get(key, -1), int(phase[5:]))
    if malformed:
        P.append(f"{len(malformed)} malformed marker lines, e.g. {malformed[:3]}")
    dup = {k: v for k, v in starts.items() if len(v) > 1}
    dup_end = {k: v for k, v in ends.items() if len(v) > 1}
    rep["step_starts"] = len(starts)
    rep["step_ends"] = sum(len(v) for v in ends.values())
    rep["duplicate_starts"] = dup
    rep["duplicate_ends"] = dup_end
    if dup:
        P.append(f"a step of one run started twice: {dup}")
    if dup_end:
        P.append(f"a step of one run ended twice: {dup_end}")
    # steps of a killed server that went on after the kill (the watchdog's lag), and
    # steps that ran while a later attempt of the same job ran
    lags = []
    outlived = []
    for key, st in starts.items():
        t = st[0][0] / 1e9
        inst = next((i for i in instances if i["up"] <= t and (i["killed"] is None or t < i["killed"])), None)
        if inst is None:
            P.append(f"step {key} started at {t:.3f}, while no server ran")
            continue
        if inst["killed"] is None:
            continue
        after = last_seen[key] / 1e9 - inst["killed"]
        if after > 0:
            lags.append(after)
            if after > 1.0:
                outlived.append((key, round(after, 3)))
    rep["steps_seen_after_their_servers_kill"] = len(lags)
    rep["max_step_life_after_kill_s"] = round(max(lags), 3) if lags else 0.0
    rep["steps_alive_1s_after_kill"] = outlived
    if outlived:
        P.append(f"steps alive more than 1 s after their server's kill -9: {outlived}")
    rep["alive_at_restart"] = [i.get("alive_at_restart") for i in instances if i.get("killed")]
    # same job of one lineage running twice at once
    overlaps = []
    for l in lineages:
        runs = [r for c in l["chain"] for r in c["runs"]]
        for job in JOBS:
            spans = []
            for r in runs:
                k = f"{r}-{job}"
                if k in starts:
                    spans.append((starts[k][0][0], last_seen[k], r))
            spans.sort()
            for (a0, a1, ra), (b0, b1, rb) in zip(spans, spans[1:]):
                if b0 < a1:
                    overlaps.append((job, ra, rb, round((a1 - b0) / 1e9, 3)))
    rep["overlapping_attempts"] = overlaps
    if overlaps:
        P.append(f"a job ran in two attempts at once: {overlaps}")
    # re-executions: a step that had ended (its end marker written) but ran again in a
    # later attempt because the server died before recording it
    reexec = []
    for l in lineages:
        runs = [r for c in l["chain"] for r in c["runs"]]
        for job in JOBS:
            ended = [r for r in runs if f"{r}-{job}" in ends]
            if len(ended) > 1:
                reexec.append((job, ended))
    rep["completed_steps_run_again"] = reexec
    # a job recorded success without its step having ended (or started) in that run
    unproven = []
    for n, rec in records.items():
        for j in rec.get("jobs", []):
            jid = j.get("id") or j.get("name")
            if j.get("status") == "success" and not j.get("reused") and f"{n}-{jid}" not in ends:
                unproven.append((n, jid, j.get("reused")))
    rep["success_without_end_marker"] = unproven
    # stored logs
    expected = {job: crash_expected(job) for job in JOBS}
    checked, identical, mismatched, partial = 0, 0, [], []
    reused_checked = 0
    for n, rec in sorted(records.items()):
        for j in rec.get("jobs", []):
            jid = j.get("id") or j.get("name")
            for si, step in enumerate(j.get("steps", [])):
                status, hd, body = s.api(f"/projects/crash/runs/{n}/jobs/{jid}/steps/{si}/log", raw=True)
                if step.get("status") == "success":
                    checked += 1
                    if j.get("reused"):
                        reused_checked += 1
                    if status == 200 and body == expected[jid]:
                        identical += 1
                    else:
                        diff_at = next((i for i, (x, y) in enumerate(zip(body, expected[jid])) if x != y),
                                       min(len(body), len(expected[jid])))
                        mismatched.append({"run": n, "job": jid, "step": si, "http": status,
                                           "bytes": len(body), "expected": len(expected[jid]),
                                           "first_difference_at": diff_at,
                                           "excerpt": body[max(0, diff_at - 64):diff_at + 64].decode("utf-8", "replace")})
                elif status == 200 and body:
                    # an interrupted step: what was stored should be a prefix of the output
                    ok = expected[jid].startswith(body)
                    # printed before the kill: the chunks whose marker was written (the
                    # marker follows its chunk; a chunk printed without its marker may
                    # or may not be stored)
                    printed = (chunks.get(f"{n}-{jid}", -1) + 1) * (len(expected[jid]) // CHUNKS)
                    partial.append({"run": n, "job": jid, "status": step.get("status"),
                                    "bytes": len(body), "prefix": ok, "printed_at_least": printed,
                                    "whole_lines": body.endswith(b"\n")})
    rep["logs_checked"] = checked
    rep["logs_checked_of_reused_jobs"] = reused_checked
    rep["logs_identical"] = identical
    rep["logs_mismatched"] = mismatched
    if mismatched:
        P.append(f"{len(mismatched)} stored logs of successful steps differ from the output")
    rep["partial_logs"] = partial
    short = [p for p in partial if p["bytes"] < p["printed_at_least"]]
    rep["partial_logs_shorter_than_printed"] = short
    if short:
        P.append(f"{len(short)} logs of interrupted steps lack bytes the step printed before the kill: {short[:5]}")
    bad_partial = [p for p in partial if not p["prefix"]]
    if bad_partial:
        P.append(f"{len(bad_partial)} logs of unfinished steps are not a prefix of the output: {bad_partial[:5]}")
    # the first record, for the format
    if records:
        rep["sample_record"] = records[max(records)]
    return rep


def crash_md(r):
    L = [f"# wharf serve crash test ({r['stamp']})", "", r["machine"], "",
         f"command: `{r['command']}`", "",
         f"seed {r['seed']}; kills {len(r['plan'])} (uptime before each kill, seconds down): {r['plan']}", "",
         f"--interrupted-attempts {r['interrupted_attempts']}; wall time {r['wall_s']} s", "",
         "| check | result |", "|---|---|",
         f"| lineages (webhook events) reaching success with all 5 jobs successful | {r['lineages_ok']} / {len(r['lineages'])} |",
         f"| attempts per lineage (count of lineages) | {r['lineage_attempts']} |",
         f"| events by source | {r['events_by_source']} |",
         f"| events by final state | {r['event_states']} |",
         f"| runs in the store, by status | {r['run_states']} (total {r['runs_total']}) |",
         f"| runs no event lists | {r['runs_not_in_any_event']} |",
         f"| marker lines / steps started / step ends | {r['marker_lines']} / {r['step_starts']} / {r['step_ends']} |",
         f"| a step of one run started twice | {len(r['duplicate_starts'])} |",
         f"| a job running in two attempts at once | {len(r['overlapping_attempts'])} |",
         f"| steps seen after their server's kill / longest | {r['steps_seen_after_their_servers_kill']} / {r['max_step_life_after_kill_s']} s |",
         f"| steps that had ended and ran again (server died before recording them) | {len(r['completed_steps_run_again'])} |",
         f"| stored logs of successful steps checked / byte-identical | {r['logs_checked']} / {r['logs_identical']} (of which reused jobs' {r['logs_checked_of_reused_jobs']}) |",
         f"| logs of interrupted steps: stored / prefixes of the output / holding every chunk marked printed before the kill | {len(r['partial_logs'])} / {sum(1 for p in r['partial_logs'] if p['prefix'])} / {len(r['partial_logs']) - len(r['partial_logs_shorter_than_printed'])} |",
         "", "Problems:" if r["problems"] else "Problems: none", ""]
    L += [f"- {p}" for p in r["problems"]]
    return "\n".join(L) + "\n"


def firstclone(a):
    """A project's first deliveries, sent as soon as the server listens: does any fail?"""
    st = stamp()
    trials = []
    for t in range(a.trials):
        w = fresh(a.work, "firstclone")
        repo = Repo(w / "git", {"wharf.yml": TRIVIAL})
        s = Server(a.wharf, w / "data")
        s.add_project("app", repo)
        s.make_token()
        s.start()
        ids = []
        for i in range(a.deliveries):
            status, data, _ = s.deliver("app", f"first-{i}", repo.sha, f"fc-{st}-{t}-{i}")
            ids.append(json.loads(data)["event"])
        rows = wait_events_done(s, "app", ids)
        # one more delivery once everything settled: does the project recover?
        time.sleep(1)
        status, data, _ = s.deliver("app", "later", repo.sha, f"fc-{st}-{t}-later")
        later = json.loads(data)["event"]
        lrow = wait_events_done(s, "app", [later])[later]
        s.stop()
        cfg = s.data / "projects" / "app" / "repo.git" / "config"
        mirror_config = cfg.read_text() if cfg.exists() else None
        res = [{"event": i, "state": rows[i]["state"], "error": rows[i]["error"]} for i in ids]
        trials.append({"trial": t, "events": res,
                       "later": {"event": later, "state": lrow["state"], "error": lrow["error"]},
                       "mirror_config": mirror_config,
                       "log": [l for l in s.log_path.read_text().splitlines() if "clone" in l or "failed" in l]})
        log(f"trial {t}: {[r['state'] for r in res]}; later: {lrow['state']}")
    failed = [(x["trial"], e) for x in trials for e in x["events"] if e["state"] != "done"]
    raw = {"stamp": st, "machine": machine_line(), "command": " ".join(sys.argv), "trials": trials}
    md = "\n".join([f"# wharf serve: a new project's first deliveries ({st})", "", raw["machine"], "",
                    f"command: `{raw['command']}`", "",
                    f"{a.trials} trials: a fresh data directory, one project, the server started, {a.deliveries} "
                    "push deliveries sent as soon as it listens.", "",
                    f"events not done: {len(failed)} of {a.trials * a.deliveries}", ""]
                   + [f"- trial {t}: event {e['event']} {e['state']}: {e['error']}" for t, e in failed]
                   + ["", "A later delivery (1 s after those ended), per trial:", ""]
                   + [f"- trial {x['trial']}: event {x['later']['event']} {x['later']['state']}"
                      + (f": {x['later']['error']}" if x['later']['error'] else "")
                      + ("" if x["later"]["state"] == "done" else
                         f"; the mirror's config: {json.dumps(x['mirror_config'])}")
                      for x in trials]) + "\n"
    log(md)
    write_results(a.results, "firstclone", raw, md)


# ---------------------------------------------------------------------------------------
# 2. Webhook to first step
# ---------------------------------------------------------------------------------------

def latency(a):
    st = stamp()
    w = fresh(a.work, "latency")
    repo = Repo(w / "git", {"wharf.yml": TRIVIAL})
    s = Server(a.wharf, w / "data")
    s.add_project("app", repo)
    s.make_token()
    s.start()
    warm_up(s, "app", repo.sha, f"lat-{st}-warm")
    rows = []
    for i in range(a.pushes):
        sha = repo.commit({"n.txt": f"{i}\n"}, f"push {i}")
        branch = f"lat-{i:03d}"
        repo.push(branch)
        time.sleep(a.gap)
        status, data, secs = s.deliver("app", branch, sha, f"lat-{st}-{i}")
        if status != 202:
            raise RuntimeError(f"push {i}: {status} {data!r}")
        eid = json.loads(data)["event"]
        rows.append({"i": i, "event": eid, "ack_ms": secs * 1000})
        wait_events_done(s, "app", [eid], poll=0.05)
    evs = {e["id"]: e for e in s.events("app", 500)}
    for r in rows:
        e = evs[r["event"]]
        rec = s.api(f"/projects/app/runs/{e['runs'][0]}")
        first = first_step_started(rec)
        r.update(state=e["state"], received_at=e["received_at"], run=e["runs"][0],
                 run_started_at=rec.get("started_at"), first_step_at=first,
                 to_run_ms=(rec.get("started_at") - e["received_at"]) if rec.get("started_at") else None,
                 to_first_step_ms=first - e["received_at"], run_status=rec["status"])
    s.stop()
    git_costs = git_path_costs(repo, s.data / "projects" / "app" / "repo.git", a.git_reps)
    ack = [r["ack_ms"] for r in rows]
    fs = [r["to_first_step_ms"] for r in rows]
    tr = [r["to_run_ms"] for r in rows if r["to_run_ms"] is not None]
    summary = {
        "ack_ms": {"p50": pct(ack, 50), "p99": pct(ack, 99), "max": max(ack), "min": min(ack)},
        "to_first_step_ms": {"p50": pct(fs, 50), "p99": pct(fs, 99), "max": max(fs), "min": min(fs)},
        "to_run_started_ms": {"p50": pct(tr, 50), "p99": pct(tr, 99), "max": max(tr) if tr else None},
        "runs_success": sum(1 for r in rows if r["run_status"] == "success"),
    }
    raw = {"stamp": st, "machine": machine_line(), "command": " ".join(sys.argv),
           "pushes": a.pushes, "summary": summary, "rows": rows, "sample_record": rec,
           "git_costs_ms": git_costs}
    md = "\n".join([
        f"# wharf serve: webhook to first step ({st})", "", raw["machine"], "",
        f"command: `{raw['command']}`", "",
        f"{a.pushes} signed GitHub push deliveries, one at a time (each after a new commit pushed to a "
        f"new branch of the bare repository, {a.gap} s after the push; the next after the previous event ended). "
        f"Pipeline: one job, `true`. Runs successful: {summary['runs_success']} / {a.pushes}.", "",
        "| figure | p50 | p99 | min | max | target |", "|---|---:|---:|---:|---:|---|",
        f"| webhook answered (client side, connect to last byte) | {summary['ack_ms']['p50']:.1f} ms | {summary['ack_ms']['p99']:.1f} ms | {summary['ack_ms']['min']:.1f} ms | {summary['ack_ms']['max']:.1f} ms | p99 < 100 ms |",
        f"| delivery received -> run started (server clock) | {summary['to_run_started_ms']['p50']} ms | {summary['to_run_started_ms']['p99']} ms | | {summary['to_run_started_ms']['max']} ms | |",
        f"| delivery received -> first step started (server clock) | {summary['to_first_step_ms']['p50']} ms | {summary['to_first_step_ms']['p99']} ms | {summary['to_first_step_ms']['min']} ms | {summary['to_first_step_ms']['max']} ms | p50 < 50 ms, p99 < 250 ms |",
        "", f"The git commands the dispatcher runs before a run starts, timed alone on the server's mirror "
        f"after it stopped ({a.git_reps} times each, a new commit pushed before each fetch; median / max):", "",
        "| git command | median | max |", "|---|---:|---:|"]
        + [f"| `{k}` | {v['median']:.1f} ms | {v['max']:.1f} ms |" for k, v in git_costs.items()] + [""])
    log(md)
    write_results(a.results, "latency", raw, md)


def git_path_costs(repo: Repo, mirror: Path, reps: int):
    """Times, alone, each git command the dispatcher runs for an event (dispatch.rs, git.rs)."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true")
    names = ["fetch --quiet --prune --force origin", "rev-parse --verify SHA^{commit} (x2 per event)",
             "worktree add --detach --force DIR SHA", "worktree remove --force DIR", "worktree prune"]
    times = {n: [] for n in names}
    wt = mirror.parent / "checkouts" / "bench-timing"

    def timed(name, *args):
        t = time.perf_counter()
        r = subprocess.run(["git", "-C", str(mirror), *args], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True)
        times[name].append((time.perf_counter() - t) * 1000)
        if r.returncode != 0:
            raise RuntimeError(f"git {args}: {r.stderr!r}")
    for i in range(reps):
        sha = repo.commit({"g.txt": f"{i}\n"}, f"git timing {i}")
        repo.push(f"gt-{i:03d}")
        timed(names[0], "fetch", "--quiet", "--prune", "--force", "origin")
        timed(names[1], "rev-parse", "--verify", "--quiet", "--end-of-options", f"{sha}^{{commit}}")
        timed(names[2], "worktree", "add", "--quiet", "--detach", "--force", "--", str(wt), sha)
        timed(names[3], "worktree", "remove", "--force", "--", str(wt))
        timed(names[4], "worktree", "prune")
    return {n: {"median": statistics.median(v), "max": max(v)} for n, v in times.items()}


# ---------------------------------------------------------------------------------------
# 3. Idle memory
# ---------------------------------------------------------------------------------------

def idle(a):
    st = stamp()
    w = fresh(a.work, "idle")
    s = Server(a.wharf, w / "data")
    repos = []
    for n in ("alpha", "beta", "gamma"):
        r = Repo(w / n, {"wharf.yml": TRIVIAL})
        s.add_project(n, r)
        repos.append(r)
    s.make_token()
    s.start()
    for n in ("alpha", "beta", "gamma"):
        mirror_ready(s, n)
    samples = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < a.seconds:
        samples.append((round(time.monotonic() - t0, 1), s.status()))
        time.sleep(5)
    fresh_idle = s.status()
    log(f"after {a.seconds} s idle: {fresh_idle}")
    # then some work (a run per project, 10 each), and idle again
    ids = {}
    for k, (n, r) in enumerate(zip(("alpha", "beta", "gamma"), repos)):
        for i in range(a.after_runs):
            _, data, _ = s.deliver(n, f"idle-{i}", r.sha, f"idle-{st}-{n}-{i}")
            ids.setdefault(n, []).append(json.loads(data)["event"])
    for n, l in ids.items():
        wait_events_done(s, n, l)
    busy = s.status()
    time.sleep(a.seconds)
    after = s.status()
    log(f"after {3 * a.after_runs} runs and {a.seconds} s idle: {after}")
    s.stop()
    raw = {"stamp": st, "machine": machine_line(), "command": " ".join(sys.argv),
           "seconds": a.seconds, "fresh": fresh_idle, "samples": samples,
           "after_runs": 3 * a.after_runs, "right_after_runs": busy, "after_runs_idle": after}
    mib = lambda kib: f"{kib / 1024:.1f} MiB"
    md = "\n".join([
        f"# wharf serve: idle memory ({st})", "", raw["machine"], "", f"command: `{raw['command']}`", "",
        "| when | VmRSS | RssAnon | RssFile | VmHWM | threads |", "|---|---:|---:|---:|---:|---:|",
        f"| {a.seconds} s idle after start, 3 projects | {mib(fresh_idle['VmRSS'])} | {mib(fresh_idle['RssAnon'])} | {mib(fresh_idle['RssFile'])} | {mib(fresh_idle['VmHWM'])} | {fresh_idle['Threads']} |",
        f"| right after {3 * a.after_runs} trivial runs | {mib(busy['VmRSS'])} | {mib(busy['RssAnon'])} | {mib(busy['RssFile'])} | {mib(busy['VmHWM'])} | {busy['Threads']} |",
        f"| then {a.seconds} s idle | {mib(after['VmRSS'])} | {mib(after['RssAnon'])} | {mib(after['RssFile'])} | {mib(after['VmHWM'])} | {after['Threads']} |",
        ""])
    log(md)
    write_results(a.results, "idle", raw, md)


# ---------------------------------------------------------------------------------------
# 4. Throughput
# ---------------------------------------------------------------------------------------

def throughput(a):
    st = stamp()
    out = {"stamp": st, "machine": machine_line(), "command": " ".join(sys.argv), "runs": a.runs, "rows": []}
    for m in a.max_runs:
        w = fresh(a.work, f"throughput-{m}")
        repo = Repo(w / "git", {"wharf.yml": TRIVIAL})
        s = Server(a.wharf, w / "data")
        s.add_project("app", repo)
        s.make_token()
        s.start("--max-runs", str(m))
        warm_up(s, "app", repo.sha, f"tp-{st}-{m}-warm")
        base = s.status()
        s.reset_hwm()
        peak_rss = 0
        acks = []
        t0 = time.monotonic()
        first_id = None
        for i in range(a.runs):
            status, data, secs = s.deliver("app", f"tp-{i:04d}", repo.sha, f"tp-{st}-{m}-{i}")
            if status != 202:
                raise RuntimeError(f"delivery {i}: {status} {data!r}")
            acks.append(secs * 1000)
            if first_id is None:
                first_id = json.loads(data)["event"]
            if i % 50 == 0:
                peak_rss = max(peak_rss, s.status()["VmRSS"])
        t1 = time.monotonic()
        while True:
            evs = s.events("app", 500)
            peak_rss = max(peak_rss, s.status()["VmRSS"])
            if all(e["state"] not in ("queued", "running") for e in evs):
                break
            time.sleep(0.1)
        t2 = time.monotonic()
        status = s.status()
        evs = [e for e in s.events_cli(5000) if e["id"] >= first_id]
        states = {}
        for e in evs:
            states[e["state"]] = states.get(e["state"], 0) + 1
        runs = s.all_runs("app")
        rstates = {}
        for r in runs:
            rstates[r["status"]] = rstates.get(r["status"], 0) + 1
        s.stop()
        not_done = [{"id": e["id"], "state": e["state"], "error": e["error"]} for e in evs if e["state"] != "done"]
        row = {"max_runs": m, "events": len(evs), "event_states": states, "run_states": rstates,
               "not_done": not_done,
               "enqueue_s": round(t1 - t0, 2), "total_s": round(t2 - t0, 2),
               "runs_per_s": round(a.runs / (t2 - t0), 2),
               "ack_ms_p50": round(pct(acks, 50), 1), "ack_ms_p99": round(pct(acks, 99), 1),
               "rss_before_kib": base["VmRSS"], "peak_rss_polled_kib": peak_rss,
               "vmhwm_kib": status["VmHWM"], "rss_end_kib": status["VmRSS"]}
        log(json.dumps(row))
        out["rows"].append(row)
        if a.keep is False:
            shutil.rmtree(w / "data" / "projects", ignore_errors=True)
    mib = lambda kib: f"{kib / 1024:.1f}"
    L = [f"# wharf serve: throughput, {a.runs} trivial runs ({st})", "", out["machine"], "",
         f"command: `{out['command']}`", "",
         f"{a.runs} signed push deliveries sent back to back (new connection each, one commit, a new branch "
         "name each), while the server drains them; pipeline: one job, `true`. Timed from the first "
         "delivery sent to the last event ended (polled every 0.1 s).", "",
         "| --max-runs | events done | runs success | deliveries sent in | all drained in | runs/s | ack p50 / p99 | RSS before | peak RSS (VmHWM) | RSS at end |",
         "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in out["rows"]:
        L.append(f"| {r['max_runs']} | {r['event_states'].get('done', 0)} / {r['events']} | {r['run_states'].get('success', 0)} | "
                 f"{r['enqueue_s']} s | {r['total_s']} s | {r['runs_per_s']} | {r['ack_ms_p50']} / {r['ack_ms_p99']} ms | "
                 f"{mib(r['rss_before_kib'])} MiB | {mib(r['vmhwm_kib'])} MiB | {mib(r['rss_end_kib'])} MiB |")
    for r in out["rows"]:
        if r["not_done"]:
            L += ["", f"--max-runs {r['max_runs']}: events not done:", ""]
            L += [f"- event {e['id']} {e['state']}: {e['error']}" for e in r["not_done"][:20]]
            if len(r["not_done"]) > 20:
                L.append(f"- … and {len(r['not_done']) - 20} more")
    md = "\n".join(L) + "\n"
    log(md)
    write_results(a.results, "throughput", out, md)


# ---------------------------------------------------------------------------------------
# 5. Memory per job: workload B through the server
# ---------------------------------------------------------------------------------------

def gen_lines(path: Path, mib: int):
    """The file of ../shared/bench/b-logs.sh (the same generator, byte for byte)."""
    target = mib * 1048576
    words = "compiling linking testing fetching resolving unpacking checking writing reading hashing".split()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        n = i = 0
        buf = []
        while n < target:
            line = (f"2026-01-01T00:{(i//60000)%60:02d}:{(i//1000)%60:02d}.{i%1000:03d}Z INFO step=build "
                    f"seq={i:08d} msg=\"{words[i%10]} unit {i%997:03d} of module m{i%53:02d}\" dur_ms={(i*7919)%1000}\n")
            if n + len(line) > target:
                line = line[: target - n - 1] + "\n"
            buf.append(line); n += len(line); i += 1
            if len(buf) >= 10000:
                f.write("".join(buf)); buf = []
        f.write("".join(buf))
    tmp.rename(path)


def joblog(a):
    st = stamp()
    lines = a.work / f"lines-{a.mib}MiB.txt"
    if not lines.exists():
        log(f"generating {lines}")
        gen_lines(lines, a.mib)
    size = lines.stat().st_size
    w = fresh(a.work, "joblog")
    pipeline = f"""version: 1
on:
  push: {{ branches: ["**"] }}
jobs:
  logs:
    run: |
      case "$WHARF_BRANCH" in
        big-*) cat {lines} ;;
        *) true ;;
      esac
"""
    repo = Repo(w / "git", {"wharf.yml": pipeline})
    s = Server(a.wharf, w / "data")
    s.add_project("app", repo)
    s.make_token()
    s.start()
    warm_up(s, "app", repo.sha, f"jl-{st}-warm0", branch="warm-0")
    subprocess.run(["cat", str(lines)], stdout=subprocess.DEVNULL)  # page cache
    time.sleep(3)
    reps = []
    tee_out = a.work / "tee.out"
    for k in range(a.reps):
        subprocess.run(["sync"])
        time.sleep(a.settle)

        def peer():
            t = time.perf_counter()
            subprocess.run(["sh", "-c", f"sh -c 'cat {lines}' | tee {tee_out} > /dev/null"], check=True)
            el = time.perf_counter() - t
            tee_out.unlink()
            return el

        def server():
            idle = s.status()
            s.reset_hwm()
            status, data, _ = s.deliver("app", f"big-{k}", repo.sha, f"jl-{st}-{k}")
            eid = json.loads(data)["event"]
            peak = 0
            while True:
                peak = max(peak, s.status()["VmRSS"])
                e = next((x for x in s.events("app", 10) if x["id"] == eid), None)
                if e and e["state"] not in ("queued", "running"):
                    break
                time.sleep(0.02)
            after = s.status()
            rec = s.api(f"/projects/app/runs/{e['runs'][0]}")
            job = rec["jobs"][0]
            step = job["steps"][0]
            stl, hd, body = s.api(f"/projects/app/runs/{e['runs'][0]}/jobs/logs/steps/0/log",
                                  raw=True, headers={"Range": "bytes=0-0"})
            return {"event": eid, "run": e["runs"][0], "status": rec["status"],
                    "idle_status": idle, "after_status": after,
                    "idle_rss_kib": idle["VmRSS"], "peak_rss_polled_kib": peak,
                    "vmhwm_kib": after["VmHWM"], "rss_after_kib": after["VmRSS"],
                    "rise_kib": max(peak, after["VmHWM"]) - idle["VmRSS"],
                    "step_s": (step["finished_at"] - step["started_at"]) / 1000,
                    "job_s": (job["finished_at"] - job["started_at"]) / 1000 if job.get("finished_at") else None,
                    "run_s": (rec["finished_at"] - rec["started_at"]) / 1000 if rec.get("finished_at") else None,
                    "log_range_status": stl, "content_range": hd.get("Content-Range") or hd.get("content-range")}

        if k % 2 == 0:
            p = peer(); subprocess.run(["sync"]); time.sleep(a.settle); r = server()
        else:
            r = server(); subprocess.run(["sync"]); time.sleep(a.settle); p = peer()
        r["peer_s"] = p
        r["ratio_peer_over_wharf"] = p / r["step_s"]
        log(json.dumps(r))
        reps.append(r)
        # the stored 200 MiB log: remove it from disk so its writeback does not slow the next rep
        for f in (w / "data" / "projects" / "app" / "state").rglob("*"):
            if f.is_file() and f.stat().st_size >= size // 2:
                f.unlink()
    s.stop()
    first_idle = reps[0]["idle_rss_kib"]
    for r in reps:
        r["rise_over_first_idle_kib"] = max(r["peak_rss_polled_kib"], r["vmhwm_kib"]) - first_idle
    mib = lambda kib: kib / 1024
    med = lambda key: statistics.median(r[key] for r in reps)
    raw = {"stamp": st, "machine": machine_line(), "command": " ".join(sys.argv), "bytes": size,
           "reps": reps}
    L = [f"# wharf serve: memory per job, {size / 1048576:.0f} MiB of log lines ({st})", "", raw["machine"], "",
         f"command: `{raw['command']}`", "",
         f"One job `cat`s {lines} ({size} bytes, the generator of ../shared/bench/b-logs.sh), delivered "
         "by a signed push; the server's RSS polled every 20 ms and its VmHWM (reset before each rep); the "
         "peer `sh -c 'cat FILE' | tee OUT > /dev/null` in the same rep (order alternated, `sync` and a pause "
         "between).", "",
         "| rep | server idle RSS (anon) | peak (max of polled, VmHWM) | rise over this rep's idle | rise over rep 0's idle | step time (record) | run time | sh \\| tee | peer / wharf |",
         "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for k, r in enumerate(reps):
        L.append(f"| {k} | {mib(r['idle_rss_kib']):.1f} MiB ({mib(r['idle_status']['RssAnon']):.1f}) | {mib(max(r['peak_rss_polled_kib'], r['vmhwm_kib'])):.1f} MiB | "
                 f"{mib(r['rise_kib']):.1f} MiB | {mib(r['rise_over_first_idle_kib']):.1f} MiB | {r['step_s']:.3f} s | {r['run_s']:.3f} s | {r['peer_s']:.3f} s | {r['ratio_peer_over_wharf']:.2f} |")
    L += ["", f"largest rise over rep 0's idle: {mib(max(r['rise_over_first_idle_kib'] for r in reps)):.1f} MiB; "
              f"RSS after the last rep: {mib(reps[-1]['after_status']['VmRSS']):.1f} MiB "
              f"(anon {mib(reps[-1]['after_status']['RssAnon']):.1f} MiB)",
          "", f"medians: rise {mib(med('rise_kib')):.1f} MiB; step {med('step_s'):.3f} s; sh|tee {med('peer_s'):.3f} s; "
              f"peer/wharf {med('ratio_peer_over_wharf'):.2f} ({size / 1048576 / med('step_s'):.0f} vs "
              f"{size / 1048576 / med('peer_s'):.0f} MiB/s)", ""]
    md = "\n".join(L)
    log(md)
    write_results(a.results, "joblog", raw, md)


# ---------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wharf", default=str(ROOT / "target/release/wharf"))
    p.add_argument("--work", type=Path, default=Path("/tmp/wharf-srvbench"))
    p.add_argument("--results", type=Path, default=ROOT / "docs/bench-results")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("crash")
    c.add_argument("--seed", type=int)
    c.add_argument("--runs", type=int, default=20)
    c.add_argument("--kills", type=int, default=10)
    c.add_argument("--up-min", type=float, default=2.0, help="shortest uptime before a kill (s)")
    c.add_argument("--up-max", type=float, default=15.0, help="longest uptime before a kill (s)")
    c.add_argument("--attempts", type=int, default=20, help="--interrupted-attempts of the server")
    c.add_argument("--chunk-sleep", type=float, default=0.25)
    c.add_argument("--drain-timeout", type=float, default=900)
    c.add_argument("--no-wait-mirror", dest="wait_mirror", action="store_false",
                   help="send the deliveries at once, without waiting for the first clone")
    c.set_defaults(fn=crash)
    f = sub.add_parser("firstclone")
    f.add_argument("--trials", type=int, default=10)
    f.add_argument("--deliveries", type=int, default=2)
    f.set_defaults(fn=firstclone)
    l = sub.add_parser("latency")
    l.add_argument("--pushes", type=int, default=50)
    l.add_argument("--gap", type=float, default=0.2, help="pause between the git push and the delivery")
    l.add_argument("--git-reps", type=int, default=20)
    l.set_defaults(fn=latency)
    i = sub.add_parser("idle")
    i.add_argument("--seconds", type=float, default=60)
    i.add_argument("--after-runs", type=int, default=10, help="runs per project before the second idle")
    i.set_defaults(fn=idle)
    t = sub.add_parser("throughput")
    t.add_argument("--runs", type=int, default=1000)
    t.add_argument("--max-runs", type=int, nargs="+", default=[2, 4])
    t.add_argument("--keep", action="store_true")
    t.set_defaults(fn=throughput)
    j = sub.add_parser("joblog")
    j.add_argument("--mib", type=int, default=200)
    j.add_argument("--reps", type=int, default=3)
    j.add_argument("--settle", type=float, default=5)
    j.set_defaults(fn=joblog)
    al = sub.add_parser("all")
    al.set_defaults(fn=None)
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    if a.cmd == "all":
        for name in ("latency", "idle", "throughput", "joblog", "crash"):
            sys.argv = [sys.argv[0], name]
            a2 = p.parse_args([f"--wharf={a.wharf}", f"--work={a.work}", f"--results={a.results}", name])
            a2.work.mkdir(parents=True, exist_ok=True)
            a2.fn(a2)
        return
    a.fn(a)


if __name__ == "__main__":
    main()
