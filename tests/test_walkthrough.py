"""docs/walkthrough.md runs as written: its files are written, its commands run with the real
`qbsync` console script in an empty folder, and every output it shows must be what the command
printed (times and QuickBooks' time-based ids aside). The one change: the service listens on a
free port instead of 8080.

To bring the page up to date after a deliberate change of output:
    QBSYNC_WALKTHROUGH_WRITE=1 python -m pytest tests/test_walkthrough.py
rewrites the outputs in place (then read the diff)."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "walkthrough.md"
DOC_PORT = "8080"
STEP = re.compile(r"<!-- file: (?P<file>\S+) -->\n```json\n(?P<content>.*?)```|```console\n(?P<console>.*?)```", re.DOTALL)
# What differs from run to run: times, and the fake company's time-based ids and EditSequences.
VOLATILE = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)"), "<time>"),
    (re.compile(r"\b1\d{9}\b"), "<n>"),
)


def parse_console(block: str) -> list[tuple[str, list[str]]]:
    """(command, output lines) for each `$ ` line of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    for _, lines in steps:
        while lines and not lines[-1].strip():
            lines.pop()
    return steps


def render_console(steps: list[tuple[str, list[str]]]) -> str:
    return "\n\n".join("\n".join([f"$ {command}", *lines]) for command, lines in steps) + "\n"


def normalise(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        for pattern, placeholder in VOLATILE:
            line = pattern.sub(placeholder, line)
        out.append(line.rstrip())
    return out


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


class Shell:
    """Runs the page's commands in `cwd`, one bash per command, with the environment they export."""

    def __init__(self, cwd: Path, port: str) -> None:
        self.cwd, self.port, self.background = cwd, port, []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_") and k != "NO_COLOR"}
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

    def run(self, command: str) -> list[str]:
        if command.startswith("export "):
            name, _, value = command[len("export "):].partition("=")
            self.env[name] = shlex.split(value)[0]
            return []
        real = command.replace(f"--port {DOC_PORT}", f"--port {self.port}").replace(f":{DOC_PORT}/", f":{self.port}/")
        if real.endswith(" &"):
            return self._start(real[:-2])
        proc = subprocess.run(["bash", "-c", real], cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=120)
        lines = proc.stdout.splitlines() + proc.stderr.splitlines()
        return self._doc_port(lines + ([f"[exit {proc.returncode}]"] if proc.returncode else []))

    def _start(self, command: str) -> list[str]:
        proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                text=True)
        self.background.append(proc)
        return self._doc_port([proc.stdout.readline().rstrip("\n")])  # the service prints its URL when ready

    def _doc_port(self, lines: list[str]) -> list[str]:
        return [line.replace(f":{self.port}/", f":{DOC_PORT}/") for line in lines]

    def close(self) -> None:
        for proc in self.background:
            proc.terminate()
            proc.wait(timeout=30)


def run_page(text: str, cwd: Path) -> tuple[list[tuple[str, list[str], list[str]]], str]:
    """Every (command, shown, printed) of the page, and the page with the printed outputs."""
    shell = Shell(cwd, _free_port())
    results, rewritten, last = [], [], 0
    try:
        for step in STEP.finditer(text):
            rewritten.append(text[last:step.start("console") if step["console"] is not None else step.end()])
            last = step.end()
            if step["file"]:
                (cwd / step["file"]).write_text(step["content"], encoding="utf-8")
                continue
            done = [(command, shown, shell.run(command)) for command, shown in parse_console(step["console"])]
            results += done
            rewritten.append(render_console([(command, printed) for command, _, printed in done]) + "```")
    finally:
        shell.close()
    rewritten.append(text[last:])
    return results, "".join(rewritten)


def test_the_walkthrough_runs_as_written_and_prints_what_it_shows(tmp_path):
    text = DOC.read_text(encoding="utf-8")
    results, rewritten = run_page(text, tmp_path)
    assert len(results) >= 30 and all(printed for _, shown, printed in results if shown)
    if os.environ.get("QBSYNC_WALKTHROUGH_WRITE"):
        DOC.write_text(rewritten, encoding="utf-8")
        return
    for command, shown, printed in results:
        assert normalise(printed) == normalise(shown), f"docs/walkthrough.md: `{command}` printed something else"


def test_every_step_of_the_walkthrough_is_a_command_line():
    """No step happens off the page: no Python, no library calls, nothing but `qbsync` and `export`."""
    commands = [c for m in STEP.finditer(DOC.read_text(encoding="utf-8")) if m["console"]
                for c, _ in parse_console(m["console"])]
    assert commands and all(c.startswith(("qbsync ", "export ")) for c in commands)
    assert "python" not in DOC.read_text(encoding="utf-8").lower().replace("python 3.11", "")
