"""Issue 18: the active policy version (`authz policy activate`) is the one truth behind every answer.

Four real policy edits (tests/policy_edits.py, ONE_TRUTH_EDITS), each with the decision-table rows a reviewer
changes with it, are activated through activation's own validation (load, strict checks, the edited tables), all
four on the demo world and two on each other fixture world. Then every surface that says who may do what is
compared with brute force, /v1/check/batch over every (user, action, resource) of the world:

- /v1/list (every page, page sizes 2 and 1000) and /v1/subjects for every (action, resource);
- the review console's customer, partner and user pages as JSON, and the rule pages of the rules the edit
  touches (and R1): the pairs they count, and the clauses they show (those of the version in force);
- `authz impact --format json` run before the activation (gained and lost = the brute-force difference between
  the baseline's and the candidate's answers) and its `--replay-log` of the baseline's own decision log;
- /v1/list and /v1/subjects asked `at_revision` of a revision recorded before the activation, against
  /v1/check/batch asked at that revision (and that against what was answered then), for the actions whose
  answers the two versions disagree on.

Also: a store with no active version answers 503 (never a list, never a 500); a stray or an edited file on disk
changes no answer and stops no write; and the policy itself (hand-built facts) refuses an inactive partnership.
Expected 0 differences; a failure prints the first differences of each surface, and which surfaces agree.
"""
from __future__ import annotations

import json
import shutil
import sys
import types
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest
from click.testing import CliRunner
from oso import Variable

from conftest import DEMO_WORLD, ROOT
from policy_edits import EDITS, ONE_TRUTH_EDITS, copy_policies, edited_copy, one_truth_candidate
from service.analysis.candidates import activate, check_tables, load_candidate
from service.api import create_app
from service.api.auth import create_key
from service.cli import main as cli
from service.decide import facts
from service.decide.engine import POLICY_DIR, Engine
from service.decide.vocabulary import actions_for
from service.policy.rulebook import all_clauses
from service.policy.versions import active_policy
from service.store import models as m
from service.store import open_database
from service.store.schema import current_revision
from service.store.world import load_world, read_world_file

from test_api_support import Api, make_api

Triple = tuple[str, str, str]
WORLDS = {"demo": DEMO_WORLD, **{p.stem: p for p in sorted((ROOT / "tests" / "policy" / "worlds").glob("*.yaml"))}}
OTHER_WORLD_EDITS = ("r12_legal_representatives_only", "r16_partner_sees_invoices")  # both change those worlds
CASES = [("demo", name) for name in ONE_TRUTH_EDITS] + [
    (world, name) for world in WORLDS if world != "demo" for name in OTHER_WORLD_EDITS]
BATCH = 100
SHOWN = 8  # differences printed per surface
MODELS = {"organization": m.Organization, "product": m.Product, "invoice": m.Invoice,
          "invitation": m.Invitation, "partnership": m.Partnership}


def stop_the_decision_writer() -> None:
    """Write the pending decision records and stop the writer thread before anything rebinds the store: a rebind
    closes every pooled connection, and closing the SQLite connection the writer is using under it crashes the
    process (service/store/db.py open_database; the next decision starts a new writer)."""
    from service.audit.recorder import shutdown
    shutdown()


@pytest.fixture(autouse=True)
def _records_written_before_the_next_store() -> Iterator[None]:
    """These tests record thousands of decisions: the writer is stopped before the next test's store fixture
    rebinds the store."""
    yield
    stop_the_decision_writer()


# -- the world and the brute force ---------------------------------------------------------------------------


@dataclass
class World:
    users: list[str]
    resources: dict[str, list[str]]           # type -> refs, ascending id
    partners: list[int]                       # partner organization ids
    products_of: dict[str, list[str]]         # organization ref -> its product refs

    @property
    def triples(self) -> list[Triple]:
        return [(user, action, resource) for kind, refs in self.resources.items() for resource in refs
                for action in actions_for(kind) for user in self.users]


