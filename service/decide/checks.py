"""Strict checks of a policy folder, run on `authz validate` and on every load.

oso loads a policy that grants an action nobody can ask for, reads an attribute the
facts do not have (that fails only at decision time) or grants something to every
user; and a stray file beside the real ones (`customers.bak.polar`) is loaded too.
These checks refuse all of that before Polar sees the files, each problem named with
its file and line:

- the folder's `manifest` names every policy file; a .polar file it does not name is an error;
- a `grant` whose action is a string must use an action of the vocabulary of its resource type;
- `x.name` must be something the facts expose: on a variable specialized to a registered class,
  that class's fields, properties and methods (the User only through `id` and its methods, never
  its raw membership lists); on any other variable, some class's or some dictionary's key;
- a `grant` must put a condition on its user, unless the comment above it says it is deliberate.

Polar has no public syntax tree in oso's Python API, so a small tokenizer reads the files;
it understands rules, resource blocks, strings and comments, which is all these checks need.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from service.decide import facts
from service.decide.vocabulary import ACTIONS
from service.decide.whynot import EXPLAINED_CLASSES

MANIFEST = "manifest"
DELIBERATE = re.compile(r"\bdeliberate", re.IGNORECASE)

# The User's raw membership lists are narrowed per decision and read through its methods only.
USER_RAW_FIELDS = frozenset({"roles", "billing", "authorized_products", "assignments"})


class PolicyError(RuntimeError):
    """The policy files failed to load, failed a strict check, or loaded with warnings."""


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def raise_problems(problems: list[Problem]) -> None:
    if problems:
        raise PolicyError("\n".join(str(problem) for problem in problems))


# -- the manifest ---------------------------------------------------------------------


def manifest_files(policy_dir: Path) -> list[Path]:
    """The policy files the folder's manifest names (sorted); every problem with it is an error."""
    manifest = policy_dir / MANIFEST
    if not manifest.is_file():
        raise PolicyError(f"{MANIFEST}:0: no manifest in {policy_dir} (name each policy file on a line)")
    problems: list[Problem] = []
    named: dict[str, int] = {}
    for number, raw in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        name = raw.split("#", 1)[0].strip()
        if not name:
            continue
        if name in named:
            problems.append(Problem(MANIFEST, number, f"{name} is named twice (line {named[name]})"))
        elif "/" in name or not name.endswith(".polar"):
            problems.append(Problem(MANIFEST, number, f"{name!r} is not a .polar file name of this folder"))
        elif not (policy_dir / name).is_file():
            problems.append(Problem(MANIFEST, number, f"names {name}, which does not exist"))
        named.setdefault(name, number)
    for stray in sorted(policy_dir.glob("*.polar")):
        if stray.name not in named:
            problems.append(Problem(stray.name, 1, f"not named in {MANIFEST}: a policy file is loaded only "
                                                   "when the manifest names it (remove it or add it)"))
    if not named and not problems:
        problems.append(Problem(MANIFEST, 1, "names no policy file"))
    raise_problems(problems)
    return sorted(policy_dir / name for name in named)


def manifest_text(names: list[str]) -> str:
    return "".join(f"{name}\n" for name in sorted(names))


# -- tokens and rules -----------------------------------------------------------------

_TOKEN = re.compile(r'(?P<comment>#[^\n]*)|(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<number>\d+(?:\.\d+)?)'
                    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<space>\s+)|(?P<op>[=!<>]=|.)", re.S)
_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident, string, number, op
    text: str
    line: int


@dataclass
class Rule:
    name: str
    line: int
    params: list[list[Token]]
    body: list[Token]
    comments: list[str]  # the comment lines directly above the rule


def tokenize(text: str) -> tuple[list[Token], dict[int, str]]:
    """The tokens of a Polar text, and its comments by line."""
    tokens: list[Token] = []
    comments: dict[int, str] = {}
    line = 1
    for match in _TOKEN.finditer(text):
        kind, value = match.lastgroup or "op", match.group()
        if kind == "comment":
            comments[line] = value
        elif kind != "space":
            tokens.append(Token(kind, value, line))
        line += value.count("\n")
    return tokens, comments


