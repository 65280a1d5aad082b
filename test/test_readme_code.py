"""Every code block of the README runs as written on the CPU build.

Python blocks run in order in one fresh process, each continuing the ones before it as the README
reads. A bash block runs as it is, or, after a `<!-- checked with --help -->` line, each of its
commands answers `--help` (for commands that train for hours or start the whole demo); after a
`<!-- not run: why -->` line it is skipped, saying why (it needs what this build lacks: ROS 2 from
apt, the ros2 command line, a download). `text` blocks are not code.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CHECKED_WITH_HELP = "checked with --help"
NOT_RUN = "not run: "
BLOCK = re.compile(
    r"(?:<!-- (?P<mark>[^\n]*?) -->\n)?^```(?P<language>\w*)\n(?P<code>.*?)^```$", re.DOTALL | re.MULTILINE
)


def code_blocks(text: str) -> list[dict]:
    """Each fenced block: its language, code, the mark on the line before it (or None) and line."""
    return [{**match.groupdict(), "line": text.count("\n", 0, match.start("code"))} for match in BLOCK.finditer(text)]


def commands(code: str) -> list[list[str]]:
    """The commands of a bash block: continuation lines joined, comments dropped."""
    joined = code.replace("\\\n", " ")
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def help_command(words: list[str]) -> list[str]:
    """The command with its options replaced by --help: the words before the first option."""
    first_option = next((index for index, word in enumerate(words) if word.startswith("--")), len(words))
    return [*words[:first_option], "--help"]


BLOCKS = code_blocks(README.read_text())
BASH = [block for block in BLOCKS if block["language"] == "bash"]


def test_every_block_is_code_that_runs_or_says_why_not():
    assert [block for block in BLOCKS if block["language"] == "python"], "the README shows the library"
    for block in BLOCKS:
        assert block["language"] in ("python", "bash", "text"), f"README line {block['line']}: a block's language"
        mark = block["mark"]
        if mark is not None and block["language"] != "text":
            reason = mark.removeprefix(NOT_RUN).strip()
            assert mark == CHECKED_WITH_HELP or (mark.startswith(NOT_RUN) and reason), (
                f"README line {block['line']}: unknown mark {mark!r}"
            )


def test_the_marks_are_read():
    text = "<!-- not run: no ros2 -->\n```bash\nros2 topic list\n```\n\n```python\nx = 1\n```\n"
    assert [(block["mark"], block["language"]) for block in code_blocks(text)] == [
        ("not run: no ros2", "bash"),
        (None, "python"),
    ]
    assert commands("scripts/demo.sh   # the demo\npython -m a.b x \\\n    --out y\n") == [
        ["scripts/demo.sh"],
        ["python", "-m", "a.b", "x", "--out", "y"],
    ]
    assert help_command(["python", "-m", "a.b", "x", "--out", "y"]) == ["python", "-m", "a.b", "x", "--help"]


@pytest.mark.slow
def test_the_python_blocks_run_in_order(tmp_path):
    program = "\n\n".join(block["code"] for block in BLOCKS if block["language"] == "python")
    script = tmp_path / "readme.py"
    script.write_text(program)
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("block", BASH, ids=[f"line{block['line']}" for block in BASH])
def test_the_bash_blocks_run(block):
    mark = block["mark"]
    if mark is not None and mark.startswith(NOT_RUN):
        pytest.skip(mark)
    if mark == CHECKED_WITH_HELP:
        for words in commands(block["code"]):
            command = help_command(words)
            run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
            assert run.returncode == 0 and "usage" in run.stdout.lower(), (command, run.stderr[-2000:])
        return
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block["code"]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
