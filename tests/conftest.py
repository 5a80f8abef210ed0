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