def _statements(tokens: list[Token]) -> list[list[Token]]:
    """Top-level statements ending in `;`; resource and actor blocks are left out."""
    statements: list[list[Token]] = []
    current: list[Token] = []
    depth = 0
    skipping_block = False
    for token in tokens:
        if not current and depth == 0 and token.kind == "ident" and token.text in ("resource", "actor"):
            skipping_block = True
        if token.text in _OPEN and token.kind == "op":
            depth += 1
        elif token.text in _CLOSE and token.kind == "op":
            depth -= 1
        if skipping_block:
            if depth == 0 and token.text == "}":
                skipping_block = False
            continue
        current.append(token)
        if depth == 0 and token.text == ";":
            statements.append(current)
            current = []
    if current:
        statements.append(current)
    return statements


def _split_params(tokens: list[Token]) -> tuple[list[list[Token]], int]:
    """The parameters of `name(...)` (tokens[1] is the opening parenthesis) and where `)` is."""
    params: list[list[Token]] = [[]]
    depth = 0
    for index, token in enumerate(tokens[1:], start=1):
        if token.kind == "op" and token.text in _OPEN:
            depth += 1
            if depth == 1:
                continue
        elif token.kind == "op" and token.text in _CLOSE:
            depth -= 1
            if depth == 0:
                return [p for p in params if p], index
        if depth == 1 and token.text == ",":
            params.append([])
        else:
            params[-1].append(token)
    return [p for p in params if p], len(tokens)


def _comments_above(line: int, comments: dict[int, str]) -> list[str]:
    above = []
    while line - 1 in comments:
        line -= 1
        above.append(comments[line])
    return list(reversed(above))


def parse_rules(text: str) -> list[Rule]:
    tokens, comments = tokenize(text)
    rules = []
    for statement in _statements(tokens):
        if len(statement) < 2 or statement[0].kind != "ident" or statement[1].text != "(":
            continue  # not a rule; oso reports what it cannot parse
        params, close = _split_params(statement)
        rest = statement[close + 1:]
        body = rest[1:] if rest and rest[0].text == "if" else []
        rules.append(Rule(statement[0].text, statement[0].line, params, body,
                          _comments_above(statement[0].line, comments)))
    return rules


# -- what the facts expose --------------------------------------------------------------


def exposed(cls: type) -> frozenset[str]:
    """The names a policy may read on an instance of cls."""
    names = {f.name for f in dataclasses.fields(cls)} | {n for n in dir(cls) if not n.startswith("_")}
    return frozenset(names - USER_RAW_FIELDS if issubclass(cls, facts.User) else names)


def _dictionary_keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _dictionary_keys(item)}
    return set()


CLASSES = {cls.__name__: cls for cls in facts.POLICY_CLASSES}
# `why_not` clauses run only on an explained deny, over the same classes extended with the few
# facts explanations read (whynot.py); grants never see these extra facts.
EXPLAIN_CLASSES = {**CLASSES, **{cls.__name__.removeprefix("Explained"): cls for cls in EXPLAINED_CLASSES}}
# the partnership dictionaries handed to the policy (facts.Partnership.as_term)
TERM_KEYS = frozenset(_dictionary_keys(facts.Partnership(1, 2, 3, "active", "full", None).as_term()))


def _walk(tokens: list[Token]) -> Iterator[tuple[int, Token, bool]]:
    """Each token with its index and whether it is a dictionary key (`{name: ...}`)."""
    stack: list[str] = []
    for index, token in enumerate(tokens):
        if token.kind == "op" and token.text in _OPEN:
            stack.append(token.text)
        elif token.kind == "op" and token.text in _CLOSE and stack:
            stack.pop()
        is_key = (bool(stack) and stack[-1] == "{" and token.kind == "ident" and index + 1 < len(tokens)
                  and tokens[index + 1].text == ":")
        yield index, token, is_key


def _literal_keys(rules: list[Rule]) -> set[str]:
    """Keys of the dictionary literals a policy builds (`{rule: "R12", ...}`): readable on the result."""
    return {token.text for rule in rules
            for _, token, is_key in _walk([t for param in rule.params for t in param] + rule.body) if is_key}