def the_world() -> World:
    resources = {kind: [f"{kind}:{row.id}" for row in model.select(model.id).order_by(model.id)]
                 for kind, model in MODELS.items()}
    products: dict[str, list[str]] = defaultdict(list)
    for row in m.Product.select(m.Product.id, m.Product.organization).order_by(m.Product.id):
        products[f"organization:{row.organization_id}"].append(f"product:{row.id}")
    return World([f"user:{row.id}" for row in m.User.select(m.User.id).order_by(m.User.id)], resources,
                 [row.id for row in m.Organization.select(m.Organization.id).where(m.Organization.is_partner)
                  .order_by(m.Organization.id)], dict(products))


def _answer(response) -> Any:
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:500])
    return response.json


def checks(api: Api, triples: list[Triple], **past: Any) -> tuple[dict[Triple, bool], set[str]]:
    """/v1/check/batch over triples, 100 a request: each triple's answer, and the policy versions named."""
    answers: dict[Triple, bool] = {}
    versions: set[str] = set()
    for start in range(0, len(triples), BATCH):
        chunk = triples[start:start + BATCH]
        body = _answer(api.post("/v1/check/batch", {"checks": [{"actor": a, "action": b, "resource": c}
                                                               for a, b, c in chunk], **past}))
        versions |= {body["policy_version"], *(r["policy_version"] for r in body["results"])}
        answers.update(zip(chunk, (r["allowed"] for r in body["results"])))
    return answers, versions


def explained(api: Api, triples: Iterable[Triple]) -> dict[Triple, list[dict[str, Any]]]:
    """Every reason of each (allowed) triple: /v1/check with explain."""
    return {t: _answer(api.post("/v1/check", {"actor": t[0], "action": t[1], "resource": t[2], "explain": True}))
            ["reasons"] for t in triples}


# -- collecting differences ------------------------------------------------------------------------------------


@dataclass
class Differences:
    found: dict[str, list[str]] = field(default_factory=dict)
    compared: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, surface: str, text: str) -> None:
        self.found.setdefault(surface, []).append(text)

    def count(self, surface: str, n: int = 1) -> None:
        self.compared[surface] += n

    def report(self) -> str:
        lines = []
        for surface, texts in self.found.items():
            lines.append(f"{surface}: {len(texts)} difference(s) in {self.compared[surface]} compared")
            lines += [f"    {text}" for text in texts[:SHOWN]]
            if len(texts) > SHOWN:
                lines.append(f"    ... and {len(texts) - SHOWN} more")
        agreeing = [s for s in self.compared if s not in self.found]
        lines.append(f"agreeing: {', '.join(f'{s} ({self.compared[s]})' for s in agreeing) or 'none'}")
        return "\n".join(lines)


def _delta(got: list[str] | set[str], expected: list[str] | set[str]) -> str:
    extra = [x for x in got if x not in set(expected)]
    missing = [x for x in expected if x not in set(got)]
    if not extra and not missing:
        return f"same refs in another order or repeated: got {list(got)}, expected {list(expected)}"
    return (f"given but denied by /v1/check: {sorted(extra)}" if extra else "") + \
           ("; " if extra and missing else "") + \
           (f"allowed by /v1/check but missing: {sorted(missing)}" if missing else "")


def _error(response) -> str:
    return f"HTTP {response.status_code}: {response.get_data(as_text=True)[:300]}"


# -- the surfaces -----------------------------------------------------------------------------------------------


