"""CI hygiene: notebooks are committed clean (`nbdev_clean` leaves no diff) and the library is in sync with them
(`nbdev_export` leaves no diff). Checked on a copy, so the working tree is never touched and nothing races the
notebook tests."""
import filecmp, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

@pytest.fixture(scope='module')
def copy(tmp_path_factory):
    d = tmp_path_factory.mktemp('hygiene')
    for name in ('settings.ini', 'setup.py'): shutil.copy(ROOT / name, d / name)
    shutil.copytree(ROOT / 'nbs', d / 'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints', '_proc'))
    shutil.copytree(ROOT / 'taufm_nb', d / 'taufm_nb', ignore=shutil.ignore_patterns('__pycache__'))
    return d

def changed(a: Path, b: Path, pattern: str):
    return sorted(str(p.relative_to(a)) for p in a.rglob(pattern)
                  if '.ipynb_checkpoints' not in p.parts and '__pycache__' not in p.parts
                  and (not (b / p.relative_to(a)).exists() or not filecmp.cmp(p, b / p.relative_to(a), shallow=False)))

def test_notebooks_are_clean(copy):
    r = subprocess.run([str(BIN / 'nbdev_clean')], cwd=copy, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    diff = changed(copy / 'nbs', ROOT / 'nbs', '*.ipynb')
    assert not diff, f'nbdev_clean changes {diff}: run `make prepare` (or .venv/bin/nbdev_clean) and commit'

def test_library_in_sync_with_notebooks(copy):
    r = subprocess.run([str(BIN / 'nbdev_export')], cwd=copy, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    diff = changed(copy / 'taufm_nb', ROOT / 'taufm_nb', '*.py') + \
           [f'{p} (not exported by any notebook)' for p in changed(ROOT / 'taufm_nb', copy / 'taufm_nb', '*.py')]
    assert not diff, f'nbdev_export changes {diff}: edit the notebooks, not taufm_nb/, then run `make prepare`'