# -- the checks ------------------------------------------------------------------------


def _specializers(rule: Rule) -> dict[str, str]:
    """variable -> class name, from head parameters like `org: Organization`."""
    found = {}
    for param in rule.params:
        if len(param) >= 3 and param[0].kind == "ident" and param[1].text == ":" and param[2].kind == "ident":
            found[param[0].text] = param[2].text
    return found


def _check_attributes(file: str, rule: Rule, anywhere: frozenset[str]) -> list[Problem]:
    problems = []
    classes = EXPLAIN_CLASSES if rule.name == "why_not" else CLASSES
    types = _specializers(rule)
    tokens = [t for param in rule.params for t in param] + rule.body
    for before, dot, name in zip(tokens, tokens[1:], tokens[2:]):
        if dot.text != "." or name.kind != "ident" or before.kind == "number":
            continue
        cls = classes.get(types.get(before.text, "")) if before.kind == "ident" else None
        if cls is not None and name.text not in exposed(cls):
            hint = " (read the user through its methods)" if name.text in USER_RAW_FIELDS else ""
            problems.append(Problem(file, name.line, f"{before.text}.{name.text}: {cls.__name__} has no "
                                                     f"attribute or method {name.text!r}{hint}"))
        elif cls is None and name.text not in anywhere:
            problems.append(Problem(file, name.line, f"{before.text}.{name.text}: no registered class or "
                                                     f"dictionary of the facts has {name.text!r}"))
    return problems


def _variables(tokens: list[Token]) -> set[str]:
    """The identifiers used as terms: not attribute names (`x.name`) nor dictionary keys (`{name: ...}`)."""
    return {token.text for index, token, is_key in _walk(tokens)
            if token.kind == "ident" and not is_key and not (index > 0 and tokens[index - 1].text == ".")}


def _check_grant(file: str, rule: Rule) -> list[Problem]:
    if len(rule.params) != 4:
        return [Problem(file, rule.line, "grant takes (user, action, resource, why)")]
    user, action, resource, _why = rule.params
    problems = []
    if action[0].kind == "string":
        resource_class = _specializers(rule).get(resource[0].text, "")
        vocabulary = (ACTIONS.get(resource_class.lower()) if resource_class in CLASSES
                      else tuple(a for actions in ACTIONS.values() for a in actions))
        name = action[0].text.strip('"')
        if name not in (vocabulary or ()):
            problems.append(Problem(file, action[0].line, f"action {name!r} is not in the vocabulary"
                                                          + (f" of {resource_class}" if resource_class else "")))
    user_var = user[0].text if user[0].kind == "ident" else ""
    conditioned = bool(user_var) and not user_var.startswith("_") and user_var in _variables(rule.body)
    if not conditioned and not any(DELIBERATE.search(line) for line in rule.comments):
        problems.append(Problem(file, rule.line, "grant puts no condition on its user (it would allow every "
                                                 "user); say `deliberate` in the comment above if it is meant"))
    return problems


def check_texts(files: dict[str, str]) -> list[Problem]:
    """Every strict-check problem of a policy given as {file name: text}."""
    parsed = {name: parse_rules(text) for name, text in sorted(files.items())}
    literal = frozenset(TERM_KEYS | set().union(*(_literal_keys(rules) for rules in parsed.values())))
    anywhere = {rule_name: literal | set().union(*(exposed(cls) for cls in classes.values()))
                for rule_name, classes in (("grant", CLASSES), ("why_not", EXPLAIN_CLASSES))}
    problems = []
    for name, rules in parsed.items():
        for rule in rules:
            problems.extend(_check_attributes(name, rule, anywhere["why_not" if rule.name == "why_not" else "grant"]))
            if rule.name == "grant":
                problems.extend(_check_grant(name, rule))
    return problems


def check_files(paths: list[Path]) -> None:
    """Raise PolicyError listing every strict-check problem of these files."""
    raise_problems(check_texts({path.name: path.read_text(encoding="utf-8") for path in paths}))

def version_of(files: dict[str, str]) -> str:
    """The 16-hex version of a set of policy files by name: the one hash of a version, of its
    engine (Engine.policy_version) and of its activation (policy_version.version)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]
