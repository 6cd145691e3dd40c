#!/usr/bin/env python3
"""A stand-in for an OpenAI-compatible chat model, for the screenshots (render.sh).

Serves POST /v1/chat/completions on 127.0.0.1 in OpenAI's wire format (`choices[0].message`,
`usage.prompt_tokens`, `usage.completion_tokens`) and answers like a model that knows only what
its prompt tells it:

- the `answer` prompt: the customer's question is matched to a policy topic, and the answer is
  that topic's line of the policy in the system prompt. A topic the prompt does not mention gets
  "I'm not sure ...". So a pull request that drops policy lines from the prompt makes those cases
  fail, and one that adds a line fixes its case: real regressions, from real evalgate runs.
- the `triage` prompt (`Ticket: ...`): a queue name picked by keywords.

Answers and latencies depend on the request only, so the pictures change little from run to run
(measured latencies move by a few milliseconds).

Usage: fake_openai.py PORT_FILE [PORT]
Binds PORT (the one the suite names, so that its commits and fingerprints stay the same from run
to run), or a free port when PORT is taken, and writes the port's number to PORT_FILE.
"""

import hashlib
import json
import os
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Which policy topic a question is about: the first rule whose keyword the question contains.
TOPICS = [
    (["gift card"], "Gift cards"),
    (["wore", "worn"], "Return window"),
    (["on sale"], "Sale items"),
    (["exchange"], "Exchanges"),
    (["ship a return"], "Return shipping"),
    (["refund"], "Refund timing"),
    (["send back", "return"], "Return window"),
    (["standard delivery"], "Standard shipping"),
    (["express"], "Express shipping"),
    (["free shipping"], "Free shipping"),
    (["canada", "customs"], "International shipping"),
    (["track"], "Order tracking"),
    (["change it", "cancel"], "Order changes"),
    (["password"], "Password reset"),
    (["delete my account"], "Account deletion"),
    (["covered"], "Warranty"),
    (["cheaper"], "Price match"),
    (["paypal"], "Payment methods"),
    (["pick it up"], "Store pickup"),
]

# Ticket queues, by keyword; the first match wins.
QUEUES = [
    (["charged", "invoice", "vat"], "billing"),
    (["sign in", "reset", "profile"], "account"),
    (["send them back", "money back", "replacement"], "returns"),
    (["parcel", "tracking", "delivery"], "shipping"),
]

UNSURE = "I'm not sure about that one: please write to help@northwind.example and a colleague will answer."


def policy(system):
    """The policy lines of a system prompt: `- Topic: fact` -> {topic: fact}."""
    lines = {}
    for line in system.splitlines():
        m = re.match(r"\s*-\s*([^:]+):\s*(.+)", line)
        if m:
            lines[m.group(1).strip().lower()] = m.group(2).strip()
    return lines


def answer(system, user):
    if user.startswith("Ticket:"):
        text = user.lower()
        for words, queue in QUEUES:
            if any(w in text for w in words):
                return queue
        return "other"
    question = user.lower()
    known = policy(system)
    for words, topic in TOPICS:
        if any(w in question for w in words):
            fact = known.get(topic.lower())
            if fact is None:
                return UNSURE
            return "Happy to help! " + fact[0].upper() + fact[1:]
    return UNSURE


def tokens(text):
    return max(1, round(len(text.split()) * 4 / 3))


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.reply(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        messages = body.get("messages", [])
        system = "\n".join(m["content"] for m in messages if m.get("role") == "system")
        user = "\n".join(m["content"] for m in messages if m.get("role") == "user")
        text = answer(system, user)
        # A latency between 150 and 650 ms that depends on the request only.
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
        time.sleep(0.15 + int.from_bytes(digest[:2], "big") % 500 / 1000)
        prompt_tokens = sum(tokens(m["content"]) + 4 for m in messages)
        completion_tokens = tokens(text)
        self.reply(
            200,
            {
                "id": "chatcmpl-" + digest.hex()[:24],
                "object": "chat.completion",
                "created": 1767225600,
                "model": body.get("model", "unknown"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": 0},
                },
            },
        )

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    try:
        server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0), Handler)
    except OSError:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # Written whole, then renamed: render.sh waits for the file and must never read half of it.
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
