"""`**` globs over trees with directory links: no hang, each file once, links reported."""

from __future__ import annotations

import glob
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from corpustrace.corpus import expand_inputs
from corpustrace.corpus.recursive_glob import match_parts, recursive_glob


def make_tree(root: Path) -> None:
    for rel in [
        "a.txt",
        "b.jsonl",
        "sub/c.txt",
        "sub/deep/d.txt",
        "sub/.hidden.txt",
        ".dot/e.txt",
        "x/y/z.md",
    ]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"text": rel}) + "\n" if rel.endswith(".jsonl") else rel)


PATTERNS = [
    "**",
    "**/*.txt",
    "sub/**",
    "*/**/*.txt",
    "**/deep/*",
    "x/**/z.md",
    "**/.hidden.txt",
    "s*/**/?.txt",
    "**/[cd].txt",
    ".dot/**",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_matches_like_glob_on_a_tree_without_links(tmp_path: Path, pattern: str) -> None:
    make_tree(tmp_path)
    full = str(tmp_path / pattern)
    expected = sorted(Path(m) for m in glob.glob(full, recursive=True) if os.path.isfile(m))
    root = Path(*Path(full).parts[: len(tmp_path.parts)])
    files, skipped = recursive_glob(full, root)
    assert files == expected and not skipped


def test_match_parts_rules() -> None:
    assert match_parts(("a", "b", "c.txt"), ("**", "*.txt"))
    assert match_parts(("c.txt",), ("**", "*.txt"))
    assert not match_parts((".h", "c.txt"), ("**", "*.txt"))
    assert match_parts((".h", "c.txt"), (".*", "*.txt"))
    assert not match_parts(("a", "b"), ("a",))
    assert match_parts((), ("**",))


def test_link_loops_end_and_are_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tree = tmp_path / "tree"
    make_tree(tree)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.txt").write_text("outside")
    os.symlink(".", tree / "sub" / "loop")
    os.symlink("..", tree / "sub" / "up")
    os.symlink(tree, tree / "x" / "back")
    os.symlink(outside, tree / "elsewhere")
    os.symlink(tree / "a.txt", tree / "sub" / "a-link.txt")  # a file link is read
    # In a child process: on a tree like this glob.glob(recursive=True) never ends.
    code = (
        "import sys, json; from corpustrace.corpus import expand_inputs; "
        "print(json.dumps([str(s.path) for s in expand_inputs([sys.argv[1]])]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(tree / "**")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = [Path(p).relative_to(tree).as_posix() for p in json.loads(run.stdout)]
    assert found == ["a.txt", "b.jsonl", "sub/c.txt", "sub/deep/d.txt", "x/y/z.md"]
    assert "directory links not followed" in run.stderr
    for link in ["sub/loop", "sub/up", "x/back", "elsewhere"]:
        assert str(tree / link) in run.stderr
    with caplog.at_level(logging.WARNING, logger="corpustrace.corpus"):
        sources = expand_inputs([str(tree / "**" / "*.txt")])
    assert [s.path.name for s in sources] == ["a.txt", "c.txt", "d.txt"]  # a-link: same file
    assert "sub/loop" in caplog.text


def test_cli_build_over_a_looping_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    make_tree(tree)
    os.symlink(".", tree / "sub" / "loop")
    os.symlink("..", tree / "sub" / "up")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "corpustrace.cli",
            "build",
            str(tree / "**"),
            "--out",
            str(tmp_path / "ix"),
            "-t",
            "bytes",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "directory links not followed" in run.stderr
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert manifest["totals"]["documents"] == 5
