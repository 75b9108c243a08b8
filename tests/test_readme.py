"""Every code block of the README and of the docs' getting-started page runs as printed: Python blocks are
executed, each `polyedit ...` line of a shell block is run through the CLI (exit 0). The two set-up commands
(`make demo`, `make test`) and `make docs` are what CI and the demo test run themselves."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from polyedit.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "docs" / "getting-started.md"]
MAKE = {"make demo", "make test", "make docs", "make docs-serve"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def blocks(page: Path, lang: str) -> list[str]:
    return [body for fence, body in FENCE.findall(page.read_text("utf-8")) if fence == lang]


def commands(body: str) -> list[str]:
    out = []
    for line in body.splitlines():
        line = line.split(" #", 1)[0].strip() if not line.startswith("#") else ""
        if line:
            out.append(line)
    return out


def test_the_readme_is_short_and_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text("utf-8")
    assert len(text.splitlines()) <= 250
    first = commands(blocks(ROOT / "README.md", "bash")[0])
    assert first == ["make demo", "make test"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_shell_line_is_a_polyedit_command_or_a_make_target(page):
    for body in blocks(page, "bash"):
        for line in commands(body):
            assert line in MAKE or line.startswith("polyedit "), f"{page.name}: {line!r} is not run by this test"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_code_block_runs_as_printed(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    python = blocks(page, "python")
    shell = [line for body in blocks(page, "bash") for line in commands(body) if line.startswith("polyedit ")]
    assert python or shell, f"{page.name} has no code block to run"
    for i, code in enumerate(python):
        exec(compile(code, f"{page.name}[python block {i}]", "exec"), {"__name__": f"readme_block_{i}"})
    for line in shell:
        assert main(shlex.split(line)[1:]) == 0, f"{page.name}: `{line}` failed"