def _list_all(api: Api, actor: str, action: str, kind: str, size: int, past: dict[str, Any],
              versions: set[str]) -> list[str] | str:
    ids: list[str] = []
    cursor = None
    for _ in range(10_000):
        body = {"actor": actor, "action": action, "resource_type": kind, "page_size": size, **past}
        if cursor:
            body["cursor"] = cursor
        response = api.post("/v1/list", body)
        if response.status_code != 200:
            return _error(response)
        page = response.json
        versions.add(page["policy_version"])
        if len(page["ids"]) > size:
            return f"a page of {len(page['ids'])} ids for page_size {size}"
        ids.extend(page["ids"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    return "paging did not end"


def compare_lists(api: Api, world: World, truth: dict[Triple, bool], diffs: Differences, surface: str,
                  version: str, actions: set[str] | None = None, paging: bool = True, **past: Any) -> None:
    """/v1/list of every (user, action, type) (only `actions`, if given): page size 1000 and, where there is
    something to page through and `paging`, every page of size 2."""
    versions: set[str] = set()
    for actor in world.users:
        for kind, refs in world.resources.items():
            for action in actions_for(kind):
                if actions is not None and action not in actions:
                    continue
                expected = [r for r in refs if truth[(actor, action, r)]]
                whole = _list_all(api, actor, action, kind, 1000, past, versions)
                sizes = [(1000, whole)]
                if paging and (expected or whole):
                    sizes.append((2, _list_all(api, actor, action, kind, 2, past, versions)))
                for size, got in sizes:
                    diffs.count(surface)
                    if isinstance(got, str):
                        diffs.add(surface, f"{actor} {action} {kind} page_size={size}: {got}")
                    elif got != expected:
                        diffs.add(surface, f"{actor} {action} {kind} page_size={size}: {_delta(got, expected)}")
    if versions - {version}:
        diffs.add(surface, f"answers name policy versions {sorted(versions)}, the version in force is {version}")


def compare_subjects(api: Api, world: World, truth: dict[Triple, bool], diffs: Differences, surface: str,
                     version: str, actions: set[str] | None = None, **past: Any) -> None:
    """/v1/subjects of every (action, resource) (only `actions`, if given)."""
    versions: set[str] = set()
    for kind, refs in world.resources.items():
        for resource in refs:
            for action in actions_for(kind):
                if actions is not None and action not in actions:
                    continue
                diffs.count(surface)
                response = api.post("/v1/subjects", {"action": action, "resource": resource, **past})
                if response.status_code != 200:
                    diffs.add(surface, f"{action} {resource}: {_error(response)}")
                    continue
                versions.add(response.json["policy_version"])
                got = {s["user"]: s["reasons"] for s in response.json["subjects"]}
                expected = {u for u in world.users if truth[(u, action, resource)]}
                if set(got) != expected:
                    diffs.add(surface, f"{action} {resource}: users {_delta(set(got), expected)}")
                unexplained = [u for u, reasons in got.items() if not reasons or not all("rule" in r for r in reasons)]
                if unexplained:
                    diffs.add(surface, f"{action} {resource}: subjects without reasons: {unexplained}")
    if versions - {version}:
        diffs.add(surface, f"answers name policy versions {sorted(versions)}, the version in force is {version}")


def _signed_in(api: Api) -> Api:
    _, key = create_key("one-truth reviewer", "review")
    assert api.client.post("/review/sign-in", data={"key": key}).status_code == 302
    return api


def _page(api: Api, path: str) -> dict[str, Any] | str:
    response = api.client.get(path, query_string={"format": "json"})
    return response.json if response.status_code == 200 else _error(response)


def _id(ref: str) -> int:
    return int(ref.split(":")[1])


def compare_console(api: Api, world: World, truth: dict[Triple, bool], diffs: Differences,
                    active_folder: Path, rules: Iterable[str]) -> None:
    """Every customer, partner and user page; the rule pages of `rules`."""
    allowed = [t for t, yes in truth.items() if yes]
    # the customer page: who may take each organization action on it
    for org in world.resources["organization"]:
        diffs.count("console customer page")
        body = _page(api, f"/review/customers/{_id(org)}")
        if isinstance(body, str):
            diffs.add("console customer page", f"{org}: {body}")
            continue
        # the page covers the organization, its products and its invoices (issue 21)
        covered = set(body["resources"])
        if org not in covered:
            diffs.add("console customer page", f"{org}: the organization itself is not covered")
        got = {(a["user"], a["action"], a["resource"]) for a in body["access"]}
        expected = {(u, a, r) for u, a, r in allowed if r in covered}
        if got != expected:
            diffs.add("console customer page", f"{org}: (user, action, resource) {_delta(got, expected)}")
    # the partner page: which of its users reach which managed customer and product
    for partner in world.partners:
        diffs.count("console partner page")
        body = _page(api, f"/review/partners/{partner}")
        if isinstance(body, str):
            diffs.add("console partner page", f"organization:{partner}: {body}")
            continue
        cells = {(c["user"], c["customer"]): c for c in body["matrix"]}
        expected_cells = {(u["user"], c["customer"]) for u in body["users"] for c in body["customers"]}
        if set(cells) != expected_cells:
            diffs.add("console partner page",
                      f"organization:{partner}: matrix cells {_delta(set(cells), expected_cells)}")
        for (user, customer), cell in sorted(cells.items()):
            products = world.products_of.get(customer, [])
            expected = {"access_account": truth.get((user, "access_account", customer), False),
                        "manage_product": [p for p in products if truth[(user, "manage_product", p)]],
                        "view_statistics": [p for p in products if truth[(user, "view_statistics", p)]]}
            got = {key: cell[key] for key in expected}
            if got != expected:
                diffs.add("console partner page", f"organization:{partner} cell {user} x {customer}: "
                                                  f"shows {got}, /v1/check says {expected}")
    # the user page: everything the user may do
    for user in world.users:
        diffs.count("console user page")
        body = _page(api, f"/review/users/{_id(user)}")
        if isinstance(body, str):
            diffs.add("console user page", f"{user}: {body}")
            continue
        got = {(m_["action"], m_["resource"]) for m_ in body["may"]}
        expected = {(a, r) for u, a, r in allowed if u == user}
        if got != expected:
            diffs.add("console user page", f"{user}: (action, resource) {_delta(got, expected)}")
    # the rule page: the pairs allowed with the rule as a reason, and the clauses of the version in force
    reasons = explained(api, allowed)
    active_clauses = all_clauses(active_folder)
    for rule in rules:
        diffs.count("console rule page")
        body = _page(api, f"/review/rules/{rule}")
        if isinstance(body, str):
            diffs.add("console rule page", f"{rule}: {body}")
            continue
        pairs = {(u, r) for (u, _a, r), found in reasons.items() if any(x.get("rule") == rule for x in found)}
        if body["granted_pairs"] != len(pairs):
            diffs.add("console rule page", f"{rule}: granted_pairs {body['granted_pairs']}, /v1/check (explain) "
                                           f"allows {len(pairs)} (user, resource) pairs with {rule} as a reason")
        shown = sorted(c["source"] for c in body["clauses"])
        in_force = sorted(c.source for c in active_clauses if rule in c.rules)
        if shown != in_force:
            diffs.add("console rule page", f"{rule}: clauses shown are not those of the version in force: "
                                           f"shown only {_short(set(shown) - set(in_force))}, "
                                           f"in force only {_short(set(in_force) - set(shown))}")


def _short(sources: set[str]) -> list[str]:
    return [" ".join(s.split())[:160] for s in sorted(sources)]


def run_impact(monkeypatch: pytest.MonkeyPatch, store_url: str, folder: Path, *extra: str) -> tuple[Any, Any]:
    monkeypatch.setenv("DATABASE_URL", store_url)
    stop_the_decision_writer()
    result = CliRunner().invoke(cli, ["impact", "--policies", str(folder), "--format", "json", *extra])
    open_database(store_url, pooled=True)  # the command bound the store its own way: bind it as the app does
    answer = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    return result, answer


def compare_impact(result: Any, answer: Any, baseline: dict[Triple, bool], candidate: dict[Triple, bool],
                   candidate_version: str, diffs: Differences) -> None:
    surface = "authz impact"
    diffs.count(surface)
    if answer is None:
        diffs.add(surface, f"no JSON answer (exit {result.exit_code}): {result.output[:300]}")
        return
    gained = {t for t in baseline if candidate[t] and not baseline[t]}
    lost = {t for t in baseline if baseline[t] and not candidate[t]}
    got_gained = {(c["actor"], c["action"], c["resource"]) for c in answer["gained"]}
    got_lost = {(c["actor"], c["action"], c["resource"]) for c in answer["lost"]}
    for name, got, expected in (("gained", got_gained, gained), ("lost", got_lost, lost)):
        diffs.count(surface)
        if got != expected:
            diffs.add(surface, f"{name}: {_delta(sorted(got), sorted(expected))}")
    if answer["candidate"] != candidate_version:
        diffs.add(surface, f"compared candidate {answer['candidate']}, activated {candidate_version}")
    if result.exit_code != (1 if gained or lost else 0):
        diffs.add(surface, f"exit {result.exit_code} with {len(gained)} gained and {len(lost)} lost")
    replay = answer.get("replay")
    diffs.count("authz impact --replay-log")
    if replay is None:
        diffs.add("authz impact --replay-log", "no replay in the answer")
        return
    flipped = {(f["actor"], f["action"], f["resource"]): f for f in replay["flipped"]}
    if set(flipped) != gained | lost:
        diffs.add("authz impact --replay-log", f"flipped {_delta(sorted(flipped), sorted(gained | lost))}")
    for t, flip in sorted(flipped.items()):
        if t in baseline and (flip["logged"], flip["candidate"], flip["active_now"]) != \
                (baseline[t], candidate[t], baseline[t]):
            diffs.add("authz impact --replay-log", f"{t}: logged/candidate/active_now "
                      f"{flip['logged']}/{flip['candidate']}/{flip['active_now']}, expected "
                      f"{baseline[t]}/{candidate[t]}/{baseline[t]}")


# -- each edit activated, on each fixture world ------------------------------------------------------------------


_TABLES_PASSED: set[str] = set()


def activate_candidate(store_url: str, folder: Path, tables: Path) -> str:
    """The real activation path of `authz policy activate` (load, strict checks, the decision tables of
    `tables`, then record), as the command does it but with the edited tables; the version activated."""
    files, engine = load_candidate(folder)
    stop_the_decision_writer()
    check_tables(engine, tables)  # PolicyError (the test fails) if the edited tables do not pass
    open_database(store_url, pooled=True)  # check_tables rebinds the store: bind it again as the app does
    stored, recorded = activate(files, "test_one_truth")
    assert recorded and active_policy().version == stored.version
    return stored.version


@pytest.mark.parametrize(("world_name", "edit"), CASES, ids=[f"{w}-{e}" for w, e in CASES])
def test_every_surface_agrees_with_check_after_an_activated_edit(
        world_name: str, edit: str, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_world(read_world_file(WORLDS[world_name]))
    api = _signed_in(make_api(store_url, tmp_path))  # policies/ active, as `make run` leaves it
    world = the_world()
    triples = world.triples
    baseline_version = active_policy().version
    diffs = Differences()

    # before: the baseline's answers (they fill the decision log replayed below), and the revision they answer at
    baseline, _ = checks(api, triples)
    before = current_revision()
    log = tmp_path / "baseline-decisions.log"
    shutil.copyfile(api.log_path, log)

    folder, tables = one_truth_candidate(tmp_path, edit)
    impact_result, impact = run_impact(monkeypatch, store_url, folder, "--replay-log", str(log))
    version = activate_candidate(store_url, folder, tables)
    assert version != baseline_version

    # after: brute force under the version just activated
    candidate, versions = checks(api, triples)
    assert versions == {version}, f"/v1/check/batch answered with {versions}, not the active {version}"
    assert candidate != baseline, f"{edit} changes no answer on the {world_name} world: a test of nothing"

    compare_impact(impact_result, impact, baseline, candidate, version, diffs)
    compare_lists(api, world, candidate, diffs, "/v1/list", version)
    compare_subjects(api, world, candidate, diffs, "/v1/subjects", version)
    compare_console(api, world, candidate, diffs, folder, sorted({*ONE_TRUTH_EDITS[edit].rules, "R1"}))

    # a past revision, recorded before the activation, is answered with the older version: asked for the
    # actions whose answers the two versions disagree on (elsewhere either version gives the same answers)
    past = {"at_revision": before}
    changed_actions = {t[1] for t in triples if baseline[t] != candidate[t]}
    past_triples = [t for t in triples if t[1] in changed_actions]
    then, past_versions = checks(api, past_triples, **past)
    diffs.count("/v1/check/batch at_revision", len(past_triples))
    if past_versions != {baseline_version}:
        diffs.add("/v1/check/batch at_revision", f"answers name {sorted(past_versions)}, in force then: "
                                                 f"{baseline_version}")
    for t in past_triples:
        if then[t] != baseline[t]:
            diffs.add("/v1/check/batch at_revision", f"{' '.join(t)}: {then[t]} at_revision {before}, "
                                                     f"{baseline[t]} when asked at revision {before}")
    compare_lists(api, world, then, diffs, "/v1/list at_revision", baseline_version, changed_actions,
                  paging=False, **past)
    compare_subjects(api, world, then, diffs, "/v1/subjects at_revision", baseline_version, changed_actions,
                     **past)

    assert not diffs.found, f"{edit} activated on the {world_name} world:\n{diffs.report()}"


# -- no active policy: 503, never a list -------------------------------------------------------------------------


def _app_without_policy(store_url: str, tmp_path: Path) -> Api:
    app = create_app({"DATABASE_URL": store_url, "DECISION_LOG": str(tmp_path / "decisions.log")})
    _, check_key = create_key("test-check", "check")
    _, write_key = create_key("test-write", "write")
    return Api(app, app.test_client(), check_key, write_key, tmp_path / "decisions.log")


def test_without_an_active_policy_lists_subjects_and_actions_answer_503(store_url: str, tmp_path: Path) -> None:
    refs = load_world(read_world_file(DEMO_WORLD))  # nothing activated
    api = _app_without_policy(store_url, tmp_path)
    assert active_policy() is None
    asked = {
        "/v1/list": ({"actor": refs["anna"], "action": "access_account", "resource_type": "organization"}, "ids"),
        "/v1/subjects": ({"action": "access_account", "resource": refs["baeckerei"]}, "subjects"),
        "/v1/actions": ({"actor": refs["anna"], "resource": refs["baeckerei"]}, "actions"),
    }
    wrong = []
    for path, (body, listing) in asked.items():
        answer = api.post(path, body)
        error = (answer.json or {}).get("error", {}) if answer.is_json else {}
        if not (answer.status_code == 503 and answer.is_json and error.get("code") == "policy_unavailable"
                and "no active policy" in error.get("message", "").lower()
                and answer.json.get("allowed") is False and listing not in answer.json):
            wrong.append(f"{path}: HTTP {answer.status_code} {answer.get_data(as_text=True)[:300]}")
    assert not wrong, ("with no active policy each must answer 503 {error: {code: policy_unavailable, "
                       "message naming 'no active policy'}, allowed: false} and no list:\n" + "\n".join(wrong))


def test_without_an_active_policy_every_console_page_is_an_html_503(store_url: str, tmp_path: Path) -> None:
    refs = load_world(read_world_file(DEMO_WORLD))  # nothing activated
    api = _signed_in(_app_without_policy(store_url, tmp_path))
    pages = [f"/review/customers/{_id(refs['baeckerei'])}", f"/review/partners/{_id(refs['webwerk'])}",
             f"/review/users/{_id(refs['carla'])}", "/review/rules/R13"]
    wrong = []
    for path in pages:
        page = api.client.get(path)
        text = page.get_data(as_text=True)
        if not (page.status_code == 503 and page.mimetype == "text/html" and "<html" in text
                and "no active policy" in text.lower()):
            wrong.append(f"{path}: HTTP {page.status_code} {page.mimetype} {' '.join(text.split())[:200]}")
        as_json = api.client.get(path, query_string={"format": "json"})
        if as_json.status_code != 503:
            wrong.append(f"{path}?format=json: HTTP {as_json.status_code} {as_json.get_data(as_text=True)[:200]}")
    assert not wrong, ("with no active policy each console page must answer an HTML error page with status 503 "
                       "naming the reason (no data, no 500, no raw JSON):\n" + "\n".join(wrong))


# -- files on disk are not the truth -----------------------------------------------------------------------------


def _point_the_service_at(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Every name of the service that holds policies/ (module globals, default arguments) now holds `folder`,
    and the audit's once-per-process reading of the files on disk is forgotten (so it is read again)."""
    original = POLICY_DIR

    def patch_defaults(function: Any) -> None:
        if isinstance(function, types.FunctionType) and function.__defaults__ and original in function.__defaults__:
            monkeypatch.setattr(function, "__defaults__",
                                tuple(folder if d == original else d for d in function.__defaults__))

    for name, module in list(sys.modules.items()):
        if not (name == "service" or name.startswith("service.")) or module is None:
            continue
        if getattr(module, "POLICY_DIR", None) == original:
            monkeypatch.setattr(module, "POLICY_DIR", folder)
        for value in list(vars(module).values()):
            patch_defaults(value)
            if isinstance(value, type) and value.__module__ == name:
                for member in vars(value).values():
                    patch_defaults(member)
    monkeypatch.setattr("service.audit.policies._in_force", None, raising=False)


def test_a_stray_policy_file_on_disk_stops_no_write(demo, store_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api(store_url, tmp_path)
    stray = copy_policies(tmp_path / "policies")
    shutil.copyfile(stray / "customers.polar", stray / "customers.bak.polar")  # a forgotten backup
    _point_the_service_at(monkeypatch, stray)
    revision = _answer(api.post("/v1/check", {"actor": demo["anna"], "action": "add_customer",
                                              "resource": demo["webwerk"]}))["revision"]

    wrong = []
    created = api.write("POST", "/v1/organizations", {"name": "Neu GmbH", "partner": False})
    if created.status_code != 201 or created.json["revision"] <= revision:
        wrong.append(f"a fact write (POST /v1/organizations): {_error(created)}")

    row, _ = create_key("to-revoke", "check")
    monkeypatch.setenv("DATABASE_URL", store_url)
    stop_the_decision_writer()
    revoked = CliRunner().invoke(cli, ["keys", "revoke", str(row.id)])
    open_database(store_url, pooled=True)
    if revoked.exit_code != 0:
        wrong.append(f"`authz keys revoke {row.id}`: exit {revoked.exit_code}: {revoked.output.strip()[:300]} "
                     f"{revoked.exception!r}")
    after = api.post("/v1/check", {"actor": demo["anna"], "action": "add_customer", "resource": demo["webwerk"]})
    if not (after.status_code == 200 and after.json["allowed"] and after.json["revision"] > revision):
        wrong.append(f"the next check: {_error(after)}")
    assert not wrong, "a stray customers.bak.polar on disk (never activated) must stop no write:\n" + "\n".join(wrong)


DISK_EDIT_RULES = ("R1", "R13", "R14", "R15", "R16")  # the rules the edit on disk below touches, and R1


def _every_answer(api: Api, world: World) -> dict[str, Any]:
    """What the API and the console answer about the world (ids of decisions and times left out)."""
    truth, versions = checks(api, world.triples)
    answers: dict[str, Any] = {"checks": truth, "versions": versions}
    for actor in world.users:
        for kind in world.resources:
            for action in actions_for(kind):
                answers[f"list {actor} {action} {kind}"] = _answer(api.post("/v1/list", {
                    "actor": actor, "action": action, "resource_type": kind, "page_size": 1000}))["ids"]
    for kind, refs in world.resources.items():
        for resource in refs:
            for action in actions_for(kind):
                answers[f"subjects {action} {resource}"] = _answer(api.post(
                    "/v1/subjects", {"action": action, "resource": resource}))["subjects"]
    pages = ([f"/review/customers/{_id(o)}" for o in world.resources["organization"]]
             + [f"/review/partners/{p}" for p in world.partners]
             + [f"/review/users/{_id(u)}" for u in world.users] + [f"/review/rules/{r}" for r in DISK_EDIT_RULES])
    for path in pages:
        answers[path] = _page(api, path)
    return answers


def test_an_edited_policy_file_on_disk_changes_no_answer(demo, store_url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    api = _signed_in(make_api(store_url, tmp_path))
    world = the_world()
    before = _every_answer(api, world)
    edited = edited_copy(tmp_path / "policies", *EDITS["r13_all_collaborators"])  # edited, never activated
    with open(edited / "billing.polar", "a", encoding="utf-8") as fh:
        fh.write(EDITS["r16_partner_sees_invoices"][2])
    _point_the_service_at(monkeypatch, edited)
    answers = {"the same worker": _every_answer(api, world)}
    app = create_app({"DATABASE_URL": store_url, "DECISION_LOG": "off"})  # another worker, started now
    worker = _signed_in(Api(app, app.test_client(), api.check_key, api.write_key, api.log_path))
    answers["a worker started after the edit"] = _every_answer(worker, world)
    wrong = []
    for who, after in answers.items():
        for key in before:
            if after[key] != before[key]:
                wrong.append(f"{who}: {key}: {_diff_text(before[key], after[key])}")
    assert not wrong, (f"an edited file on disk (not activated) changed {len(wrong)} answers, e.g.:\n"
                       + "\n".join(wrong[:SHOWN]))


def _diff_text(before: Any, after: Any) -> str:
    """What changed, readably: the keys of a page that differ, and for a list the items gone and the new ones."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted((k for k in before.keys() | after.keys() if before.get(k) != after.get(k)), key=str)
        return "; ".join(f"{k}: {_diff_text(before.get(k), after.get(k))}" for k in keys[:3])
    if isinstance(before, list) and isinstance(after, list):
        gone = [_brief(x) for x in before if x not in after]
        new = [_brief(x) for x in after if x not in before]
        return f"before only {gone[:3]}, now only {new[:3]}" if gone or new else "the same items in another order"
    return f"{_brief(before)} -> {_brief(after)}"


def _brief(value: Any) -> str:
    if isinstance(value, dict) and "source" in value:  # a rule page's clause: its text says what changed
        value = value["source"]
    return " ".join(str(value).split())[:200]


# -- the policy itself: an inactive partnership term reaches nothing ---------------------------------------------


PARTNER, CUSTOMER, PARTNERSHIP, PRODUCT = 10, 20, 30, 40


@pytest.fixture(scope="module")
def repo_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """An engine of policies/ as its manifest names it, without memo or cache: the rules themselves answer."""
    return Engine(copy_policies(tmp_path_factory.mktemp("repo") / "policies"), cache_size=0, pattern_memo_size=0,
                  shape_table=False)


def _term(active: bool, access: str, technical: bool = True, statistical: bool = True) -> dict[str, Any]:
    return facts.Partnership(PARTNERSHIP, PARTNER, CUSTOMER, "active" if active else "ended", access, "customer") \
        .as_term(technical, statistical)


def _member(role: str) -> facts.User:
    return facts.User(1, {PARTNER: role}, frozenset(), frozenset(), frozenset({(PARTNER, CUSTOMER)}))


@pytest.mark.parametrize("role", ["legal_representative", "administrator", "collaborator"])
@pytest.mark.parametrize("access", ["full", "limited"])
def test_an_inactive_partnership_term_reaches_no_account_and_no_product(repo_engine: Engine, role: str,
                                                                        access: str) -> None:
    """The policy, not only the loader, refuses a partnership that is not active (hand-built facts)."""
    engine = repo_engine
    user = _member(role)
    for active in (True, False):
        customer = facts.Organization(CUSTOMER, False, [_term(active, access)])
        product = facts.Product(PRODUCT, customer)
        answers = {action: engine.reasons(user, action, subject, explain=True)
                   for action, subject in (("access_account", customer), ("manage_product", product),
                                           ("view_statistics", product))}
        reach = list(engine.oso.query_rule("reaches", user, _term(active, access), Variable("reach")))
        if active:  # the control: the same facts with an active term are allowed
            assert all(answers.values()) and reach, (role, access, answers)
        else:
            assert answers == {a: [] for a in answers} and reach == [], (role, access, answers, reach)


def test_an_ended_partnership_is_not_reviewed_changed_or_ended_by_the_partner(repo_engine: Engine) -> None:
    engine = repo_engine
    user = facts.User(1, {PARTNER: "legal_representative"})
    customer_rep = facts.User(2, {CUSTOMER: "legal_representative"})
    for status, allowed in (("active", True), ("ended", False)):
        p = facts.Partnership(PARTNERSHIP, PARTNER, CUSTOMER, status, "full", "customer")
        assert bool(engine.reasons(user, "review", p)) is allowed
        assert bool(engine.reasons(user, "end", p)) is allowed
        assert bool(engine.reasons(customer_rep, "change_access", p)) is allowed
