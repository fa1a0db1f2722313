"""The documentation's shell examples, run: what a document shows a command printing is what it prints.

Marker: a fenced block whose info string carries the word `doctest` runs (```` ```sh doctest ````
or ```` ```console doctest ````); unmarked blocks are left alone. Per document (README.md,
docs/*.md), the marked commands run in order in one bash shell (variables carry over) in a
directory that mirrors the repository with an empty `data/`, with DATABASE_URL a fresh SQLite
file, the virtualenv off PATH (documents say `.venv/bin/authz`) and no AUTHZ_* settings.

Output convention: in `sh` blocks, the `# ` lines right under a command (a lone `#`: an empty
line) are its output; in `console` blocks, the lines under a `$ ` command up to the next one.
Commands with no output shown run unchecked (but "command not found" fails). `…` elides text
within a line, a line of only `…` any number of lines. Decision ids, times, policy versions and
API keys are masked, consistently: one shown value stands for one real value throughout the
document, and a shown value reused in a later command is replaced by the real one. Revisions and
fact ids are compared as shown. `.venv/bin/authz serve … &` is started by the test on a free port
(and `8000` after `localhost:`, `127.0.0.1:`, `--port ` replaced by it), waited for, and stopped
at the end. Details and the runner: tests/doc_blocks.py; to run one file (e.g. a draft):
`.venv/bin/python tests/doc_blocks.py docs/audit.md`.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from doc_blocks import Bindings, DocFormatError, compare, parse, run_document, serve_args, with_port
from live_servers import free_port

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("*.md"))]
MARKED = [name for name in DOCUMENTS if parse(name, (ROOT / name).read_text(encoding="utf-8"))]

# the walkthroughs that must stay covered: at least this many commands whose output is compared
COVERED = {"README.md": 3, "docs/workflows.md": 20, "docs/audit.md": 15, "docs/api.md": 10}


@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("curl") and shutil.which("jq"))
                    and os.environ.get("AUTHZ_DOCS_TESTS") != "required",  # CI: a missing tool fails
                    reason="the documents' examples need bash, curl and jq")
@pytest.mark.parametrize("name", MARKED)
def test_document_runs_as_shown(name: str, tmp_path: Path) -> None:
    report = run_document(ROOT / name, name, ROOT, tmp_path, free_port())
    assert not report.failures, (f"{name}: {len(report.failures)} of {report.commands} commands differ from the "
                                 f"document ({report.seconds:.1f} s)\n\n" + "\n\n".join(report.failures))
    assert report.compared >= COVERED.get(name, 0)


def test_walkthroughs_are_marked() -> None:
    for name, least in COVERED.items():
        commands = parse(name, (ROOT / name).read_text(encoding="utf-8"))
        shown = sum(command.expected is not None for command in commands)
        assert shown >= least, f"{name}: {shown} marked commands show output, {least} expected"


# -- the conventions themselves ----------------------------------------------------------------

DOC = '''
Some text.

```sh
echo unmarked   # never run
```

```sh doctest
A=1; echo "$A" \\
  two
# 1 two
curl -s localhost:8000/x -d '{
  "a": 1}'
echo quiet
```

```console doctest
$ printf 'x\\ny\\n'
x
y

$ echo "it's
> here"
it's
here
```
'''


def test_parse_marked_blocks_only() -> None:
    commands = parse("doc.md", DOC)
    assert [c.text for c in commands] == ['A=1; echo "$A" \\\n  two', "curl -s localhost:8000/x -d '{\n  \"a\": 1}'",
                                         "echo quiet", "printf 'x\\ny\\n'", 'echo "it\'s\nhere"']
    assert [c.expected for c in commands] == [["1 two"], None, None, ["x", "y"], ["it's", "here"]]
    assert commands[0].line == 9


def test_output_before_any_command_is_refused() -> None:
    with pytest.raises(DocFormatError):
        parse("doc.md", "```sh doctest\n# 1\n```\n")
    with pytest.raises(DocFormatError):
        parse("doc.md", "```console doctest\noutput\n```\n")


def test_masked_values_bind_consistently() -> None:
    bindings = Bindings()
    shown = ['{"decision_id":"5bb5019a-17aa-4d16-ac2b-87f99c3d21da","revision":2,"time":"2026-12-02T05:10:34.816052Z"}']
    real = '{"decision_id":"01a24d54-d081-7eee-a7ad-636aef81784e","revision":2,"time":"2026-12-06T21:48:47.1Z"}\n'
    assert compare(shown, real, bindings) is None
    assert bindings.substitute("authz replay 5bb5019a-17aa-4d16-ac2b-87f99c3d21da") == \
        "authz replay 01a24d54-d081-7eee-a7ad-636aef81784e"
    assert bindings.substitute('"at": "2026-12-02T05:10:34.816052Z"') == '"at": "2026-12-06T21:48:47.1Z"'
    # the same shown id for another real one, or another revision: a difference
    other = real.replace("d081", "d082")
    assert "stands for" in (compare(shown, other, bindings) or "")
    assert compare(shown, real.replace('"revision":2', '"revision":3'), Bindings()) is not None


def test_ellipsis() -> None:
    assert compare(['{"id":"invitation:8",…,"revision":3}'], '{"id":"invitation:8","x":[1],"revision":3}', Bindings()) is None
    assert compare(['{"id":"invitation:8",…,"revision":3}'], '{"id":"invitation:9","revision":3}', Bindings()) is not None
    assert compare(["first", "…", "last"], "first\na\nb\nlast\n", Bindings()) is None
    assert compare(["first", "…", "last"], "first\nlast", Bindings()) is None
    assert compare(["first"], "first\nmore", Bindings()) is not None


def test_server_lines_and_port() -> None:
    assert serve_args(".venv/bin/authz serve --port 8000 &") == ["--port", "8000"]
    assert serve_args(".venv/bin/authz serve &   # in the background") == []
    assert serve_args(".venv/bin/authz serve --port 8000") is None
    assert with_port("curl localhost:8000/v1 http://127.0.0.1:8000 --port 8000 user:8000", 8123) == \
        "curl localhost:8123/v1 http://127.0.0.1:8123 --port 8123 user:8000"


# -- the /docs page reads as English -------------------------------------------------------------

def test_api_summaries_read_as_english(store_url: str, tmp_path: Path) -> None:
    """/docs shows each operation's summary from /openapi.json: "Create an assignment", not "a assignment"."""
    import re

    from test_api_support import make_api

    spec = make_api(store_url, tmp_path).client.get("/openapi.json").json
    summaries = {(method.upper(), path): op["summary"] for path, item in spec["paths"].items() for method, op in item.items()}
    wrong = {where: text for where, text in summaries.items() if re.search(r"\ba [aeio]|\ban [^aeiou]", text, re.I)}
    assert wrong == {}
    assert summaries[("POST", "/v1/assignments")] == "Create an assignment"
    assert summaries[("GET", "/v1/invoices/{invoice_id}")] == "Read an invoice"
    assert summaries[("PATCH", "/v1/organizations/{organization_id}")] == "Update an organization (fields given are changed)"
    assert summaries[("DELETE", "/v1/users/{user_id}")] == "Delete a user"
    assert summaries[("POST", "/v1/product-authorizations")] == "Create a product authorization"
