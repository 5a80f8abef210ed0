"""tools/gpu_check.py (the paper-scale GPU check of issue 14) never runs on a CPU-only machine: it says so and exits 2."""
import subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def test_gpu_check_refuses_without_cuda():
    import torch
    if torch.cuda.is_available(): pytest.skip('a CUDA device is here: run tools/gpu_check.py itself')
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'gpu_check.py'), '--skip-chain'], capture_output=True, text=True)
    assert r.returncode == 2 and 'no CUDA device' in r.stderr, (r.returncode, r.stderr)
