"""Shell examples of the documentation, run as a reader would run them (tests/test_docs_run.py).

The marker and the conventions (summed up at the top of tests/test_docs_run.py):

- Only fenced blocks whose info string carries the word `doctest` run: ```` ```sh doctest ```` or
  ```` ```console doctest ````. Every other block is left alone.
- `sh` blocks: each line is a command (a line ending in `\\` or inside an open quote continues it);
  the lines right after a command that start with `# ` (or are a lone `#`) are its output, `# `
  removed. A trailing comment on the command line itself is only a comment.
- `console` blocks: a line starting with `$ ` is a command (continued like sh, a leading `> ` on
  a continuation line is dropped); the lines up to the next `$ ` are its output.
- A command with no output shown is run but its output is not compared. Output is stdout and
  stderr together, as a terminal shows them. Exit statuses are not compared, except that a
  command the shell cannot run (status 126 or 127: "command not found") always fails.
- In shown output, `…` stands for any text within a line, and a line that is only `…` for any
  number of lines. Decision ids (UUIDs), times (RFC 3339), policy versions (16 hex digits) and
  API keys (`azk_…`) are masked: any value matches, but the same shown value must stand for the
  same real value throughout a document, and a shown value used in a later command is replaced
  by the real one (so `authz decisions show <the id shown above>` asks for the real id).
  Revisions and fact ids (`invitation:8`, `"revision":3`) are NOT masked: on a fresh store they
  are deterministic, and they are what a walkthrough most easily gets wrong.
- `.venv/bin/authz serve … &` is not given to the shell: the test starts that server itself, on
  a free port, with the shell's environment, waits for /healthz and stops it at the end; `8000`
  after `localhost:`, `127.0.0.1:` or `--port ` is replaced by that port everywhere.
"""
from __future__ import annotations

import http.client
import os
import re
import selectors
import shlex
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "doctest"
ELLIPSIS = "…"

# masked values: category -> pattern (tried in this order at each position)
MASKS = {
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "time": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)",
    "version": r"(?<![0-9a-f])[0-9a-f]{16}(?![0-9a-f])",
    "key": r"azk_[A-Za-z0-9_-]+",
}
_TOKENS = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in MASKS.items()) + f"|(?P<ellipsis>{ELLIPSIS})")
_SERVE = re.compile(r"^\.venv/bin/authz\s+serve\b(?P<args>[^&|;<>]*)&\s*(?:#.*)?$")
_BACKGROUND = re.compile(r"(?<!&)&\s*(?:#[^\n]*)?$")
_PORT = re.compile(r"(?<=localhost:)8000\b|(?<=127\.0\.0\.1:)8000\b|(?<=--port )8000\b")


@dataclass
class Command:
    doc: str
    line: int                       # 1-based line of the command in the document
    text: str                       # the shell text, continuation lines joined by newlines
    expected: list[str] | None      # the output shown, or None: not compared

    def where(self) -> str:
        return f"{self.doc}:{self.line}"


class DocFormatError(ValueError):
    pass


def _incomplete(text: str) -> bool:
    if text.rstrip().endswith("\\"):
        return True
    try:
        shlex.split(text, comments=True)
    except ValueError:  # no closing quotation
        return True
    return False


def marked_blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """(language, line of the first content line, lines) of every fenced block marked `doctest`."""
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = re.match(r"^ {0,3}(`{3,})(.*)$", lines[i])
        if not opening:
            i += 1
            continue
        fence, info = opening.group(1), opening.group(2).split()
        start, i = i + 1, i + 1
        while i < len(lines) and not re.match(rf"^ {{0,3}}{fence}\s*$", lines[i]):
            i += 1
        if MARKER in info[1:]:
            found.append((info[0], start + 1, lines[start:i]))
        i += 1
    return found


def parse(doc: str, text: str) -> list[Command]:
    """The marked commands of a document, in order, with the output each one shows."""
    commands: list[Command] = []
    for language, first, lines in marked_blocks(text):
        if language not in ("sh", "console"):
            raise DocFormatError(f"{doc}:{first - 1}: a `doctest` block must be sh or console, not {language!r}")
        i = 0
        while i < len(lines):
            line, number = lines[i], first + i
            if not line.strip():
                i += 1
                continue
            if language == "console":
                if not line.startswith("$ "):
                    raise DocFormatError(f"{doc}:{number}: output with no `$ ` command before it: {line!r}")
                line = line[2:]
            elif line.startswith("#"):
                raise DocFormatError(f"{doc}:{number}: output with no command before it: {line!r}")
            command, i = line, i + 1
            while _incomplete(command) and i < len(lines):
                nxt = lines[i]
                command += "\n" + (nxt[2:] if language == "console" and nxt.startswith("> ") else nxt)
                i += 1
            shown: list[str] = []
            if language == "console":
                while i < len(lines) and not lines[i].startswith("$ "):
                    shown.append(lines[i])
                    i += 1
                while shown and not shown[-1].strip():
                    shown.pop()
            else:
                while i < len(lines) and (lines[i] == "#" or lines[i].startswith("# ")):
                    shown.append(lines[i][2:])
                    i += 1
            commands.append(Command(doc, number, command, shown or None))
    return commands


