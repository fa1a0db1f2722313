"""The standby promoted while an instance serves from it (issue 22): it keeps answering, its decisions
stay right, and once it sees the promotion (pg_is_in_recovery() asked each second) writes work there
and its records go to its own store. The standby is made again from the primary afterwards
(.ci/start-standby), so the other standby tests find one. Skipped like them without the URLs.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from live_servers import request as http
from standby_pair import Pair, needs_pair, pair, rebuild_standby, scalar, standby_db

pytestmark = [needs_pair, pytest.mark.shares("standby pair")]  # one pair: these files never overlap
PROMOTED_SECONDS = 30


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Pair]:
    try:
        with pair(tmp_path) as both:
            yield both
    finally:
        rebuild_standby()


def test_the_standby_promoted_while_serving_keeps_answering_and_then_takes_writes(served: Pair) -> None:
    question = ("carla", "access_account", "baeckerei")
    answers: list[tuple[int, object]] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            status, answer = served.check(served.standby, *question)
            answers.append((status, answer.get("allowed")))

    asking = threading.Thread(target=ask)
    asking.start()
    try:
        time.sleep(0.3)
        assert scalar(standby_db(), "SELECT pg_promote(true, 60)") is True
        ends = time.monotonic() + PROMOTED_SECONDS
        while True:  # the instance sees the promotion within its recheck
            status, created = http(served.standby, "POST", "/v1/users", served.write_key,
                                   {"email": "after-promotion@example.com", "name": "After"})
            if status != 503:
                break
            assert created["error"]["code"] == "read_only_standby"
            assert time.monotonic() < ends, "writes still refused after the promotion"
            time.sleep(0.2)
        assert status == 201, created
        time.sleep(0.3)
    finally:
        stop.set()
        asking.join(timeout=30)
    assert answers and all(answer == (200, True) for answer in answers), [a for a in answers if a != (200, True)][:5]
    # a write on the promoted store changes its decisions, and the decision is recorded there
    d = served.demo
    status, ended = http(served.standby, "POST", f"/v1/partnerships/{d['webwerk_baeckerei'].split(':')[1]}/end",
                         served.write_key, {"acting_user": d["berta"]})
    assert status == 200, ended
    status, answer = served.check(served.standby, *question, min_revision=ended["revision"])
    assert (status, answer["allowed"]) == (200, False)
    status, found = http(served.standby, "GET", f"/v1/decisions/{answer['decision_id']}", served.check_key)
    assert status == 200, found
