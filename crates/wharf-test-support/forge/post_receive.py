#!/usr/bin/env python3
"""The post-receive hook of wharf's test forge (`wharf_test_support::forge::Forge`).

`git daemon` runs it after every push, with one `<old> <new> <ref>` line per updated ref on
stdin. For each line it builds the deliveries GitHub, GitLab or Gitea would send for that
push from real git data, signs the exact bytes it sends, POSTs them to the configured URL
(127.0.0.1 only) and appends each delivery (headers, body, the answer) to a JSON-lines log.
Like the real forges it never retries by itself, and a failed delivery never fails the
push: it is logged, and `--redeliver` sends it again on request.

Other modes, run by the Rust side with GIT_DIR set to the bare repository:

  --sign SECRET                           print GitHub's X-Hub-Signature-256 of stdin
  --check-url URL                         exit 0 when the hook would deliver to URL
  --pull-request N HEAD BASE ACTION FORK  write the PR ref, send the forge's PR delivery
  --redeliver I                           send delivery I again, as "Redeliver" does

The configuration is `wharf-forge.json` in the bare repository, written by the Rust side.
GitHub payloads are built on the published examples of @octokit/webhooks-examples (path in
WHARF_WEBHOOK_EXAMPLES); GitLab and Gitea ones on the templates next to this script.
Standard library only.
"""

import base64
import copy
import datetime
import fcntl
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import urllib.parse
import uuid

ZERO = "0" * 40
HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = "wharf-forge.json"
PULLS = "wharf-forge-pulls.json"
DEFAULT_EXAMPLES = (
    "/opt/wharf-ci/npm/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
)
TIMEOUT = 10  # seconds, GitHub's delivery timeout
OMIT = object()  # a fill value that removes its key (Go's `omitempty`)

# Identities on the pretend forge. The pusher is the `user` of the configuration.
IDS = {
    "github": {"repo": 186853002, "fork": 186853003, "owner": 21031067, "user": 21031068,
               "contributor": 21031069, "hook": 292430182, "pr_base": 279147400},
    "gitlab": {"repo": 15, "fork": 16, "owner": 3, "user": 4, "contributor": 5,
               "hook": 7, "pr_base": 90},
    "gitea": {"repo": 1, "fork": 2, "owner": 1, "user": 2, "contributor": 3,
              "hook": 1, "pr_base": 0},
}
CONTRIBUTOR = {"login": "contributor", "name": "Outside Contributor",
               "email": "contributor@example.invalid"}


class Failure(Exception):
    """A usage or repository error: printed, and the mode exits non-zero."""


# ---------------------------------------------------------------------------------------
# Configuration, git, time


def git_dir():
    return os.environ.get("GIT_DIR", ".")


def load_config():
    path = os.path.join(git_dir(), CONFIG)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise Failure(f"cannot read the forge configuration {path}: {e}")


def git(*args, input=None):
    r = subprocess.run(["git", *args], input=input, capture_output=True)
    if r.returncode != 0:
        raise Failure(f"git {' '.join(args)} failed: {r.stderr.decode(errors='replace').strip()}")
    return r.stdout.decode("utf-8", errors="replace")


def resolve(rev):
    """The object name of `rev`, or None."""
    r = subprocess.run(["git", "rev-parse", "--verify", "-q", rev], capture_output=True)
    return r.stdout.decode().strip() if r.returncode == 0 else None


def peel(sha):
    """The commit `sha` points to (itself for a commit, the target of an annotated tag)."""
    return resolve(f"{sha}^{{commit}}")


def object_type(sha):
    return git("cat-file", "-t", sha).strip()


def is_ancestor(a, b):
    return subprocess.run(["git", "merge-base", "--is-ancestor", a, b]).returncode == 0


