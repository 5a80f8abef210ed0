"""`make test`: run the whole suite through pytest and end with one line `N passed, N failed[, N skipped]`.

The suite (tests/) holds: notebook hygiene (nbdev_clean / nbdev_export leave no diff), every notebook in nbs/ run as
a test (a failure names the notebook and the cell), and plain pytest tests (CLI, failure injection, docs in Chromium).
Extra arguments go to pytest, e.g. `python tools/run_tests.py -k core`.
"""
import os, subprocess, sys, tempfile, time
import xml.etree.ElementTree as ET
from pathlib import Path

root = Path(__file__).resolve().parents[1]
os.chdir(root)
env = {**os.environ, 'IN_TEST': '1', 'PYTHONUNBUFFERED': '1', 'MPLBACKEND': 'Agg',
       'TAUFM_RUNS': os.environ.get('TAUFM_TEST_RUNS', str(root / 'runs' / 'test')), 'OMP_NUM_THREADS': '1',
       # figures drawn under tests (tiny, synthetic) must never overwrite the committed ones in figures/
       'TAUFM_FIGURES': os.environ.get('TAUFM_TEST_FIGURES', tempfile.mkdtemp(prefix='taufm-test-figures-'))}
env.pop('TAUFM_SCALE', None)
workers = os.environ.get('TAUFM_TEST_WORKERS', str(min(2, os.cpu_count() or 1)))
xml = Path(tempfile.mkdtemp()) / 'junit.xml'
t0 = time.time()
cmd = [sys.executable, '-m', 'pytest', 'tests', '-n', workers, '--dist', 'loadgroup', f'--junitxml={xml}', '-rfEs',
       '--durations=15', *sys.argv[1:]]
rc = subprocess.call(cmd, env=env)
passed = failed = skipped = 0
if xml.exists():
    for case in ET.parse(xml).getroot().iter('testcase'):
        kinds = {c.tag for c in case}
        if kinds & {'failure', 'error'}: failed += 1
        elif 'skipped' in kinds: skipped += 1
        else: passed += 1
if rc not in (0, 1) and failed == 0: failed = 1          # collection/internal error, or no test ran (exit 5)
print(f'\nmake test took {time.time() - t0:.0f} s')
print(f'{passed} passed, {failed} failed' + (f', {skipped} skipped' if skipped else ''))
sys.exit(0 if rc == 0 else 1)
