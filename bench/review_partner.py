"""Server time of the /review partner page on the 10,000-customer benchmark world.

    .venv/bin/python -m bench.review_partner [--runs 20] [--database-url URL]

Generates the seeded world (50 partners x 200 customers x 3 products), loads it
into a fresh SQLite file (or the given empty PostgreSQL database), signs in with
a review key and times GET /review/partners/<id> in-process (the whole Flask
request: session check, decisions, template), for HTML, JSON and CSV. The first
request of each partner warms nothing that later ones reuse across partners:
every run asks another partner's page, round-robin.
"""
from __future__ import annotations

import argparse
import statistics
import time

from .world import console_client, loaded_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="an EMPTY database (default: a temporary SQLite file)")
    args = parser.parse_args()
    with loaded_world(args.database_url, "authz-review-bench-") as loaded:
        _app, client = console_client(loaded.url)
        partner_ids = [loaded.id_of(p.org) for p in loaded.world.partners]
        for fmt in ("html", "json", "csv"):
            times, customers = [], 0
            for run in range(args.runs):
                path = f"/review/partners/{partner_ids[run % len(partner_ids)]}?format={fmt}"
                t0 = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert answer.status_code == 200, (path, answer.status_code)
                if fmt == "json":
                    customers = max(customers, len(answer.json["customers"]))
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            extra = f", up to {customers} active customers per page" if customers else ""
            print(f"partner page {fmt:<4}: median {statistics.median(times):.0f} ms, p95 {p95:.0f} ms, "
                  f"max {times[-1]:.0f} ms over {len(times)} partners{extra}")


if __name__ == "__main__":
    main()
