"""`taufm generate` as a user runs it: the CLI, a hard kill in the middle of a sample and the resume, and the
chain stage at ci scale. Kept small: a few hundred events."""
import os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import taufm_cmd

pytestmark = pytest.mark.xdist_group('generate')

def taufm(*args, **kw):
    return subprocess.run(taufm_cmd() + list(args), capture_output=True, text=True, timeout=600, **kw)

def test_cli_generate_and_inspect_names(tmp_path):
    r = taufm('generate', '--process', 'qq', '--n-events', '40', '--seed', '5', '--out', str(tmp_path), '--workers', '1',
              '--chunk-size', '20')
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.glob('*.parquet')) == ['qq_5_00000.parquet', 'qq_5_00001.parquet']

def test_cli_bad_input_is_a_clear_error(tmp_path):
    r = taufm('generate', '--process', 'wjets', '--n-events', '10', '--out', str(tmp_path))
    assert r.returncode == 2 and 'invalid choice' in r.stderr and 'Traceback' not in r.stderr

def test_kill_and_resume_gives_the_same_files(tmp_path):
    "SIGKILL a two-worker run after its first chunk; the rerun completes it, and the files equal a clean run's."
    args = ['generate', '--process', 'ztautau', '--n-events', '80', '--seed', '9', '--chunk-size', '20']
    p = subprocess.Popen(taufm_cmd() + args + ['--out', str(tmp_path / 'a'), '--workers', '2'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(1200):
        if list((tmp_path / 'a').glob('z_*.parquet')) or p.poll() is not None: break
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    assert not [f for f in (tmp_path / 'a').glob('z_*.parquet') if f.stat().st_size == 0]
    r = taufm(*args, '--out', str(tmp_path / 'a'), '--workers', '2')
    assert r.returncode == 0, r.stderr
    r = taufm(*args, '--out', str(tmp_path / 'b'), '--workers', '1')
    assert r.returncode == 0, r.stderr
    a = sorted((tmp_path / 'a').glob('z_*.parquet')); b = sorted((tmp_path / 'b').glob('z_*.parquet'))
    assert [f.name for f in a] == [f.name for f in b] and len(a) == 4
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))      # independent of workers and of the kill

def test_run_stage_ci(tmp_path):
    import awkward as ak
    from taufm_nb.core import load_json
    from taufm_nb.generate import run_stage, STAGE_EVENTS, CORPUS_EVENTS, corpus_dir
    from taufm_nb.io import read_futaure, read_jetclass
    s = run_stage('ci', tmp_path)
    assert set(s) == set(STAGE_EVENTS['ci']) | {f'corpus/{p}' for p in CORPUS_EVENTS['ci']}
    for proc in ('ztautau', 'qq'): assert len(read_futaure(tmp_path / 'data' / proc)) > 20, proc
    for proc in ('pp-qcd', 'pp-ttbar'): assert len(read_jetclass(tmp_path / 'data' / proc)['jet_pt']) > 10, proc
    # the unlabeled e+e- corpus: every reco jet, seed + 1000, outside data/, no jet in common with the task samples
    for proc, prefix in (('ztautau', 'z'), ('qq', 'qq')):
        d = corpus_dir(tmp_path, proc)
        assert d == tmp_path / 'corpus' / 'ee' / proc
        n_chunks = -(-CORPUS_EVENTS['ci'][proc] // 100)
        assert sorted(p.name for p in d.glob('*.parquet')) == [f'{prefix}_1001_{k:05d}.parquet' for k in range(n_chunks)]
        assert load_json(d / f'generation_{proc}_1001.json')['sample'] == 'all'
        p4 = lambda rows: {tuple(round(float(v), 4) for v in (j.x, j.y, j.z)) for j in rows.reco_jet_p4s}
        corpus, task = read_futaure(d), read_futaure(tmp_path / 'data' / proc)
        assert len(corpus) > 100 and not p4(corpus) & p4(task), proc
    z = read_futaure(corpus_dir(tmp_path, 'ztautau')).gen_jet_tau_decaymode
    assert ak.any(z < 0) and ak.any(z >= 0)                        # tau jets and the other jets of the events
    assert not list((tmp_path / 'data').rglob('*_1001_*'))
    assert all(v['generated_chunks'] == 0 for v in run_stage('ci', tmp_path).values())   # second call: nothing to do
