"""The action vocabulary (service/decide/vocabulary.py) and the policy text agree.

- the `permissions = [...]` list of each resource block in policies/main.polar
  equals vocabulary.ACTIONS for that type;
- every vocabulary action is proved by at least one `grant` clause (an action
  no clause grants would be denied forever: dead vocabulary);
- every action a grant clause names is in the vocabulary (a misspelt grant
  would never be reached, since unknown actions are denied before the policy).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.decide import vocabulary
from service.decide.engine import POLICY_DIR, policy_files

_COMMENT = re.compile(r"#[^\n]*")
_RESOURCE_BLOCK = re.compile(r"resource\s+(\w+)\s*\{(.*?)\}", re.S)
_PERMISSIONS = re.compile(r"permissions\s*=\s*\[(.*?)\]\s*;", re.S)
_STRING = re.compile(r'"([^"]*)"')
# a clause head, at the start of a line: grant(user[: User], <action>, resource: Type, why)
_GRANT_HEAD = re.compile(r"^grant\(\s*\w+(?:\s*:\s*\w+)?\s*,\s*([^,]+?)\s*,\s*\w+\s*:\s*(\w+)\s*,", re.S | re.M)


def _strip(text: str) -> str:
    return _COMMENT.sub("", text)


def declared_permissions(text: str) -> dict[str, tuple[str, ...]]:
    """Resource block name (lower case) -> its permissions list, in order."""
    out = {}
    for name, body in _RESOURCE_BLOCK.findall(_strip(text)):
        match = _PERMISSIONS.search(body)
        out[name.lower()] = tuple(_STRING.findall(match.group(1))) if match else ()
    return out


def granted_actions(text: str) -> set[tuple[str, str]]:
    """(resource type, action) pairs that some grant clause can prove.

    The action is a string literal in the head, or a variable the body binds
    with `var in ["a", "b"]` (the older style); anything else is reported as
    ("?", head) so that the test fails instead of guessing.
    """
    text = _strip(text)
    pairs: set[tuple[str, str]] = set()
    for match in _GRANT_HEAD.finditer(text):
        action, kind = match.group(1), match.group(2).lower()
        literal = _STRING.fullmatch(action)
        if literal:
            pairs.add((kind, literal.group(1)))
            continue
        var = action.split(":")[0].strip()
        body = text[match.end():text.find(";", match.end())]
        listed = re.search(rf"\b{re.escape(var)}\s+in\s+\[(.*?)\]", body, re.S)
        if listed is None:
            pairs.add(("?", action))
        else:
            pairs.update((kind, a) for a in _STRING.findall(listed.group(1)))
    return pairs


def _policy_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in policy_files(POLICY_DIR))


def test_main_polar_permissions_equal_the_vocabulary() -> None:
    declared = declared_permissions((POLICY_DIR / "main.polar").read_text(encoding="utf-8"))
    assert declared == {kind: tuple(actions) for kind, actions in vocabulary.ACTIONS.items()}


def test_every_vocabulary_action_is_granted_by_some_clause() -> None:
    granted = granted_actions(_policy_text())
    missing = {(kind, a) for kind, actions in vocabulary.ACTIONS.items() for a in actions} - granted
    assert not missing, f"vocabulary actions no grant clause proves: {sorted(missing)}"


def test_every_granted_action_is_in_the_vocabulary() -> None:
    granted = granted_actions(_policy_text())
    unknown = {(kind, a) for kind, a in granted if not vocabulary.is_known(kind, a)}
    assert not unknown, f"grant clauses for actions outside the vocabulary: {sorted(unknown)}"


# -- the parsers must be able to see a mismatch ------------------------------------------------

_SAMPLE = '''
resource Product {
  permissions = ["manage_product",
                 "view_statistics"];  # a comment with "quotes"
}
# grant(user: User, "view_statistics", product: Product, why) if commented_out;
grant(user: User, "manage_product", product: Product, why) if some_rule(user, product, why);
grant(user: User, action: String, org: Organization, why) if
  action in ["manage_users", "view_billing"] and why = {};
grant(user: User, action, inv: Invitation, why) if mystery(action, inv, why);
'''


def test_parsers_on_a_sample() -> None:
    assert declared_permissions(_SAMPLE) == {"product": ("manage_product", "view_statistics")}
    assert granted_actions(_SAMPLE) == {
        ("product", "manage_product"),
        ("organization", "manage_users"), ("organization", "view_billing"),
        ("?", "action"),
    }


@pytest.mark.parametrize("kind", sorted(vocabulary.ACTIONS))
def test_every_resource_type_has_a_grant_in_the_real_policy(kind: str) -> None:
    # guards the parser against silently finding nothing after a change of clause style
    assert any(k == kind for k, _ in granted_actions(_policy_text()))
