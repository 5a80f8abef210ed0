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

# --- the chain's tokenizer on generated data (issue 13): tau jets represented, deterministic reruns ---

@pytest.fixture(scope='module')
def ci_data(tmp_path_factory):
    "The ci samples and the unlabeled e+e- corpus of the generate stage (Pythia), generated once for this module."
    from taufm_nb.generate import run_stage
    wd = tmp_path_factory.mktemp('ci-data')
    run_stage('ci', wd)
    return wd

from helpers import same_state

def archive_names(path):
    "Record names in a torch.save file: `archive/...` when written by taufm_nb.core.save_torch (no temporary name)."
    import zipfile
    names = zipfile.ZipFile(path).namelist()
    assert all(n.startswith('archive/') for n in names), names[:3]
    return names

def workdir_with(data, wd):
    wd.mkdir(parents=True)
    for k in ('data', 'corpus'): (wd / k).symlink_to(data / k)
    return wd

@pytest.mark.longest
def test_ci_tokenizer_represents_tau_jets_and_reruns_bit_identically(ci_data, tmp_path):
    import torch
    from taufm_nb.core import load_json
    from taufm_nb.tokenizer import run_stage, load_tokenizer, load_tokens
    a, b = workdir_with(ci_data, tmp_path / 'a'), workdir_with(ci_data, tmp_path / 'b')
    sa = run_stage('ci', a, device='cpu')
    assert sa['corpus'] == 'pp+ee' and sa['training_jets']['ee'] > sa['training_jets']['pp'] > 100, sa
    q = load_json(a / 'tokenizer' / 'quality.json')
    assert q['corpus'] == 'pp+ee' and set(q['samples']) == {'pp', 'ee-corpus', 'tau', 'qg'}, q
    pp, tau, qg = (q['samples'][k] for k in ('pp', 'tau', 'qg'))
    # the paper's finding (Sec. 3.1, Fig. 2): tau jets are reconstructed no worse than the pretraining (pp) jets
    assert tau['res_pt'] <= pp['res_pt'] and qg['res_pt'] <= pp['res_pt'], q['samples']
    # PID: tau jets hold 3.4% electrons (pp jets 0.7%), for which the 256-code ci codebook keeps no code (measured:
    # tau 0.967-0.968 vs pp 0.986-0.992 over 4 seeds); at mini (1024 codes) tau 0.997 vs pp 0.993
    assert tau['pid_acc'] >= pp['pid_acc'] - 0.035 and tau['usage'] > 0.3, q['samples']
    # the unlabeled corpus is tokenized without its labels
    t, m, tab = load_tokens(a / 'tokens' / 'ee-corpus.parquet')
    assert len(t) == sa['training_jets']['ee'] and (np.asarray(tab['label']) == -1).all()
    assert (np.asarray(tab['decay_mode']) == -1).all() and np.isnan(np.asarray(tab['gen_vis_pt'])).all()
    # determinism: the same stage in another folder gives the same weights, checkpoint bytes and tokens
    run_stage('ci', b, device='cpu')
    wa, wb = load_tokenizer(a / 'tokenizer').state_dict(), load_tokenizer(b / 'tokenizer').state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert (a / 'tokenizer' / 'model.safetensors').read_bytes() == (b / 'tokenizer' / 'model.safetensors').read_bytes()
    strip = lambda h: [{k: v for k, v in e.items() if k != 'seconds'} for e in h]      # identical but for the timing
    assert strip(load_json(a / 'tokenizer' / 'history.json')) == strip(load_json(b / 'tokenizer' / 'history.json'))
    ca, cb = (torch.load(w / 'tokenizer' / 'last.pt', weights_only=True) for w in (a, b))
    assert strip(json.loads(ca.pop('history'))) == strip(json.loads(cb.pop('history')))
    assert same_state(ca, cb) and archive_names(a / 'tokenizer' / 'last.pt') == archive_names(b / 'tokenizer' / 'last.pt')
    for f in sorted((a / 'tokens').iterdir()):
        assert f.read_bytes() == (b / 'tokens' / f.name).read_bytes(), f.name
    # the paper's protocol (pp jets only) stays available, and garbles the tau jets that pp+ee represents
    p = workdir_with(ci_data, tmp_path / 'pp')
    assert run_stage('ci', p, device='cpu', corpus='pp')['corpus'] == 'pp'
    qp = load_json(p / 'tokenizer' / 'quality.json')
    assert qp['corpus'] == 'pp' and 'ee-corpus' not in qp['samples'] and load_tokenizer(p / 'tokenizer').cfg.corpus == 'pp'
    assert qp['samples']['tau']['res_pt'] > tau['res_pt'] and qp['samples']['tau']['pid_acc'] < tau['pid_acc'], (qp, q)
