"""benchmarks/ship.sh: its dry run names scripts, configs and options that exist (so the ship procedure does not rot
while the scripts it calls change), and it refuses to run without its arguments."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIP = REPO / "benchmarks" / "ship.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="benchmarks/ship.sh needs bash")


def _dry_run(*extra: str) -> str:
    out = subprocess.run(["bash", str(SHIP), "lite99", "runs/lite99/model.safetensors", "lite98", "--dry-run", *extra],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _commands(text: str) -> list[list[str]]:
    """Each step's command line(s), split into words (the `sh "..."` steps into their `&&` parts)."""
    cmds = []
    for line in text.splitlines():
        if not line.startswith("   ") or line.startswith("   step "):
            continue
        words = shlex.split(line.strip())
        if words[0] == "sh":
            words = words[1:]
        part: list[str] = []
        for w in words + ["&&"]:
            if w in ("&&", "|"):
                if part:
                    cmds.append(part)
                part = []
            else:
                part.append(w)
    return cmds


def test_dry_run_lists_the_steps_in_order_and_runs_nothing():
    text = _dry_run()
    steps = re.findall(r"^== step (\d+): ", text, flags=re.M)
    assert steps == [str(i) for i in range(1, len(steps) + 1)] and len(steps) >= 10
    assert not (REPO / "benchmarks" / "results" / "experiments" / "lite99").exists()
    assert "degraded_wins_lite98.md" in text and "--new-name lite99" in text
    later = _dry_run("--from", "5")
    assert "== step 4:" not in later and "== step 5:" in later
    part = _dry_run("--from", "2", "--to", "3")
    assert re.findall(r"^== step (\d+): ", part, flags=re.M) == ["2", "3"] and "done (steps 2..3)" in part


def test_every_script_config_and_option_exists():
    from dspfusion.cli import build_parser

    cmds = _commands(_dry_run())
    assert cmds
    checked = 0
    for words in cmds:
        prog = Path(words[0]).name
        if prog.startswith("python"):
            script = REPO / words[1]
            assert script.is_file(), f"ship.sh calls {words[1]}, which does not exist"
            src = script.read_text()
            for opt in (w for w in words[2:] if w.startswith("--")):
                assert f'"{opt}"' in src, f"{words[1]} has no option {opt} (ship.sh passes it)"
            if script.name == "publish_results.py":
                for name in (w for w in words[2:] if not w.startswith("-")):
                    assert f'"{name}"' in src, f"publish_results.py does not know {name}"
            checked += 1
        elif prog == "dspfusion":
            args = words[1:]
            if args[0] == "benchmark":
                assert (REPO / args[1]).is_file(), f"ship.sh benchmarks {args[1]}, which does not exist"
            # the CLI parser accepts the words as they are (argparse exits on an unknown option)
            build_parser().parse_args(args)
            checked += 1
    assert checked >= 15


def test_refuses_without_arguments_or_weights(tmp_path):
    out = subprocess.run(["bash", str(SHIP)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "ship.sh NAME WEIGHTS" in out.stdout
    out = subprocess.run(["bash", str(SHIP), "lite99", str(tmp_path / "missing.safetensors")], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no weights at" in out.stderr
