#!/usr/bin/env python3
"""A fake GitHub REST API for tests/container/run.sh: the endpoints `evalgate ci` calls, answered
in GitHub's documented wire format, with every request recorded.

    fake_github.py serve LOG [--port 0] [--login NAME] [--slow REGEX=SECONDS]
        Listens on 127.0.0.1 (port 0 picks a free one, printed alone on the first stdout line)
        and appends one JSON line per request to LOG: method, path, query, the request headers
        that matter, the JSON body, the status and the JSON answered. `--slow` holds requests
        whose path matches REGEX for SECONDS before answering (a GitHub that hangs), and logs
        each when it arrives, with `"pending": true`.

    fake_github.py count LOG [--since N] [--method M] [--path REGEX] [--body REGEX] [--pending]
        Prints how many logged requests (from line N on, 0-based) match; with `--pending`, how
        many held requests arrived.

    fake_github.py field LOG FIELD [--since N] [--method M] [--path REGEX] [--body REGEX]
        Prints FIELD (e.g. `response.id`, `body.body`) of the last matching request.

What it implements, from src/github/ (the only module of evalgate that calls GitHub):
- GET /user: 403 "Resource not accessible by integration", as GitHub answers a workflow's
  GITHUB_TOKEN, so evalgate matches its comments by the github-actions[bot] login
  (comment.rs `own_login`). `--login NAME` answers 200 with that login instead (a personal token).
- GET /repos/{owner}/{repo}/issues/{number}/comments?per_page=&page=: the issue's comments,
  oldest first, paginated with a `Link` header (comment.rs `find`).
- POST /repos/{owner}/{repo}/issues/{number}/comments: 201 with the new comment and `Location`.
- PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}: 200 with the edited comment; 404
  for an id that does not exist.
- GET /repos/{owner}/{repo}/issues/{number}/events?per_page=&page=: the issue's events (none:
  nobody labelled anything) (label.rs).
- GET /repos/{owner}/{repo}/actions/artifacts?name=&per_page=: no artifact, so `baseline: auto`
  falls back to git and a re-run (artifact.rs).
- GET /repos/{owner}/{repo}/actions/runs/{id} and .../actions/artifacts/{id}/zip: 404 (never
  reached while the artifact list is empty).
Anything else is a 404 with GitHub's error body, and is logged like the rest: a test can see an
endpoint it did not expect.

Python 3 standard library only.
"""

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BOT = {
    "login": "github-actions[bot]",
    "id": 41898282,
    "node_id": "MDM6Qm90NDE4OTgyODI=",
    "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
    "gravatar_id": "",
    "url": "https://api.github.com/users/github-actions%5Bbot%5D",
    "html_url": "https://github.com/apps/github-actions",
    "type": "Bot",
    "site_admin": False,
}
DOCS = "https://docs.github.com/rest"


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class State:
    """The comments of every issue, and the request log; one lock for both."""

    def __init__(self, log_path, login):
        self.lock = threading.Lock()
        self.log_path = log_path
        self.login = login
        self.comments = {}  # (owner/repo, number) -> [comment]
        self.next_id = 1_000_000_001

    def user(self):
        if self.login is None:
            return BOT
        return {"login": self.login, "id": 583231, "type": "User", "site_admin": False}

    def comment(self, repo, number, body):
        cid = self.next_id
        self.next_id += 1
        stamp = now()
        return {
            "id": cid,
            "node_id": f"IC_kwDOFake{cid}",
            "url": f"https://api.github.com/repos/{repo}/issues/comments/{cid}",
            "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{cid}",
            "body": body,
            "user": self.user(),
            "created_at": stamp,
            "updated_at": stamp,
            "issue_url": f"https://api.github.com/repos/{repo}/issues/{number}",
            "author_association": "NONE",
            "performed_via_github_app": None,
            "reactions": {"url": f"https://api.github.com/repos/{repo}/issues/comments/{cid}/reactions",
                          "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
                          "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
        }

    def record(self, entry):
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def error(status, message, docs=DOCS):
    body = {"message": message, "documentation_url": docs}
    if status >= 400:
        body["status"] = str(status)
    return status, body, {}


def page_of(items, query, path, base):
    """GitHub's pagination: `per_page` (default 30, at most 100) and `page` (from 1), and a
    `Link` header naming the next and last pages."""
    per_page = min(max(int(query.get("per_page", ["30"])[0]), 1), 100)
    page = max(int(query.get("page", ["1"])[0]), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(page - 1) * per_page: page * per_page]
    links = []
    if page < last:
        links.append(f'<{base}{path}?per_page={per_page}&page={page + 1}>; rel="next"')
        links.append(f'<{base}{path}?per_page={per_page}&page={last}>; rel="last"')
    if page > 1:
        links.append(f'<{base}{path}?per_page={per_page}&page=1>; rel="first"')
        links.append(f'<{base}{path}?per_page={per_page}&page={page - 1}>; rel="prev"')
    headers = {"Link": ", ".join(links)} if links else {}
    return 200, chunk, headers


REPO = r"/repos/(?P<repo>[^/]+/[^/]+)"
ROUTES = []


def route(method, pattern):
    def register(handler):
        ROUTES.append((method, re.compile(f"^{pattern}$"), handler))
        return handler
    return register


@route("GET", "/user")
def get_user(state, m, query, body, base):
    if state.login is None:
        return error(403, "Resource not accessible by integration",
                     "https://docs.github.com/rest/users/users#get-the-authenticated-user")
    return 200, state.user(), {}


@route("GET", REPO + r"/issues/(?P<number>\d+)/comments")
def list_comments(state, m, query, body, base):
    items = state.comments.get((m["repo"], int(m["number"])), [])
    return page_of(items, query, m.string, base)


@route("POST", REPO + r"/issues/(?P<number>\d+)/comments")
def create_comment(state, m, query, body, base):
    if not isinstance(body, dict) or not isinstance(body.get("body"), str):
        return error(422, "Invalid request.\n\n\"body\" wasn't supplied.")
    comment = state.comment(m["repo"], int(m["number"]), body["body"])
    state.comments.setdefault((m["repo"], int(m["number"])), []).append(comment)
    return 201, comment, {"Location": comment["url"]}


@route("PATCH", REPO + r"/issues/comments/(?P<id>\d+)")
def update_comment(state, m, query, body, base):
    if not isinstance(body, dict) or not isinstance(body.get("body"), str):
        return error(422, "Invalid request.\n\n\"body\" wasn't supplied.")
    for (repo, _), comments in state.comments.items():
        for comment in comments:
            if repo == m["repo"] and comment["id"] == int(m["id"]):
                comment["body"] = body["body"]
                comment["updated_at"] = now()
                return 200, comment, {}
    return error(404, "Not Found", "https://docs.github.com/rest/issues/comments#update-an-issue-comment")


@route("GET", REPO + r"/issues/(?P<number>\d+)/events")
def list_events(state, m, query, body, base):
    return page_of([], query, m.string, base)


@route("GET", REPO + r"/actions/artifacts")
def list_artifacts(state, m, query, body, base):
    return 200, {"total_count": 0, "artifacts": []}, {}


@route("GET", REPO + r"/actions/runs/(?P<id>\d+)")
def get_run(state, m, query, body, base):
    return error(404, "Not Found", "https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run")


@route("GET", REPO + r"/actions/artifacts/(?P<id>\d+)/zip")
def download_artifact(state, m, query, body, base):
    return error(404, "Not Found", "https://docs.github.com/rest/actions/artifacts#download-an-artifact")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as api.github.com; every answer has a length

    def version_string(self):
        return "GitHub.com"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # the JSON-lines log is the record

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self):
        state = self.server.state
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        raw = self.read_body()
        slow = self.server.slow
        if slow and re.search(slow[0], url.path):
            with state.lock:
                state.record({"time": time.time(), "method": self.command, "path": url.path,
                              "pending": True})
            time.sleep(slow[1])
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        base = f"http://{self.headers.get('Host', '127.0.0.1')}"
        with state.lock:
            for method, pattern, handler in ROUTES:
                m = pattern.match(url.path)
                if m and method == self.command:
                    if not self.headers.get("Authorization"):
                        status, answer, headers = error(401, "Requires authentication")
                    else:
                        status, answer, headers = handler(state, m, query, body, base)
                    break
            else:
                status, answer, headers = error(404, "Not Found")
            state.record({
                "time": time.time(),
                "method": self.command,
                "path": url.path,
                "query": {k: v[0] if len(v) == 1 else v for k, v in query.items()},
                "authorization": bool(self.headers.get("Authorization")),
                "accept": self.headers.get("Accept"),
                "user_agent": self.headers.get("User-Agent"),
                "body": body,
                "status": status,
                "response": answer,
            })
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        self.send_header("X-RateLimit-Limit", "5000")
        self.send_header("X-RateLimit-Remaining", "4999")
        self.send_header("X-RateLimit-Reset", str(int(time.time()) + 3600))
        self.send_header("X-RateLimit-Resource", "core")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any


