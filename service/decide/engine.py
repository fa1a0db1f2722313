"""The decision engine of one policy version: a strictly loaded Oso instance behind decide().

Nothing outside service/decide imports oso. Every decision, from HTTP, a
workflow or the CLI, goes through Engine.decide(); any exception while
deciding is a deny plus a logged error (fail closed).
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from oso import Oso, Variable
from polar.exceptions import PolarRuntimeError

from service.store.db import read_snapshot
from service.store.outage import reraise_outage
from service.store.schema import revision_stamp

from service.decide import facts
from service.decide.patterns import PatternMemo, Renaming, policy_is_id_blind, rows_key
from service.decide.checks import PolicyError, check_files, manifest_files, version_of
from service.decide.refs import Ref, RefError, parse_ref
from service.decide.shapes import common_shapes
from service.decide.vocabulary import is_known
from service.decide.whynot import explain_denial

log = logging.getLogger("authz.engine")

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
POLAR_TIMEOUT_MS = "1000"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reasons: list[dict[str, Any]]
    policy_version: str
    revision: int
    error: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reasons": self.reasons,
                "policy_version": self.policy_version, "revision": self.revision}


def _is_timeout(exc: PolarRuntimeError) -> bool:
    """Polar's own error for a query past POLAR_TIMEOUT_MS (it has no class of its own)."""
    return str(exc).startswith("Query timeout")


def policy_files(policy_dir: Path = POLICY_DIR) -> list[Path]:
    """The files the folder's manifest names; a stray .polar file is an error (policy_checks.py)."""
    return manifest_files(policy_dir)



def build_oso(files: list[Path]) -> Oso:
    """Load every policy file at once; warnings are errors (a misspelled class is only a warning in oso)."""
    if not files:
        raise PolicyError("no .polar files found")
    os.environ.setdefault("POLAR_TIMEOUT_MS", POLAR_TIMEOUT_MS)
    oso = Oso()
    for cls in facts.POLICY_CLASSES:
        oso.register_class(cls)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            oso.load_files([str(f) for f in files])
    except Exception as exc:  # oso raises several error types for parse and validation failures
        raise PolicyError(str(exc)) from exc
    if printed.getvalue().strip():
        raise PolicyError("policy loaded with warnings:\n" + printed.getvalue().strip())
    return oso


# why a check of a batch that ran out of time is denied
deadline_reasons = ({"rule": "R20", "denied": "request deadline exceeded: not decided, denied"},)


def _deny(reason: str, **details: Any) -> list[dict[str, Any]]:
    return [{"rule": "R20", "denied": reason, **details}]


class DecisionCache:
    """Decisions of one store state; exact because every write bumps the revision.

    Entries are keyed by the store's (epoch, revision) stamp as well as by the
    question, so an entry computed from an older state can never answer a lookup
    made at a newer one, even when threads race; a new stamp also drops the old
    entries. Invitations are not cached: they expire with time, not with a write.
    """

    UNCACHEABLE = ("invitation:",)

    def __init__(self, size: int) -> None:
        self.size = size
        self.stamp: tuple[str, int] = ("", -1)
        self.entries: dict[tuple[tuple[str, int], str, str, str], Decision] = {}

    def get(self, stamp: tuple[str, int], key: tuple[str, str, str]) -> Decision | None:
        if stamp != self.stamp:
            self._move_to(stamp)
            return None
        return self.entries.get((stamp, *key))

    def holds(self, key: tuple[str, str, str]) -> bool:
        """Whether an answer to this question is kept (for the latest stamp this cache has seen)."""
        return (self.stamp, *key) in self.entries

    def put(self, stamp: tuple[str, int], key: tuple[str, str, str], decision: Decision) -> None:
        if self.size <= 0 or decision.error or key[2].startswith(self.UNCACHEABLE):
            return
        if stamp != self.stamp and not self._move_to(stamp):
            return  # made at an older state than the latest seen: it could never be served
        if len(self.entries) >= self.size:
            self.entries = {}  # cheaper than LRU bookkeeping on the hot path; refills in one revision
        self.entries[(stamp, *key)] = decision

    def _move_to(self, stamp: tuple[str, int]) -> bool:
        """Keep entries for `stamp` from now on, unless it is older than the latest stamp seen (the same
        store at a lower revision: a thread that read its stamp before another's write); whether it moved."""
        if stamp[0] == self.stamp[0] and stamp[1] < self.stamp[1]:
            return False
        self.stamp, self.entries = stamp, {}
        return True