def branch_heads(exclude=None):
    out = git("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
    heads = {}
    for line in out.splitlines():
        sha, name = line.split(" ", 1)
        if name != exclude:
            heads[name] = sha
    return heads


def rev_list(*args):
    """Commit names, oldest first."""
    out = git("rev-list", "--reverse", *args)
    return [line for line in out.splitlines() if line]


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def iso_z(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Commit:
    """What the payloads say about one commit, read from the repository."""

    def __init__(self, sha):
        fields = git("log", "-1", "--no-show-signature",
                     "--format=%H%x1f%T%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%P",
                     sha).rstrip("\n").split("\x1f")
        (self.id, self.tree, self.author_name, self.author_email, self.author_date,
         self.committer_name, self.committer_email, self.committer_date, parents) = fields
        self.parents = parents.split()
        raw = git("cat-file", "commit", self.id)
        self.message = raw.split("\n\n", 1)[1] if "\n\n" in raw else ""
        self.title = self.message.split("\n", 1)[0]
        if self.parents:
            diff = git("diff-tree", "-r", "-z", "--no-commit-id", "--name-status",
                       self.parents[0], self.id)
        else:
            diff = git("diff-tree", "-r", "-z", "--no-commit-id", "--name-status", "--root",
                       self.id)
        self.added, self.removed, self.modified = [], [], []
        parts = [p for p in diff.split("\0") if p]
        for status, path in zip(parts[0::2], parts[1::2]):
            {"A": self.added, "D": self.removed}.get(status[0], self.modified).append(path)


def login_for(cfg, email):
    for user in (cfg["user"], CONTRIBUTOR):
        if user["email"] == email:
            return user["login"]
    return None


# ---------------------------------------------------------------------------------------
# Templates


def fill(template, values):
    """A copy of `template` with "{{name}}" placeholders replaced from `values`."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.startswith("_"):
                continue
            filled = fill(value, values)
            if filled is not OMIT:
                out[key] = filled
        return out
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if isinstance(template, str) and "{{" in template:
        if template.startswith("{{") and template.endswith("}}") and template.count("{{") == 1:
            value = values[template[2:-2]]
            return value if value is OMIT else copy.deepcopy(value)
        out = template
        for key, value in values.items():
            out = out.replace("{{" + key + "}}", str(value))
        return out
    return template


def load_templates(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)


class Site:
    """Names and URLs of the pretend forge (the repository, its fork, the web base)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.kind = cfg["kind"]
        self.ids = IDS[self.kind]
        self.owner, self.name = cfg["owner"], cfg["name"]
        self.full = f"{self.owner}/{self.name}"
        self.web = cfg["web_url"].rstrip("/")
        self.default_branch = cfg["default_branch"]
        self.clone_url = cfg["clone_url"]
        self.user = cfg["user"]
        self.fork_owner = CONTRIBUTOR["login"]
        self.fork_full = f"{self.fork_owner}/{self.name}"
        self.fork_clone_url = self.clone_url.replace(f"/{self.full}.git", f"/{self.fork_full}.git")

    def ssh_url(self, full):
        return f"git@127.0.0.1:{full}.git"


# ---------------------------------------------------------------------------------------
# Serialising, signing, sending


def html_escape_json(text):
    # Go's encoding/json and Rails escape these inside strings; they never occur outside one.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def serialize(kind, payload):
    """The exact bytes the forge would send for `payload`."""
    if kind == "gitea":  # json.MarshalIndent(p, "", "  ")
        text = json.dumps(payload, indent=2, ensure_ascii=False)
        text = html_escape_json(text).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    elif kind == "gitlab":  # compact, HTML-safe (Gitlab::Json)
        text = html_escape_json(json.dumps(payload, separators=(",", ":"), ensure_ascii=False))
    else:  # GitHub: compact
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def hmac_hex(secret, body, digest):
    return hmac.new(secret.encode("utf-8"), body, digest).hexdigest()


def github_signature(secret, body):
    """The value of GitHub's X-Hub-Signature-256 header for `body`."""
    return "sha256=" + hmac_hex(secret, body, hashlib.sha256)


def check_url(url):
    """(host, port, path) of `url`; raises Failure unless it is http://127.0.0.1[:port]/…"""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or parsed.hostname != "127.0.0.1":
        raise Failure(f"refusing to deliver to {url!r}: the test forge only sends to "
                      "http://127.0.0.1")
    path = parsed.path or "/"
    if parsed.query:
        path += "?" + parsed.query
    return parsed.hostname, parsed.port or 80, path


def headers_for(cfg, event, event_type, body, ids):
    """The forge's header set for one delivery. `ids` holds the delivery's identifiers."""
    kind, secret = cfg["kind"], cfg["secret"]
    site_ids = IDS[kind]
    if kind == "github":
        h = [("User-Agent", "GitHub-Hookshot/" + cfg["hookshot"]),
             ("Content-Type", "application/json"),
             ("X-GitHub-Delivery", ids["delivery"]),
             ("X-GitHub-Event", event),
             ("X-GitHub-Hook-ID", str(site_ids["hook"])),
             ("X-GitHub-Hook-Installation-Target-ID", str(site_ids["repo"])),
             ("X-GitHub-Hook-Installation-Target-Type", "repository")]
        if secret:
            h += [("X-Hub-Signature", "sha1=" + hmac_hex(secret, body, hashlib.sha1)),
                  ("X-Hub-Signature-256", github_signature(secret, body))]
        return h
    if kind == "gitlab":  # WebHookService#build_headers
        h = [("Content-Type", "application/json"),
             ("User-Agent", "GitLab/" + cfg["gitlab_version"]),
             ("Idempotency-Key", ids["idempotency"]),
             ("X-Gitlab-Event", event),
             ("X-Gitlab-Webhook-UUID", ids["webhook_uuid"]),
             ("X-Gitlab-Instance", cfg["web_url"])]
        if secret:
            h.append(("X-Gitlab-Token", secret.replace("\r", "").replace("\n", "")))
        h.append(("X-Gitlab-Event-UUID", ids["event_uuid"]))
        return h
    # Gitea: services/webhook/deliver.go addDefaultHeaders (empty signatures without a secret)
    sha1 = hmac_hex(secret, body, hashlib.sha1) if secret else ""
    sha256 = hmac_hex(secret, body, hashlib.sha256) if secret else ""
    d = ids["delivery"]
    return [("User-Agent", "Go-http-client/1.1"),
            ("Content-Type", "application/json"),
            ("X-Gitea-Delivery", d),
            ("X-Gitea-Event", event),
            ("X-Gitea-Event-Type", event_type),
            ("X-Gitea-Signature", sha256),
            ("X-Gogs-Delivery", d),
            ("X-Gogs-Event", event),
            ("X-Gogs-Event-Type", event_type),
            ("X-Gogs-Signature", sha256),
            ("X-Hub-Signature", "sha1=" + sha1),
            ("X-Hub-Signature-256", "sha256=" + sha256),
            ("X-GitHub-Delivery", d),
            ("X-GitHub-Event", event),
            ("X-GitHub-Event-Type", event_type)]


def new_ids(kind):
    if kind == "gitlab":
        return {key: str(uuid.uuid4()) for key in ("idempotency", "webhook_uuid", "event_uuid")}
    return {"delivery": str(uuid.uuid4())}


def post(url, headers, body):
    """Sends once. Returns (status or None, response bytes, error or None)."""
    try:
        host, port, path = check_url(url)
    except Failure as e:
        return None, b"", str(e)
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read(), None
    except (OSError, http.client.HTTPException) as e:
        return None, b"", f"{type(e).__name__}: {e}"
    finally:
        conn.close()


def append_log(cfg, entry):
    """Appends `entry` to the delivery log under a lock; returns its index."""
    with open(cfg["log"], "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        index = sum(1 for _ in f)
        entry["index"] = index
        f.write(json.dumps(entry) + "\n")
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)
    return index


def deliver(cfg, event, event_type, payload, ids=None, redelivery_of=None, body=None):
    """Serialises once, signs those bytes, sends them, logs the delivery."""
    kind = cfg["kind"]
    if body is None:
        body = serialize(kind, payload)
    ids = ids or new_ids(kind)
    headers = headers_for(cfg, event, event_type, body, ids)
    status, response, error = post(cfg["url"], headers, body)
    entry = {
        "kind": kind,
        "event": event,
        "event_type": event_type,
        "ids": ids,
        "url": cfg["url"],
        "headers": headers,
        "body": base64.b64encode(body).decode(),
        "status": status,
        "response": base64.b64encode(response).decode(),
        "error": error,
        "redelivery_of": redelivery_of,
        "sent_at": iso_z(now()),
    }
    index = append_log(cfg, entry)
    outcome = f"HTTP {status}" if status is not None else f"not delivered ({error})"
    print(f"wharf test forge: {kind} {event_type} delivery {index} -> {outcome}",
          file=sys.stderr)
    return index


# ---------------------------------------------------------------------------------------
# GitHub: the published example payloads, filled in


_EXAMPLES = None


def gh_example(name, action=None):
    global _EXAMPLES
    if _EXAMPLES is None:
        path = os.environ.get("WHARF_WEBHOOK_EXAMPLES") or DEFAULT_EXAMPLES
        try:
            with open(path, encoding="utf-8") as f:
                _EXAMPLES = {e["name"]: e["examples"] for e in json.load(f)}
        except OSError as e:
            raise Failure(f"cannot read GitHub's example payloads {path}: {e} (install "
                          "@octokit/webhooks-examples@7.6.1 into /opt/wharf-ci/npm; "
                          ".ci/run does)")
    examples = _EXAMPLES[name]
    chosen = next((e for e in examples if action and e.get("action") == action), examples[0])
    chosen = copy.deepcopy(chosen)
    # A repository webhook of a user's repository: no App installation, no organization.
    chosen.pop("installation", None)
    chosen.pop("organization", None)
    return chosen


def gh_retarget(obj, site, owner, name):
    """Rewrites the example's names and URLs (Codertocat/Hello-World on github.com)."""
    api = site.web + "/api/v3"
    pairs = [("https://api.github.com", api), ("https://github.com", site.web),
             ("Codertocat/Hello-World", f"{owner}/{name}"), ("Hello-World", name),
             ("Codertocat", owner)]

    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            for old, new in pairs:
                v = v.replace(old, new)
        return v

    return walk(obj)


def node_id(prefix, number):
    return base64.b64encode(f"{prefix}{number}".encode()).decode().rstrip("=")


def gh_user(site, template, login, uid):
    u = gh_retarget(template, site, login, site.name)
    u["id"] = uid
    u["node_id"] = node_id("04:User", uid)
    return u


def gh_repo(site, template, fork=False):
    owner = site.fork_owner if fork else site.owner
    full = f"{owner}/{site.name}"
    r = gh_retarget(template, site, owner, site.name)
    rid = site.ids["fork" if fork else "repo"]
    r["id"] = rid
    r["node_id"] = node_id("010:Repository", rid)
    r["owner"]["id"] = site.ids["contributor" if fork else "owner"]
    r["owner"]["node_id"] = node_id("04:User", r["owner"]["id"])
    r["private"] = False
    r["fork"] = fork
    r["git_url"] = site.fork_clone_url if fork else site.clone_url
    r["ssh_url"] = site.ssh_url(full)
    r["clone_url"] = site.fork_clone_url if fork else site.clone_url
    r["default_branch"] = site.default_branch
    if "master_branch" in r:
        r["master_branch"] = site.default_branch
    if isinstance(r.get("pushed_at"), int):
        r["pushed_at"] = int(now().timestamp())
    elif "pushed_at" in r:
        r["pushed_at"] = iso_z(now())
    return r


def gh_commit(site, c):
    def person(name, email):
        p = {"name": name, "email": email}
        login = login_for(site.cfg, email)
        if login:
            p["username"] = login
        return p

    return {
        "id": c.id,
        "tree_id": c.tree,
        "distinct": True,
        "message": c.message.rstrip("\n"),
        "timestamp": c.author_date,
        "url": f"{site.web}/{site.full}/commit/{c.id}",
        "author": person(c.author_name, c.author_email),
        "committer": person(c.committer_name, c.committer_email),
        "added": c.added,
        "removed": c.removed,
        "modified": c.modified,
    }


def gh_sender(site, template):
    return gh_user(site, template, site.user["login"], site.ids["user"])


def github_push_events(site, old, new, ref, had_refs):
    """push, plus create/delete for a new or deleted branch or tag."""
    created, deleted = old == ZERO, new == ZERO
    short = ref.split("/", 2)[2]
    is_tag = ref.startswith("refs/tags/")
    p = gh_example("push")
    head = None if deleted else peel(new)
    if deleted:
        commits, forced = [], False
    elif is_tag:
        commits, forced = [], False
    elif created:
        others = list(branch_heads(exclude=ref).values())
        commits = rev_list(new, "--not", *others) if others else rev_list(new)
        forced = False
    else:
        commits, forced = rev_list(f"{old}..{new}"), not is_ancestor(old, new)
    base_ref = None
    if created and head:
        for name, sha in sorted(branch_heads(exclude=ref).items()):
            if sha == head:
                base_ref = name
                break
    web = f"{site.web}/{site.full}"
    if created and not had_refs:
        compare = f"{web}/commit/{head}"
    elif created:
        compare = f"{web}/compare/{short}"
    else:
        compare = f"{web}/compare/{old[:12]}...{new[:12]}"
    p.update({
        "ref": ref, "before": old, "after": new, "created": created, "deleted": deleted,
        "forced": forced, "base_ref": base_ref, "compare": compare,
        "commits": [gh_commit(site, Commit(c)) for c in commits[-2048:]],
        "head_commit": gh_commit(site, Commit(head)) if head else None,
        "repository": gh_repo(site, p["repository"]),
        "pusher": {"name": site.user["login"], "email": site.user["email"]},
        "sender": gh_sender(site, p["sender"]),
    })
    events = [("push", p)]
    if created or deleted:
        name = "create" if created else "delete"
        e = gh_example(name)
        e["ref"] = short
        e["ref_type"] = "tag" if is_tag else "branch"
        if "master_branch" in e:
            e["master_branch"] = site.default_branch
        e["repository"] = gh_repo(site, e["repository"])
        e["sender"] = gh_sender(site, e["sender"])
        events.append((name, e))
    return [(name, name, payload) for name, payload in events]


# ---------------------------------------------------------------------------------------
# GitLab


def gl_values(site, fork=False):
    full = site.fork_full if fork else site.full
    return {
        "project_id": site.ids["fork" if fork else "repo"],
        "name": site.name,
        "web_url": f"{site.web}/{full}",
        "ssh_url": site.ssh_url(full),
        "clone_url": site.fork_clone_url if fork else site.clone_url,
        "namespace": site.fork_owner if fork else site.owner,
        "full_name": full,
        "default_branch": site.default_branch,
    }


def gl_avatar(email):
    digest = hashlib.md5(email.strip().lower().encode()).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?s=80&d=identicon"


def gl_commit(t, site, c, full):
    return fill(t["commit"], {
        "id": c.id, "message": c.message, "title": c.title, "timestamp": c.committer_date,
        "url": f"{site.web}/{full}/-/commit/{c.id}", "author_name": c.author_name,
        "author_email": c.author_email, "added": c.added, "modified": c.modified,
        "removed": c.removed,
    })


def gitlab_push_events(site, old, new, ref):
    t = load_templates("gitlab_templates.json")
    created, deleted = old == ZERO, new == ZERO
    is_tag = ref.startswith("refs/tags/")
    if deleted or is_tag:
        commits = []
    elif created:
        others = list(branch_heads(exclude=ref).values())
        commits = rev_list(new, "--not", *others) if others else rev_list(new)
    else:
        commits = rev_list(f"{old}..{new}")
    message = None
    if is_tag and not deleted and object_type(new) == "tag":
        raw = git("cat-file", "tag", new)
        message = raw.split("\n\n", 1)[1] if "\n\n" in raw else ""
    values = gl_values(site)
    payload = fill(t["push"], {
        "object_kind": "tag_push" if is_tag else "push",
        "before": old, "after": new, "ref": ref,
        "ref_protected": (not is_tag) and ref == f"refs/heads/{site.default_branch}",
        "checkout_sha": None if deleted else peel(new),
        "message": message,
        "user_id": site.ids["user"], "user_name": site.user["name"],
        "user_username": site.user["login"], "user_email": site.user["email"],
        "user_avatar": gl_avatar(site.user["email"]),
        "project_id": site.ids["repo"],
        "project": fill(t["project"], values),
        # The newest 20, oldest first; the count is of all of them.
        "commits": [gl_commit(t, site, Commit(c), site.full) for c in commits[-20:]],
        "total_commits_count": len(commits),
        "repository": fill(t["push_repository"], values),
    })
    event = "Tag Push Hook" if is_tag else "Push Hook"
    return [(event, event, payload)]


# ---------------------------------------------------------------------------------------
# Gitea


def gt_user(t, site, who):
    owner = {"login": site.owner, "name": site.owner, "email": f"{site.owner}@example.invalid"}
    user = {"owner": owner, "user": site.user, "contributor": CONTRIBUTOR}[who]
    return fill(t["user"], {
        "id": site.ids[who], "login": user["login"], "full_name": user["name"],
        "email": user["email"], "web_url": site.web, "created": "2024-01-01T00:00:00Z",
    })


def gt_repo(t, site, fork=False):
    full = site.fork_full if fork else site.full
    return fill(t["repository"], {
        "id": site.ids["fork" if fork else "repo"],
        "owner": gt_user(t, site, "contributor" if fork else "owner"),
        "name": site.name, "full_name": full, "fork": fork,
        "parent": gt_repo(t, site) if fork else OMIT,
        "web_url": site.web, "ssh_url": site.ssh_url(full),
        "clone_url": site.fork_clone_url if fork else site.clone_url,
        "forks_count": 0 if fork else 1,
        "default_branch": site.default_branch,
        "created": "2024-01-01T00:00:00Z", "updated": iso_z(now()),
    })


def gt_commit(t, site, c):
    return fill(t["commit"], {
        "id": c.id, "message": c.message, "url": f"{site.web}/{site.full}/commit/{c.id}",
        "author_name": c.author_name, "author_email": c.author_email,
        "author_username": login_for(site.cfg, c.author_email) or "",
        "committer_name": c.committer_name, "committer_email": c.committer_email,
        "committer_username": login_for(site.cfg, c.committer_email) or "",
        "timestamp": c.author_date, "added": c.added, "removed": c.removed,
        "modified": c.modified,
    })


def gitea_push_events(site, old, new, ref):
    """services/repository/push.go: tags get push + create/delete, a new branch create +
    push, an updated branch push, a deleted branch delete only."""
    t = load_templates("gitea_templates.json")
    created, deleted = old == ZERO, new == ZERO
    is_tag = ref.startswith("refs/tags/")
    short = ref.split("/", 2)[2]
    repo, sender = gt_repo(t, site), gt_user(t, site, "user")
    ref_type = "tag" if is_tag else "branch"

    def compare(a, b):
        return f"{site.web}/{site.full}/compare/{a}...{b}"

    def push(commits, head, compare_url, total):
        return fill(t["push"], {
            "ref": ref, "before": old, "after": new, "compare_url": compare_url,
            "commits": commits, "total_commits": total, "head_commit": head,
            "repository": repo, "pusher": sender, "sender": sender,
        })

    create = ("create", "create", fill(t["create"], {
        "sha": new, "ref": short, "ref_type": ref_type, "repository": repo, "sender": sender}))
    delete = ("delete", "delete", fill(t["delete"], {
        "ref": short, "ref_type": ref_type, "repository": repo, "sender": sender}))
    if is_tag and deleted:
        return [("push", "push", push([], None, site.web + "/", 0)), delete]
    if is_tag:
        head = gt_commit(t, site, Commit(peel(new)))
        return [("push", "push", push([], head, compare(ZERO, new), 0)), create]
    if deleted:
        return [delete]
    if created:  # CommitsBeforeLimit(10): the newest ten, newest first
        shas = git("rev-list", "--max-count=10", new).split()
    else:  # CommitsBeforeUntil(old), newest first
        shas = git("rev-list", f"{old}..{new}").split()
    commits = [Commit(s) for s in shas]
    base = old
    if created:
        base = ZERO
        if commits and commits[-1].parents:
            base = commits[-1].parents[0]
        if base == ZERO and site.default_branch != short:
            base = site.default_branch
    # CompareURL is AppURL + the compare path, or AppURL alone when there is nothing to compare.
    compare_url = compare(base, new) if base != ZERO else site.web + "/"
    head = gt_commit(t, site, Commit(new))
    # setting.UI.FeedMaxCommitNum (5) caps the list; total_commits counts them all.
    pushed = push([gt_commit(t, site, c) for c in commits[:5]], head, compare_url, len(commits))
    events = [("push", "push", pushed)]
    return [create] + events if created else events


# ---------------------------------------------------------------------------------------
# Push mode


def push_mode():
    cfg = load_config()
    site = Site(cfg)
    lines = [line.split() for line in sys.stdin.read().splitlines() if line.strip()]
    updates = [(old, new, ref) for old, new, ref in lines
               if ref.startswith("refs/heads/") or ref.startswith("refs/tags/")]
    tags = [u for u in updates if u[2].startswith("refs/tags/")]
    branches = [u for u in updates if u[2].startswith("refs/heads/")]
    # GitHub: no events for tags when more than three are pushed at once. GitLab:
    # push_event_hooks_limit (3) for branches and for tags.
    if cfg["kind"] in ("github", "gitlab") and len(tags) > 3:
        updates = [u for u in updates if u not in tags]
    if cfg["kind"] == "gitlab" and len(branches) > 3:
        updates = [u for u in updates if u not in branches]
    # Did the repository have any branch or tag before this push?
    after_push = git("for-each-ref", "--format=%(refname)", "refs/heads/", "refs/tags/").split()
    created_now = {ref for old, _, ref in lines if old == ZERO}
    had_refs = any(r not in created_now for r in after_push) or any(
        old != ZERO for old, _, _ in lines)
    for old, new, ref in updates:
        if cfg["kind"] == "github":
            events = github_push_events(site, old, new, ref, had_refs)
        elif cfg["kind"] == "gitlab":
            events = gitlab_push_events(site, old, new, ref)
        else:
            events = gitea_push_events(site, old, new, ref)
        for event, event_type, payload in events:
            deliver(cfg, event, event_type, payload)


# ---------------------------------------------------------------------------------------
# Pull requests


def diff_stats(base, head):
    added = deleted = files = 0
    for line in git("diff", "--numstat", base, head).splitlines():
        a, d, _ = line.split("\t", 2)
        files += 1
        added += int(a) if a.isdigit() else 0
        deleted += int(d) if d.isdigit() else 0
    return added, deleted, files


def ensure_fork(site, head_sha, branch):
    """The fork is a real repository next to the base one, served by the same daemon."""
    path = os.path.join(site.cfg["base_path"], site.fork_full + ".git")
    if not os.path.isdir(path):
        git("init", "-q", "--bare", path)
    git("push", "-q", "--force", path, f"{head_sha}:refs/heads/{branch}")


def pull_request_mode(number, head_branch, base_branch, action, fork):
    cfg = load_config()
    site = Site(cfg)
    kind = cfg["kind"]
    number = int(number)
    fork = fork in ("1", "true", "yes")
    head = resolve(f"refs/heads/{head_branch}^{{commit}}")
    base = resolve(f"refs/heads/{base_branch}^{{commit}}")
    if head is None or base is None:
        missing = head_branch if head is None else base_branch
        raise Failure(f"branch {missing!r} is not in the forge's repository: push it first")
    pr_ref = (f"refs/merge-requests/{number}/head" if kind == "gitlab"
              else f"refs/pull/{number}/head")
    previous = resolve(pr_ref)
    git("update-ref", pr_ref, head)
    if fork:
        ensure_fork(site, head, head_branch)
    merge_base = git("merge-base", base, head).strip()

    state_path = os.path.join(git_dir(), PULLS)
    pulls = {}
    if os.path.exists(state_path):
        with open(state_path, encoding="utf-8") as f:
            pulls = json.load(f)
    pr = pulls.setdefault(str(number), {"created_at": iso_z(now()),
                                        "title": Commit(head).title})
    pr["previous_updated_at"] = pr.get("updated_at")
    pr["updated_at"] = iso_z(now())
    with open(state_path, "w", encoding="utf-8") as f:
        json.dump(pulls, f)

    closing = action in ("closed", "close", "merge")
    author = "contributor" if fork else "user"
    if kind == "github":
        event, payload = "pull_request", github_pull_request(
            site, number, action, fork, head, head_branch, base, base_branch, previous, pr,
            merge_base, closing, author)
        event_type = event
    elif kind == "gitlab":
        event = event_type = "Merge Request Hook"
        payload = gitlab_merge_request(site, number, action, fork, head, head_branch,
                                       base_branch, previous, pr, author)
    else:
        event = "pull_request"
        event_type = "pull_request_sync" if action == "synchronized" else "pull_request"
        payload = gitea_pull_request(site, number, action, fork, head, head_branch, base,
                                     base_branch, pr, merge_base, closing, author)
    deliver(cfg, event, event_type, payload)


def github_pull_request(site, number, action, fork, head, head_branch, base, base_branch,
                        previous, pr, merge_base, closing, author):
    e = gh_example("pull_request", action)
    template_pr = e["pull_request"]
    api = f"{site.web}/api/v3/repos/{site.full}"
    html = f"{site.web}/{site.full}/pull/{number}"
    author_login = CONTRIBUTOR["login"] if author == "contributor" else site.user["login"]
    user = gh_user(site, e["sender"], author_login, site.ids[author])
    owner_user = gh_user(site, e["sender"], site.owner, site.ids["owner"])
    head_owner = site.fork_owner if fork else site.owner
    additions, deletions, changed = diff_stats(merge_base, head)
    p = gh_retarget(template_pr, site, site.owner, site.name)
    p.update({
        "url": f"{api}/pulls/{number}", "id": site.ids["pr_base"] + number,
        "node_id": node_id("011:PullRequest", site.ids["pr_base"] + number),
        "html_url": html, "diff_url": html + ".diff", "patch_url": html + ".patch",
        "issue_url": f"{api}/issues/{number}", "number": number,
        "state": "closed" if closing else "open", "locked": False, "title": pr["title"],
        "user": user, "body": None, "created_at": pr["created_at"],
        "updated_at": pr["updated_at"], "closed_at": pr["updated_at"] if closing else None,
        "merged_at": None, "merge_commit_sha": None, "assignee": None, "assignees": [],
        "requested_reviewers": [], "requested_teams": [], "labels": [], "milestone": None,
        "commits_url": f"{api}/pulls/{number}/commits",
        "review_comments_url": f"{api}/pulls/{number}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": f"{api}/issues/{number}/comments",
        "statuses_url": f"{api}/statuses/{head}",
        "head": {"label": f"{head_owner}:{head_branch}", "ref": head_branch, "sha": head,
                 "user": gh_user(site, e["sender"], head_owner,
                                 site.ids["contributor" if fork else "owner"]),
                 "repo": gh_repo(site, template_pr["head"]["repo"], fork=fork)},
        "base": {"label": f"{site.owner}:{base_branch}", "ref": base_branch, "sha": base,
                 "user": owner_user, "repo": gh_repo(site, template_pr["base"]["repo"])},
        "_links": {
            "self": {"href": f"{api}/pulls/{number}"}, "html": {"href": html},
            "issue": {"href": f"{api}/issues/{number}"},
            "comments": {"href": f"{api}/issues/{number}/comments"},
            "review_comments": {"href": f"{api}/pulls/{number}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{number}/commits"},
            "statuses": {"href": f"{api}/statuses/{head}"},
        },
        "author_association": "CONTRIBUTOR" if fork else "OWNER",
        "draft": False, "merged": False, "mergeable": None, "rebaseable": None,
        "mergeable_state": "unknown", "merged_by": None, "comments": 0,
        "review_comments": 0, "maintainer_can_modify": False,
        "commits": len(rev_list(f"{merge_base}..{head}")), "additions": additions,
        "deletions": deletions, "changed_files": changed,
    })
    out = {"action": action, "number": number, "pull_request": p}
    if action == "synchronize":
        out["before"] = previous or merge_base
        out["after"] = head
    out["repository"] = gh_repo(site, e["repository"])
    out["sender"] = user
    return out


def gitlab_merge_request(site, number, action, fork, head, head_branch, base_branch,
                         previous, pr, author):
    t = load_templates("gitlab_templates.json")
    target = gl_values(site)
    source = gl_values(site, fork=fork)
    who = CONTRIBUTOR if author == "contributor" else site.user
    state = {"close": "closed", "merge": "merged"}.get(action, "opened")
    c = Commit(head)
    source_full = site.fork_full if fork else site.full
    user = fill(t["user"], {"user_id": site.ids[author], "user_name": who["name"],
                            "user_username": who["login"],
                            "user_avatar": gl_avatar(who["email"]),
                            "user_email": who["email"]})
    payload = fill(t["merge_request"], {
        "user": user,
        "project": fill(t["project"], target),
        "mr_id": site.ids["pr_base"] + number, "iid": number,
        "target_branch": base_branch, "source_branch": head_branch,
        "source_project_id": source["project_id"], "author_id": site.ids[author],
        "title": pr["title"], "created_at": pr["created_at"], "updated_at": pr["updated_at"],
        "state_id": {"opened": 1, "closed": 2, "merged": 3}[state], "state": state,
        "first_contribution": fork, "target_project_id": target["project_id"],
        "mr_url": f"{site.web}/{site.full}/-/merge_requests/{number}",
        "source": fill(t["project"], source), "target": fill(t["project"], target),
        "last_commit": {
            "id": c.id, "message": c.message, "title": c.title, "timestamp": c.committer_date,
            "url": f"{site.web}/{source_full}/-/commit/{c.id}",
            "author": {"name": c.author_name, "email": c.author_email},
        },
        "action": action,
        "changes": {},
        "repository": fill(t["mr_repository"], target),
    })
    attrs = payload["object_attributes"]
    # `source`/`target` carry no id in GitLab's payload.
    attrs["source"].pop("id", None)
    attrs["target"].pop("id", None)
    if action == "update" and previous and previous != head:
        # Only present when code changed; GitLab puts it after `action`.
        attrs["oldrev"] = previous
        payload["changes"] = {"updated_at": {"previous": pr.get("previous_updated_at"),
                                             "current": pr["updated_at"]}}
    return payload


def gitea_pull_request(site, number, action, fork, head, head_branch, base, base_branch, pr,
                       merge_base, closing, author):
    t = load_templates("gitea_templates.json")
    base_repo = gt_repo(t, site)
    head_repo = gt_repo(t, site, fork=fork)
    additions, deletions, changed = diff_stats(merge_base, head)
    html = f"{site.web}/{site.full}/pulls/{number}"
    user = gt_user(t, site, author)
    return fill(t["pull_request"], {
        "action": action, "number": number, "pr_id": site.ids["pr_base"] + number,
        "html_url": html, "user": user, "title": pr["title"],
        "state": "closed" if closing else "open",
        "additions": additions, "deletions": deletions, "changed_files": changed,
        "base": fill(t["pr_branch"], {"label": base_branch, "ref": base_branch, "sha": base,
                                      "repo_id": base_repo["id"], "repo": base_repo}),
        "head": fill(t["pr_branch"], {"label": head_branch, "ref": head_branch, "sha": head,
                                      "repo_id": head_repo["id"], "repo": head_repo}),
        "merge_base": merge_base, "created_at": pr["created_at"],
        "updated_at": pr["updated_at"], "closed_at": pr["updated_at"] if closing else None,
        "repository": base_repo, "sender": user,
    })


# ---------------------------------------------------------------------------------------
# Redelivery


def redeliver_mode(index):
    cfg = load_config()
    index = int(index)
    try:
        with open(cfg["log"], encoding="utf-8") as f:
            entries = [json.loads(line) for line in f if line.strip()]
    except OSError:
        entries = []
    if not 0 <= index < len(entries):
        raise Failure(f"no delivery {index}: the forge has sent {len(entries)}")
    original = entries[index]
    ids = dict(original["ids"])
    kind = cfg["kind"]
    if kind == "gitlab":
        # "Resend request" reuses the Idempotency-Key; the per-request UUIDs are new.
        ids["webhook_uuid"] = str(uuid.uuid4())
        ids["event_uuid"] = str(uuid.uuid4())
    elif kind == "gitea":
        # models/webhook/hooktask.go ReplayHookTask: a new task, so a new UUID.
        ids["delivery"] = str(uuid.uuid4())
    # GitHub: the same X-GitHub-Delivery.
    deliver(cfg, original["event"], original["event_type"], None, ids=ids,
            redelivery_of=index, body=base64.b64decode(original["body"]))


# ---------------------------------------------------------------------------------------


def main(argv):
    try:
        if len(argv) == 2 and argv[0] == "--sign":
            print(github_signature(argv[1], sys.stdin.buffer.read()))
        elif len(argv) == 2 and argv[0] == "--check-url":
            check_url(argv[1])
        elif len(argv) == 6 and argv[0] == "--pull-request":
            pull_request_mode(*argv[1:])
        elif len(argv) == 2 and argv[0] == "--redeliver":
            redeliver_mode(argv[1])
        elif not argv:
            push_mode()
        else:
            raise Failure(f"usage: see the docstring of {__file__}")
    except Failure as e:
        print(f"wharf test forge: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
