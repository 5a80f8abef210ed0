"""Every notebook in nbs/ runs as a test, each in a fresh process (cells flagged with settings.ini `tst_flags` —
notest, slow, gpu — are skipped unless TAUFM_TEST_FLAGS names them). A failure names the notebook and the cell."""
import os, subprocess, sys
from configparser import ConfigParser
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'

def notebooks():
    out = []
    for p in sorted(NBS.rglob('*.ipynb')):
        rel = p.relative_to(NBS)
        if any(part.startswith(('.', '_')) for part in rel.parts): continue
        if (p.parent / '.notest').exists(): continue
        out.append(p)
    return out

def skip_flags():
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    flags = set(cfg['DEFAULT'].get('tst_flags', '').split())
    return sorted(flags - set(os.environ.get('TAUFM_TEST_FLAGS', '').split()))

RUNNER = """
import sys
from pathlib import Path
from nbdev.test import test_nb
ok, secs = test_nb(Path(sys.argv[1]), skip_flags=sys.argv[2].split(), basepath=sys.argv[3])
print(f'{sys.argv[1]}: {"ok" if ok else "FAILED"} in {secs:.1f} s')
sys.exit(0 if ok else 1)
"""

def test_notebooks_found():
    names = {p.name for p in notebooks()}
    assert {'00_core.ipynb', '90_cli.ipynb', 'index.ipynb'} <= names, names

@pytest.mark.parametrize('nb', notebooks(), ids=lambda p: str(p.relative_to(NBS)))
def test_notebook(nb):
    timeout = int(os.environ.get('TAUFM_NB_TIMEOUT', 900))
    env = {**os.environ, 'IN_TEST': '1', 'MPLBACKEND': 'Agg'}
    try:
        r = subprocess.run([sys.executable, '-c', RUNNER, str(nb), ' '.join(skip_flags()), str(ROOT)],
                           capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f'{nb.name}: did not finish within {timeout} s')
    if r.returncode != 0:
        pytest.fail(f'{nb.name} failed (the traceback names the cell):\n{r.stderr[-6000:]}\n{r.stdout[-2000:]}', pytrace=False)
