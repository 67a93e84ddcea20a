"""Every Python and shell example in README.md and docs/*.md runs, so the docs cannot drift.

Each page is a tour: its fenced blocks run in order in one fresh folder, Python blocks in one
shared namespace, shell blocks through bash with `towpath` and `python` from this venv. In a
shell block the commands are the `$ ` lines (every line in a `bash`/`sh` block); a command whose
shown output starts a line with `error:` or `✗` is expected to fail, every other one to succeed.

HTML comments right before a block steer it, visible to anyone editing the page:

- `<!-- docs-test: skip: REASON -->` the block is not run; skips are counted and listed below.
- `<!-- docs-test: run: COMMAND -->` run COMMAND (bash) in the page's folder first (setup).
- `<!-- docs-test: file: PATH -->` write the block's text to PATH (an input the next blocks read).

`/tmp/tour`, the folder the README's tour keeps, is the page's folder here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOUR = "/tmp/tour"
MARKER = re.compile(r"<!--\s*docs-test:\s*(skip|run|file):\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\S*)\s*$")
SHELL = {"bash", "sh", "shell", "console"}
MAX_SKIPPED = 10
"""Few, each with its reason: fragments, run ids, and transcripts that need a server (Kafka, PostgreSQL)."""


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    text: str
    markers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def kind(self) -> str | None:
        """'python', 'shell', 'file' (an input to write) or None (output, YAML, a tree)."""
        if any(kind == "file" for kind, _ in self.markers):
            return "file"
        if self.lang == "python":
            return "python"
        if self.lang in SHELL or (not self.lang and any(line.startswith("$ ") for line in self.text.splitlines())):
            return "shell"
        return None

    @property
    def skip(self) -> str | None:
        return next((reason for kind, reason in self.markers if kind == "skip"), None)


def blocks(doc: Path) -> list[Block]:
    """The fenced blocks of `doc` with the docs-test markers on the lines just above each."""
    found: list[Block] = []
    lines = doc.read_text().splitlines()
    pending: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        marker, fence = MARKER.search(lines[i]), FENCE.match(lines[i])
        if marker:
            pending.append((marker.group(1), marker.group(2)))
        elif fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            found.append(Block(doc, i + 1, fence.group(1), "\n".join(lines[i + 1 : end]) + "\n", pending))
            pending, i = [], end
        elif lines[i].strip():
            pending = []
        i += 1
    return found


def runnable(doc: Path) -> list[Block]:
    return [b for b in blocks(doc) if b.kind and not b.skip]


def shell_commands(block: Block) -> list[tuple[str, bool]]:
    """(command, expected to succeed) for each command of a shell block."""
    lines = block.text.splitlines()
    if block.lang in SHELL:
        return [(line, True) for line in lines if line.strip() and not line.startswith("#")]
    commands: list[tuple[str, bool]] = []
    for i, line in enumerate(lines):
        if line.startswith("$ "):
            shown = []
            for later in lines[i + 1 :]:
                if later.startswith("$ "):
                    break
                shown.append(later)
            commands.append((line[2:], not any(s.startswith(("error:", "✗")) for s in shown)))
    return commands


def run_shell(script: str, folder: Path) -> list[tuple[int, str]]:
    """Run `script` with bash in `folder`; each command's (exit code, output) via an rc line after it."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "100", "NO_COLOR": "1"}
    done = subprocess.run(["bash", "-c", script], check=False, cwd=folder, env=env, text=True, timeout=600,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    results, output = [], []
    for line in done.stdout.splitlines():
        if line.startswith("::docs-test-rc::"):
            results.append((int(line.split("::")[2]), "\n".join(output)))
            output = []
        else:
            output.append(line)
    return results


def run_block(block: Block, folder: Path, namespace: dict[str, object]) -> None:
    for kind, command in block.markers:
        if kind == "run":
            [(rc, out)] = run_shell(_with_rc(command.replace(TOUR, str(folder))), folder)
            assert rc == 0, f"{block.where}: setup `{command}` failed:\n{out}"
        elif kind == "file":
            target = folder / command
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text)
    if block.kind == "python":
        code = compile(block.text.replace(TOUR, str(folder)), block.where, "exec")
        cwd = Path.cwd()
        os.chdir(folder)
        try:
            exec(code, namespace)  # noqa: S102 - running the docs' own examples is the point
        finally:
            os.chdir(cwd)
    elif block.kind == "shell":
        commands = shell_commands(block)
        script = "".join(_with_rc(command.replace(TOUR, str(folder))) for command, _ in commands)
        results = run_shell(script, folder)
        assert len(results) == len(commands), f"{block.where}: the block stopped early"
        for (command, ok), (rc, out) in zip(commands, results):
            assert (rc == 0) == ok, f"{block.where}: `{command}` exited {rc}, expected {'0' if ok else 'an error'}:\n{out}"


def _with_rc(command: str) -> str:
    # `(exit $rc)` restores $? so a documented `echo $?` sees the command's own code.
    return f"{command}\n__rc=$?; echo \"::docs-test-rc::$__rc\"; (exit $__rc)\n"


@pytest.mark.slow
@pytest.mark.parametrize("doc", [d for d in DOCS if runnable(d)], ids=lambda d: d.name)
def test_every_example_of_the_page_runs(doc: Path, tmp_path: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in blocks(doc):
        if block.kind and not block.skip:
            run_block(block, tmp_path, namespace)
    if doc.name == "README.md":  # the Python example reads back the rows the tour published
        assert namespace["top"].num_rows == 5  # type: ignore[attr-defined]
    if doc.name == "pipeline.md":
        # The first example says what it does: good rows to Parquet, each bad row routed once with its reasons.
        import json

        import pyarrow.parquet as pq

        stats = namespace["stats"]
        assert pq.read_table(tmp_path / "lake/orders/orders.parquet").column("id").to_pylist() == [1, 4]
        errors = [json.loads(line) for line in (tmp_path / "errors/orders.jsonl").read_text().splitlines()]
        assert [(json.loads(e["row"])["id"], e["reason"]) for e in errors] == [
            (2, "required: email"), (3, "range: amount in [0, inf]")]
        assert stats.rows_error == 2  # type: ignore[attr-defined]


def test_skipped_examples_are_few_and_say_why() -> None:
    skipped = [(b.where, b.skip) for doc in DOCS for b in blocks(doc) if b.kind and b.skip]
    assert all(len(reason or "") > 10 for _, reason in skipped), skipped
    assert len(skipped) <= MAX_SKIPPED, "\n".join(f"{where}: {reason}" for where, reason in skipped)
    print(f"{len(skipped)} examples skipped:", *(f"  {where}: {reason}" for where, reason in skipped), sep="\n")