# -- comparing -------------------------------------------------------------------------------

@dataclass
class Bindings:
    """Shown masked values -> the real values they stood for, per document."""

    values: dict[tuple[str, str], str] = field(default_factory=dict)

    def bind(self, pairs: list[tuple[str, str, str]]) -> list[str]:
        """Record (category, shown, real) pairs; the conflicts with earlier ones, as messages."""
        conflicts = []
        for category, shown, real in pairs:
            known = self.values.setdefault((category, shown), real)
            if known != real:
                conflicts.append(f"{shown} stands for {known} above but for {real} here")
        return conflicts

    def substitute(self, command: str) -> str:
        def replace(match: re.Match) -> str:
            category = match.lastgroup
            return self.values.get((category, match.group(0)), match.group(0)) if category != "ellipsis" else match.group(0)
        return _TOKENS.sub(replace, command)


def _line_pattern(shown: str) -> tuple[re.Pattern, list[tuple[str, str]]]:
    """A regex matching the real line for a shown line, and the (category, shown value) of its groups."""
    parts, groups, at = [], [], 0
    for match in _TOKENS.finditer(shown):
        parts.append(re.escape(shown[at:match.start()]))
        if match.lastgroup == "ellipsis":
            parts.append(".*?")
        else:
            parts.append(f"({MASKS[match.lastgroup]})")
            groups.append((match.lastgroup, match.group(0)))
        at = match.end()
    parts.append(re.escape(shown[at:]))
    return re.compile("".join(parts)), groups


def _match_lines(shown: list[str], real: list[str]) -> list[tuple[str, str, str]] | None:
    """The (category, shown, real) pairs of the first alignment of shown lines with real ones, or None."""
    if not shown:
        return [] if not real else None
    if shown[0] == ELLIPSIS:
        for skip in range(len(real) + 1):
            rest = _match_lines(shown[1:], real[skip:])
            if rest is not None:
                return rest
        return None
    if not real:
        return None
    pattern, groups = _line_pattern(shown[0])
    match = pattern.fullmatch(real[0])
    if match is None:
        return None
    rest = _match_lines(shown[1:], real[1:])
    if rest is None:
        return None
    return [(category, value, match.group(n + 1)) for n, (category, value) in enumerate(groups)] + rest


def compare(shown: list[str], output: str, bindings: Bindings) -> str | None:
    """None if output is what the document shows (binding its masked values), else why not."""
    real = output.rstrip("\n").split("\n") if output.strip("\n") else []
    real = [line.rstrip() for line in real]
    pairs = _match_lines([line.rstrip() for line in shown], real)
    if pairs is None:
        return "the output differs from what the document shows"
    conflicts = bindings.bind(pairs)
    return "; ".join(conflicts) or None


# -- running ---------------------------------------------------------------------------------

class Shell:
    """One bash process per document: variables and exports carry from one command to the next."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env, start_new_session=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.count = 0

    def run(self, text: str, timeout: float) -> tuple[bytes, int]:
        """Run text in the shell (its stdin is /dev/null); (stdout and stderr, exit status)."""
        self.count += 1
        script = self.cwd / f".doctest-{self.count}.sh"
        script.write_text(text + "\n")
        token = uuid.uuid4().hex.encode()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"{ . ./%s; } < /dev/null\nprintf '\\n%s %%d\\n' \"$?\"\n" % (script.name.encode(), token))
        self.proc.stdin.flush()
        buffer, end = b"", re.compile(rb"\n" + token + rb" (\d+)\n")
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while not (found := end.search(buffer)):
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError(f"no answer within {timeout:.0f} s; output so far: {buffer[-2000:]!r}")
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise RuntimeError(f"the shell exited; output: {buffer[-2000:]!r}")
                buffer += chunk
        return buffer[:found.start()], int(found.group(1))

    def environment(self) -> dict[str, str]:
        output, _ = self.run("env -0", 10)
        return dict(item.split("=", 1) for item in output.decode().split("\0") if "=" in item)

    def close(self) -> None:
        """End the shell and whatever it left running in its process group."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def serve_args(command: str) -> list[str] | None:
    """The arguments of `.venv/bin/authz serve … &` (a server the test starts itself), else None."""
    match = _SERVE.match(command.strip())
    return shlex.split(match.group("args")) if match else None


def with_port(text: str, port: int) -> str:
    return _PORT.sub(str(port), text)


