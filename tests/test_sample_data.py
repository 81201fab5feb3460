"""The sample sets in tasks/data are exactly what their generators (tasks/data/gen) write, and
the generators stay out of the installed packages."""

import filecmp
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tasks" / "data"
GEN = DATA / "gen"


def committed_files() -> set[str]:
    """Every sample file under tasks/data, relative, except the generators and the README."""
    return {
        p.relative_to(DATA).as_posix()
        for p in DATA.rglob("*")
        if p.is_file() and not p.is_relative_to(GEN) and p.name != "README.md"
    }


def test_regenerating_into_a_temporary_folder_gives_the_committed_files(tmp_path):
    done = subprocess.run(
        [sys.executable, str(GEN / "make_samples.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == committed_files()
    differ = [rel for rel in sorted(written) if not filecmp.cmp(tmp_path / rel, DATA / rel, False)]
    assert differ == []


def test_the_committed_samples_pass_their_schema_checks():
    done = subprocess.run(
        [sys.executable, str(GEN / "validate_samples.py")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_wheel_ships_the_samples_but_not_their_generators(tmp_path):
    """setuptools builds the wheel (from a copy of the sources, offline) as pip would."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("suite", "methods", "tasks"):
        shutil.copytree(ROOT / package, src / package, ignore=ignore)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    done = subprocess.run([*cmd, str(src), "-w", str(tmp_path / "dist")], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    (wheel,) = (tmp_path / "dist").glob("qbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"tasks/data/{rel}" for rel in committed_files()} <= names
    assert not [n for n in names if n.startswith("tasks/data/gen/")]
    assert "tasks/real/extract.py" in names
