"""The tokenizer's command-line tools as a user runs them: training killed with SIGKILL and resumed, deterministic
tokenized files, the benchmark. (The maths is tested in nbs/10_tokenizer.ipynb.)"""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from conftest import taufm_cmd

ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'IN_TEST': '1'}

def run(*args, **kw):
    return subprocess.run(taufm_cmd() + list(args), capture_output=True, text=True, env=ENV, timeout=600, **kw)

def test_train_killed_and_resumed(tmp_path):
    out = tmp_path / 'tok'
    args = ['train-tokenizer', '--data', 'toy:3000', '--preset', 'ci', '--out', str(out), '--epochs', '3',
            '--batch-size', '16', '--quiet']
    p = subprocess.Popen(taufm_cmd() + args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.time()
    while not (out / 'last.pt').exists() and time.time() - t0 < 300 and p.poll() is None: time.sleep(0.05)
    finished_early = p.poll() is not None
    p.send_signal(signal.SIGKILL); p.wait()
    assert (out / 'last.pt').exists(), p.stdout.read()
    if not finished_early: assert not (out / 'DONE').exists()
    h = json.loads((out / 'history.json').read_text())
    assert len(h) < 3 or finished_early
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert finished_early or 'resuming' in r.stdout, r.stdout
    h = json.loads((out / 'history.json').read_text())
    assert [e['epoch'] for e in h] == [0, 1, 2]
    assert (out / 'DONE').exists() and (out / 'model.safetensors').exists()
    r = run(*args)                                     # finished: skipped
    assert r.returncode == 0 and 'skipping' in r.stdout

def test_tokenize_deterministic(tmp_path):
    from taufm_nb.io import synthetic_futaure, write_futaure
    from taufm_nb.tokenizer import load_tokens
    write_futaure(synthetic_futaure(300, seed=5), tmp_path / 'data/z_0_00000.parquet')
    r = run('train-tokenizer', '--data', 'toy:300', '--preset', 'ci', '--out', str(tmp_path / 'tok'), '--epochs', '1', '--quiet')
    assert r.returncode == 0, r.stderr
    outs = []
    for i, chunk in enumerate(('64', '1000')):                 # different chunking, same result
        outs.append(tmp_path / f'tokens{i}.parquet')
        r = run('tokenize', '--tokenizer', str(tmp_path / 'tok'), '--data', str(tmp_path / 'data'), '--out', str(outs[-1]),
                '--chunk-size', chunk)
        assert r.returncode == 0, r.stderr
    (t0, m0, tab0), (t1, m1, tab1) = load_tokens(outs[0]), load_tokens(outs[1])
    assert (t0 == t1).all() and len(t0) == 300 and tab0.to_pandas().equals(tab1.to_pandas())   # NaN-aware
    r = run('tokenize', '--tokenizer', str(tmp_path / 'missing'), '--data', str(tmp_path / 'data'), '--out', str(tmp_path / 'x.parquet'))
    assert r.returncode == 2 and 'not a saved tokenizer' in r.stderr

def test_bench_runs(tmp_path):
    r = run('bench', 'tokenizer', '--jets', '32', '--batch', '16', '--n-codes', '2000', '--devices', 'cpu', '--repeats', '1',
            '--out', str(tmp_path / 'b.json'))
    assert r.returncode == 0, r.stderr
    b = json.loads((tmp_path / 'b.json').read_text())['results']['cpu']
    assert b['same_codes'] and b['distance_matrix_MB_chunked'] <= b['distance_matrix_MB_cdist']

EVIL = """
import os, sys, torch
class Evil:
    def __reduce__(self): return (os.system, ('touch ' + sys.argv[2],))
torch.save({'format_version': 1, 'model': Evil(), 'epoch': 0}, sys.argv[1])
"""

def test_foreign_resume_checkpoint_refused_in_one_line(tmp_path):
    "A malicious last.pt is not executed, and the user gets one line naming it (never a hint to use weights_only=False)."
    out, marker = tmp_path / 'tok', tmp_path / 'pwned'
    out.mkdir()
    subprocess.run([sys.executable, '-c', EVIL, str(out / 'last.pt'), str(marker)], check=True)
    r = run('train-tokenizer', '--data', 'toy:50', '--preset', 'ci', '--out', str(out), '--epochs', '1', '--quiet')
    assert r.returncode == 2 and not marker.exists(), (r.returncode, r.stderr)
    err = r.stderr.strip().splitlines()
    assert err == [f"taufm train-tokenizer: {out / 'last.pt'}: not a taufm tokenizer checkpoint (it pickles Python objects "
                   "(posix.system)); it will not be unpickled. Delete it, or use another output folder, to start afresh"], err
    assert 'weights_only' not in r.stderr and 'Traceback' not in r.stderr
