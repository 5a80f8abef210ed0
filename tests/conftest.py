import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault('IN_TEST', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')

@pytest.fixture
def root(): return ROOT

def taufm_cmd():
    "The taufm console script of this environment."
    exe = Path(sys.executable).parent / 'taufm'
    return [str(exe)] if exe.exists() else [sys.executable, '-c', 'import sys; from taufm_nb.cli import main; sys.exit(main())']

@pytest.fixture(autouse=True)
def _serialise_group(request):
    """Tests marked `xdist_group(NAME)` never run at the same time on two xdist workers: with pytest 9 the xdist
    `loadgroup` scheduling no longer keeps a group on one worker, so an exclusive file lock per group does it."""
    m = request.node.get_closest_marker('xdist_group')
    if m is None or not m.args:
        yield; return
    import fcntl, tempfile
    with open(Path(tempfile.gettempdir()) / f'taufm-test-group-{m.args[0]}.lock', 'w') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try: yield
        finally: fcntl.flock(f, fcntl.LOCK_UN)

def pytest_configure(config):
    config.addinivalue_line('markers', 'longest: a test of several minutes, started first so that it is not the tail of the run')

def pytest_collection_modifyitems(config, items):
    """The `longest` tests first, the other `xdist_group('grid')` tests last (stable order otherwise): while one xdist
    worker runs the ci chain the other works through the rest instead of waiting for the grid lock."""
    def key(it):
        g = it.get_closest_marker('xdist_group')
        return (it.get_closest_marker('longest') is None, bool(g and g.args and g.args[0] == 'grid'))
    items.sort(key=key)