def wait_healthy(port: int, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /healthz on port {port} within {seconds:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- one document ----------------------------------------------------------------------------

@dataclass
class Report:
    doc: str
    commands: int = 0
    compared: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


def sandbox(root: Path, tmp: Path) -> Path:
    """A working directory that looks like the repository (its entries linked) with an empty data/:
    the documents' relative paths resolve, and nothing they write lands in the repository's data/."""
    work = tmp / "work"
    work.mkdir()
    for entry in root.iterdir():
        if entry.name in (".git", "data"):
            continue
        (work / entry.name).symlink_to(entry)
    (work / "data").mkdir()
    for entry in (root / "data").iterdir():
        if not re.search(r"\.(db|sqlite)", entry.name):
            (work / "data" / entry.name).symlink_to(entry)
    return work


def shell_environment(root: Path, work: Path) -> dict[str, str]:
    """A reader's shell: no virtualenv on PATH (the documents say `.venv/bin/authz`), no settings of
    the caller's, DATABASE_URL a fresh SQLite file."""
    venv_bins = {str((root / ".venv" / "bin").resolve())}
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AUTHZ_", "PYTEST_")) and name not in ("DATABASE_URL", "PORT", "WORKERS", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(part for part in os.environ.get("PATH", "").split(os.pathsep)
                                  if part and str(Path(part).resolve()) not in venv_bins)
    env["DATABASE_URL"] = f"sqlite:///{work / 'authz.db'}"
    env["LC_ALL"] = "C.UTF-8"
    return env


def _show(command: Command, text: str, output: str, why: str) -> str:
    shown = "\n".join(command.expected or [])
    return (f"{command.where()}: {why}\n  command: {text}\n  --- shown:\n{_indent(shown)}\n"
            f"  --- actual:\n{_indent(output.rstrip())}")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.split("\n"))


def run_document(path: Path, name: str, root: Path, tmp: Path, port: int,
                 command_seconds: float = 30, server_seconds: float = 40) -> Report:
    """Run the marked commands of one document in order, in one shell, against a fresh store."""
    started = time.monotonic()
    commands = parse(name, path.read_text(encoding="utf-8"))
    report = Report(name, commands=len(commands))
    work = sandbox(root, tmp)
    shell = Shell(work, shell_environment(root, work))
    server: subprocess.Popen | None = None
    bindings = Bindings()
    try:
        for command in commands:
            text = bindings.substitute(with_port(command.text, port))
            args = serve_args(text)
            if args is not None:
                if server is not None:
                    report.failures.append(f"{command.where()}: a second server in one document")
                    continue
                if "--port" not in args:
                    args += ["--port", str(port)]
                if "--workers" not in args:
                    args += ["--workers", "1"]  # one worker: quicker to start, and lookups never wait for another
                env = {**shell.environment(), "AUTHZ_SHAPE_TABLE": "0"}  # changes no decision, only start-up
                log = work / ".doctest-server.log"
                with log.open("wb") as sink:
                    server = subprocess.Popen([str(work / ".venv" / "bin" / "authz"), "serve", *args], cwd=work,
                                              env=env, stdout=sink, stderr=subprocess.STDOUT)
                try:
                    wait_healthy(port, server, server_seconds)
                except RuntimeError as exc:
                    report.failures.append(f"{command.where()}: {exc}\n{_indent(log.read_text()[-3000:])}")
                    break
                continue
            if _BACKGROUND.search(text.strip()):
                report.failures.append(f"{command.where()}: a command left running in the background is not run "
                                       f"(only `.venv/bin/authz serve … &` is, by the test)\n  command: {text}")
                continue
            try:
                raw, status = shell.run(text, command_seconds)
            except (TimeoutError, RuntimeError) as exc:
                report.failures.append(f"{command.where()}: {exc}\n  command: {text}")
                break
            output = raw.decode("utf-8", errors="replace")
            if status in (126, 127):
                report.failures.append(_show(command, text, output, f"the shell could not run it (exit status {status})"))
            elif command.expected is not None:
                report.compared += 1
                why = compare([with_port(line, port) for line in command.expected], output, bindings)
                if why:
                    report.failures.append(_show(command, text, output, why))
    finally:
        if server is not None:
            stop(server)
        shell.close()
        report.seconds = time.monotonic() - started
    return report


def main(argv: list[str]) -> int:
    """`python tests/doc_blocks.py FILE...`: run the marked blocks of these files (any copy of a
    document), print what differs; exit 1 if anything does."""
    import tempfile

    from live_servers import free_port

    root = Path(__file__).resolve().parents[1]
    status = 0
    for name in argv:
        with tempfile.TemporaryDirectory(prefix="doctest-") as tmp:
            report = run_document(Path(name), name, root, Path(tmp), free_port())
        print(f"{name}: {report.commands} commands, {report.compared} outputs compared, "
              f"{len(report.failures)} failures, {report.seconds:.1f} s")
        for failure in report.failures:
            print(failure, end="\n\n")
        status |= bool(report.failures)
    return status


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