def serve(args):
    open(args.log, "a").close()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args.log, args.login)
    server.slow = None
    if args.slow:
        regex, _, seconds = args.slow.rpartition("=")
        server.slow = (regex, float(seconds))
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def matching(args):
    with open(args.log, encoding="utf-8") as f:
        entries = [json.loads(line) for line in f if line.strip()]
    for entry in entries[args.since:]:
        if bool(entry.get("pending")) != args.pending:
            continue
        if args.method and entry["method"] != args.method:
            continue
        if args.path and not re.search(args.path, entry["path"]):
            continue
        if args.body:
            text = entry["body"].get("body", "") if isinstance(entry["body"], dict) else str(entry["body"] or "")
            if not re.search(args.body, text, re.IGNORECASE):
                continue
        yield entry


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve")
    p.add_argument("log")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--login", default=None)
    p.add_argument("--slow", default=None)
    for name in ("count", "field"):
        p = sub.add_parser(name)
        p.add_argument("log")
        if name == "field":
            p.add_argument("field")
        p.add_argument("--since", type=int, default=0)
        p.add_argument("--method")
        p.add_argument("--path")
        p.add_argument("--body")
        p.add_argument("--pending", action="store_true")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args)
    elif args.command == "count":
        print(sum(1 for _ in matching(args)))
    else:
        found = list(matching(args))
        if not found:
            sys.exit(1)
        value = found[-1]
        for key in args.field.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        print(value if not isinstance(value, (dict, list)) else json.dumps(value))


if __name__ == "__main__":
    main()