class Engine:
    """The rules of policies/*.polar, loaded once per process."""

    def __init__(self, policy_dir: Path = POLICY_DIR, cache_size: int | None = None,
                 pattern_memo_size: int | None = None, shape_table: bool | None = None) -> None:
        self.files = policy_files(policy_dir)
        check_files(self.files)  # strict checks on every load (policy_checks.py)
        self.oso = build_oso(self.files)
        # one query on this Oso at a time: threaded workers (gthread) share the process's engine, and
        # oso 0.27 does not promise that concurrent queries on one instance are safe
        self.oso_lock = threading.RLock()
        if cache_size is None:
            cache_size = int(os.environ.get("AUTHZ_DECISION_CACHE_SIZE", "10000"))
        self.cache = DecisionCache(cache_size)
        # answers derived from this version and kept per store state (service/queries/stranger.py)
        self.derived: dict[Any, Any] = {}
        if pattern_memo_size is None:
            pattern_memo_size = int(os.environ.get("AUTHZ_PATTERN_MEMO_SIZE", "20000"))
        # only a policy that compares ids for equality alone may be memoized on renamed facts
        # the texts this engine decides with (its folder may be a temporary one, gone once loaded)
        self.texts: dict[str, str] = {path.name: path.read_text(encoding="utf-8") for path in self.files}
        self.policy_version = version_of(self.texts)
        id_blind = policy_is_id_blind(list(self.texts.values()))
        self.id_blind = id_blind
        self.patterns = PatternMemo(pattern_memo_size) if pattern_memo_size > 0 and id_blind else None
        if shape_table is None:
            shape_table = os.environ.get("AUTHZ_SHAPE_TABLE", "0") == "1"
        if shape_table and self.patterns is not None:
            self._learn_common_shapes()

    def _learn_common_shapes(self) -> None:
        """Evaluate the policy on the common fact shapes now, so that first requests need not (shapes.py)."""
        started = time.perf_counter()
        size, left = self.patterns.learn(common_shapes(), self._shape_reasons)  # type: ignore[union-attr]
        log.info("shape table: %d answers computed in %.2f s", size, time.perf_counter() - started)
        if left:
            log.warning("shape table: %d shapes ran out of time twice; their first requests evaluate them", left)

    def _shape_reasons(self, user: Any, action: str, subject: Any, explain: bool) -> list[dict[str, Any]] | None:
        """A shape's reasons; None when its query ran out of POLAR_TIMEOUT_MS twice. The table is only a
        head start: a starved machine must not fail the build of a version, and a request that needs the
        shape evaluates it under the same timeout."""
        try:
            return self._reasons_retried(user, action, subject, explain)
        except PolarRuntimeError as exc:
            if not _is_timeout(exc):
                raise
            return None

    def _reasons_retried(self, user: Any, action: str, subject: Any, explain: bool) -> list[dict[str, Any]]:
        """_reasons, asked once more if its query ran out of POLAR_TIMEOUT_MS: for answers made of many
        queries (a list, a shape table, an impact), which one query starved by a loaded machine must not
        fail whole (CI saw a query of 0.4 ms run 1.5 s). A query out of time twice raises. A single
        decision is not retried: it denies at once (decide), its latency bounded by one timeout."""
        try:
            return self._reasons(user, action, subject, explain)
        except PolarRuntimeError as exc:
            if not _is_timeout(exc):
                raise
            log.warning("a policy query ran out of POLAR_TIMEOUT_MS; asked once more (%s on %s)", action,
                        type(subject).__name__)
        return self._reasons(user, action, subject, explain)

    # -- loading facts -------------------------------------------------------

    def _load(self, actor: str, resource: str, read: facts.QuestionFacts | None = None
              ) -> tuple[facts.Question, Ref | None, list[dict[str, Any]]]:
        """The question's facts with the store stamp they were read at (one statement, or `read`: a
        batch's), the resource's reference, and a deny reason naming what is invalid or unknown
        ([] when both are known)."""
        try:
            actor_ref = parse_ref(actor, expected="user")
        except RefError as exc:
            return facts.Question(revision_stamp()), None, _deny("invalid actor", detail=str(exc))
        try:
            resource_ref = parse_ref(resource)
        except RefError as exc:
            return facts.Question(revision_stamp()), None, _deny("invalid resource", detail=str(exc))
        question = (read.question(actor_ref.id, resource_ref) if read is not None
                    else facts.load_question(actor_ref.id, resource_ref))
        if not question.has_resource:
            return question, resource_ref, _deny("unknown resource", resource=resource)
        if not question.has_user:
            return question, resource_ref, _deny("unknown actor", actor=actor)
        return question, resource_ref, []

    def _reasons(self, user: Any, action: str, subject: Any, explain: bool) -> list[dict[str, Any]]:
        """The reasons the policy gives for an allow: the first one, or all with `explain`; [] = deny."""
        reasons = []
        with self.oso_lock:
            for result in self.oso.query_rule("grant", user, action, subject, Variable("why")):
                reasons.append(result["bindings"]["why"])
                if not explain:
                    break
        return reasons

    def reasons(self, user: Any, action: str, subject: Any, explain: bool = False) -> list[dict[str, Any]]:
        """The policy's reasons on facts already loaded ([] = deny); for whole-store analyses (impact.py)."""
        return self._evaluate(user, action, subject, explain, self._reasons_retried)

    def _evaluate(self, user: Any, action: str, subject: Any, explain: bool,
                  ask: Callable[[Any, str, Any, bool], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        if self.patterns is not None:
            return self.patterns.evaluate(user, action, subject, explain, ask)
        return ask(user, action, subject, explain)

    # -- the public interface -------------------------------------------------

    def decide(self, actor: str, action: str, resource: str, *, explain: bool = False,
               why_not: bool = False, stamp: tuple[str, int] | None = None) -> Decision:
        """May `actor` take `action` on `resource`? Denies on anything unknown or any error.

        `why_not`: a deny lists what each rule that could have allowed it lacks (whynot.py).
        `stamp`: the store's revision stamp, if the caller has just read it (saves reading it again)."""
        revision = -1
        explain = explain or why_not
        try:
            if not explain:
                stamp = stamp or revision_stamp()
                revision = stamp[1]
                cached = self.cache.get(stamp, (actor, action, resource))
                if cached is not None:
                    return cached  # computed from this very store state (see _decide_fresh)
            if why_not:  # explaining a deny reads more facts (whynot.py): all of them from one state
                with read_snapshot():
                    return self._decide_fresh(actor, action, resource, explain, why_not)
            return self._decide_fresh(actor, action, resource, explain, why_not)
        except Exception as exc:
            reraise_outage(exc)  # the store is down: the API answers 503 store_unavailable (a deny)
            return self._failed(actor, action, resource, revision)

    def decide_many(self, checks: list[tuple[str, str, str]],
                    past_deadline: Callable[[], bool] = lambda: False) -> list[Decision]:
        """Decide every (actor, action, resource) of a batch on one snapshot of the store, the facts of
        the checks not in the cache read in one statement; once past_deadline() is true, the rest are
        denied undecided with `deadline_reasons`. An error denies only the check it concerns."""
        revision = -1
        try:
            with read_snapshot():
                stamp = revision_stamp()
                revision = stamp[1]
                decided: list[Decision | None] = [self.cache.get(stamp, check) for check in checks]
                loader = self._batch_loader([check for check, done in zip(checks, decided) if done is None])
                return [done if done is not None
                        else Decision(False, list(deadline_reasons), self.policy_version, revision) if past_deadline()
                        else self._decide_fresh(*check, False, loader=loader)
                        for check, done in zip(checks, decided)]
        except Exception as exc:
            reraise_outage(exc)
            return [self._failed(*check, revision) for check in checks]

    def _batch_loader(self, checks: list[tuple[str, str, str]]) -> Callable[[str, str], Any]:
        """_load for the checks of a batch, their facts read in one statement; if that statement fails,
        each check reads its own (so that only the checks whose facts cannot be read are denied)."""
        wanted = []
        for actor, _action, resource in checks:
            try:
                wanted.append((parse_ref(actor, expected="user").id, parse_ref(resource)))
            except RefError:
                continue  # _load denies it, naming what is invalid
        try:
            facts_read = facts.load_questions(wanted) if wanted else None
        except Exception as exc:
            reraise_outage(exc)
            log.exception("reading a batch's facts failed; each check reads its own")
            return self._load

        def load(actor: str, resource: str) -> Any:
            return self._load(actor, resource, facts_read)
        return load

    def decide_new(self, actor: str, action: str, resource: str) -> tuple[Decision, str | None] | None:
        """A question this engine's cache holds no answer to, at any revision, decided without first
        reading the stamp (the cache could not have answered it): the decision and the policy version
        active in the state its facts were read at. None: the cache may hold it (ask decide())."""
        if self.cache.holds((actor, action, resource)):
            return None
        decision, question = self._decide_read(actor, action, resource, False)
        return decision, question.active_version if question is not None else None

    def _decide_fresh(self, actor: str, action: str, resource: str, explain: bool,
                      why_not: bool = False, loader: Callable[[str, str], Any] | None = None) -> Decision:
        return self._decide_read(actor, action, resource, explain, why_not, loader)[0]

    def _decide_read(self, actor: str, action: str, resource: str, explain: bool, why_not: bool = False,
                     loader: Callable[[str, str], Any] | None = None) -> tuple[Decision, facts.Question | None]:
        """Decide on facts read now, and the question read. Their statement also reads the store's
        stamp, so the decision names exactly the state it was made on, and is cached under that state
        only (a write committed since the caller's cache lookup moves the stamp on: the entry is never
        served at a state it was not computed from). An error denies this one decision."""
        question = None
        try:
            question, ref, denial = (loader or self._load)(actor, resource)
            decision = self._decide(question, ref, denial, actor, action, resource, explain)
            if why_not and not decision.allowed:
                decision = self._explain_denial(decision, question, ref, denial, actor, action, resource)
        except Exception as exc:
            reraise_outage(exc)
            return self._failed(actor, action, resource, question.stamp[1] if question else -1), question
        if not explain:
            self.cache.put(question.stamp, (actor, action, resource), decision)
        return decision, question

    def _failed(self, actor: Any, action: Any, resource: Any, revision: int) -> Decision:
        log.exception("decision failed (denied): actor=%r action=%r resource=%r", actor, action, resource)
        return Decision(False, _deny("internal error while deciding"), self.policy_version, revision, error=True)

    def _decide(self, question: facts.Question, ref: Ref | None, denial: list[dict[str, Any]], actor: str,
                action: str, resource: str, explain: bool) -> Decision:
        revision = question.stamp[1]
        if denial:
            return Decision(False, denial, self.policy_version, revision)
        if not isinstance(action, str) or not is_known(ref.type, action):  # type: ignore[union-attr]
            return Decision(False, _deny("unknown action", action=action, resource_type=ref.type),  # type: ignore[union-attr]
                            self.policy_version, revision)
        reasons = self._memo_answer(question, action, explain)
        if reasons is None:  # the fact objects are built only here; a single decision is not retried
            reasons = self._evaluate(question.user, action, question.resource, explain, self._reasons)
        if reasons:
            return Decision(True, reasons, self.policy_version, revision)
        return Decision(False, _deny("no rule allows this", actor=actor, action=action, resource=resource),
                        self.policy_version, revision)

    def reasons_for(self, question: facts.Question, action: str, explain: bool = False) -> list[dict[str, Any]]:
        """The policy's reasons on facts already read ([] = deny; an unknown action or a question whose
        actor or resource is not in the store is denied); for answers that confirm many candidates on
        one statement's facts (service/queries). Raises on an error: the caller fails the whole answer."""
        if question.ref is None or not is_known(question.ref.type, action):
            return []
        reasons = self._memo_answer(question, action, explain)
        if reasons is None:
            user, resource = question.user, question.resource
            if user is None or resource is None:
                return []
            reasons = self.reasons(user, action, resource, explain)
        return reasons

    def allows(self, question: facts.Question, action: str) -> bool:
        """Whether the policy allows `action` on a question's facts (reasons_for without restoring
        the reasons' ids when the memo holds the answer)."""
        if self.patterns is not None and question.ref is not None and is_known(question.ref.type, action):
            keys = rows_key(question, Renaming())
            if keys is not None:
                held = self.patterns.verdict((action, False, *keys))
                if held is not None:
                    return held
        return bool(self.reasons_for(question, action))

    def _memo_answer(self, question: facts.Question, action: str, explain: bool) -> list[dict[str, Any]] | None:
        """The pattern memo's answer, found by the key written from the question's rows; None: not held."""
        if self.patterns is None:
            return None
        names = Renaming()
        keys = rows_key(question, names)
        return self.patterns.answer((action, explain, *keys), names) if keys is not None else None

    def _explain_denial(self, decision: Decision, question: facts.Question, ref: Ref | None,
                        denial: list[dict[str, Any]], actor: str, action: str, resource: str) -> Decision:
        """The deny with its `missing` entries instead of the plain reason (never on the fast path),
        explained on the very facts it was decided on. An explanation that fails leaves the deny as
        it was (logged): the decision itself stands."""
        try:
            with self.oso_lock:
                entries = explain_denial(self.oso, question.user, action, question.resource, ref,
                                         denial or decision.reasons, actor)
        except Exception:
            log.exception("explaining a deny failed: actor=%r action=%r resource=%r", actor, action, resource)
            return decision
        return Decision(False, entries, decision.policy_version, decision.revision)
