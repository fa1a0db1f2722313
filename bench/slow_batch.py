"""Issue 12 item 3, measured: a batch of 100 slow checks against `authz serve`.

A customer with 20,000 active partnerships; each check of a collaborator of one of its partners
runs into the Polar timeout. Before the request deadline, the batch outlived gunicorn's 30 s
worker timeout and the caller got gunicorn's HTML 500. Now the request stops at its deadline and
answers in time, in JSON, with `allowed: false`. Prints status, seconds, content type and outcome.

    .venv/bin/python -m bench.slow_batch [--port 8441] [--partnerships 20000]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.servers import _ready

CHECKS = 100


def write_world(path: Path, partnerships: int) -> None:
    orgs = [{"key": "big", "name": "Big"}] + [{"key": f"p{i}", "partner": True} for i in range(partnerships)]
    users = [{"key": f"u{i}", "email": f"u{i}@x.example"} for i in range(CHECKS)]
    members = [{"user": f"u{i}", "organization": f"p{i}", "role": "collaborator"} for i in range(CHECKS)]
    links = [{"partner": f"p{i}", "customer": "big", "access": "full", "payment_mode": "customer"}
             for i in range(partnerships)]
    path.write_text(yaml.safe_dump({"organizations": orgs, "users": users, "memberships": members,
                                    "partnerships": links}))


def authz(*args: str, env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, check=True,
                          capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8441)
    parser.add_argument("--partnerships", type=int, default=20_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/authz.db", "AUTHZ_DECISION_LOG": "off", "HOME": tmp}
        write_world(Path(tmp) / "world.yaml", options.partnerships)
        authz("init-db", env=env)
        refs = dict(line.split() for line in authz("load", "--print-ids", f"{tmp}/world.yaml", env=env).splitlines())
        # the service decides with the store's active version only: without one every check is
        # denied at once (decision_failed), and the batch would time denials, not slow checks
        print(authz("policy", "activate", env=env).strip())
        key = authz("keys", "create", "--name", "bench", "--scope", "check", env=env).splitlines()[-1]
        server = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(options.port),
                                   "--workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not _ready(options.port):
                time.sleep(0.2)
            checks = [{"actor": refs[f"u{i}"], "action": "access_account", "resource": refs["big"]}
                      for i in range(CHECKS)]
            connection = http.client.HTTPConnection("127.0.0.1", options.port, timeout=300)
            started = time.monotonic()
            connection.request("POST", "/v1/check/batch", json.dumps({"checks": checks}),
                               {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            answer = connection.getresponse()
            body = answer.read()
            print(f"status {answer.status} after {time.monotonic() - started:.1f} s, "
                  f"{answer.getheader('Content-Type')}")
            results = json.loads(body).get("results")
            if results is None:
                print(body.decode()[:300])
            else:
                late = sum("deadline" in json.dumps(result["reasons"]) for result in results)
                print(f"{len(results) - late} checks decided, {late} denied at the request deadline")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
