"""`taufm grid` end to end: Dask LocalCluster + papermill on a dummy experiment notebook, idempotency, failure
listing, a SIGKILL of the whole grid that loses only the points in flight, no kernel noise on the terminal, and spec
errors (a spec for one scale runs; several problems come in one message). On SLURM: tests/test_slurm.py."""
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import nbformat
import pytest
from conftest import taufm_cmd

pytestmark = pytest.mark.xdist_group('grid')      # Dask clusters: not two at once on a 2-core machine

def dummy_notebook(path: Path, sleep: float = 0.0) -> Path:
    "A papermill template that writes a run folder like the experiment and fails for seed 13."
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("task = 'pt'\nstrategy = 'fine_tuning'\nn_train = 10\nseed = 0\nepochs = 1\nout_dir = '.'",
                                  metadata={'tags': ['parameters']}),
        nbformat.v4.new_code_cell(textwrap.dedent(f"""
            import json, pathlib, time
            time.sleep({sleep})
            if seed == 13: raise ValueError('seed 13 is unlucky')
            d = pathlib.Path(out_dir)
            json.dump(dict(task=task, strategy=strategy, n_train=n_train, seed=seed, epochs=epochs), open(d / 'config.json', 'w'))
            json.dump(dict(best_val_loss=1.0 / n_train), open(d / 'metrics.json', 'w'))
            (d / 'DONE').write_text('')"""))])
    nb.metadata['kernelspec'] = dict(name='python3', display_name='python3', language='python')
    nbformat.write(nb, path)
    return path

def spec(path: Path, seeds) -> Path:
    path.write_text(textwrap.dedent(f"""
        name: demo
        params: {{task: pt, strategy: fine_tuning, epochs: 1}}
        scales:
          ci: {{n_train: [10, 20], seed: {list(seeds)}}}
          mini: {{n_train: [10], seed: [0]}}
          paper: {{n_train: [10], seed: [0]}}
    """))
    return path

def env():
    return {**os.environ, 'IN_TEST': '1', 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1'}

def test_grid_dask_idempotent(tmp_path):
    nb, sp, out = dummy_notebook(tmp_path / 'dummy.ipynb'), spec(tmp_path / 'demo.yaml', [0, 13]), tmp_path / 'runs'
    cmd = [*taufm_cmd(), 'grid', str(sp), '--scale', 'ci', '--notebook', str(nb), '--out', str(out), '--workers', '2']
    r = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr                       # a failed point -> exit 1
    s = json.loads((out / 'grid-demo-ci.json').read_text())
    assert (len(s['done']), len(s['failed']), len(s['skipped'])) == (2, 2, 0), s
    assert all('unlucky' in f['error'] and Path(f['notebook']).exists() for f in s['failed'])
    assert 'FAILED' in r.stdout and 'run.ipynb' in r.stdout
    # the kernels' "Kernel is running over TCP without encryption" warning no longer cuts the progress bar
    assert 'without encryption' not in r.stderr and '4/4' in r.stderr, r.stderr
    assert len(list(out.glob('*/DONE'))) == 2
    r = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=300)
    s = json.loads((out / 'grid-demo-ci.json').read_text())
    assert (len(s['done']), len(s['failed']), len(s['skipped'])) == (0, 2, 2), s   # done skipped, failed retried

def test_grid_kill_loses_only_points_in_flight(tmp_path):
    nb, sp, out = dummy_notebook(tmp_path / 'dummy.ipynb', sleep=0.5), spec(tmp_path / 'demo.yaml', [0, 1]), tmp_path / 'runs'
    cmd = [*taufm_cmd(), 'grid', str(sp), '--scale', 'ci', '--notebook', str(nb), '--out', str(out), '--workers', '1']
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), start_new_session=True)
    t0 = time.time()
    while len(list(out.glob('*/DONE'))) < 1 and time.time() - t0 < 240 and p.poll() is None: time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    done_before = len(list(out.glob('*/DONE')))
    assert 1 <= done_before < 4, done_before
    r = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    s = json.loads((out / 'grid-demo-ci.json').read_text())
    assert len(s['skipped']) == done_before and len(s['done']) == 4 - done_before and not s['failed'], s

def test_grid_bad_spec_is_a_clear_error(tmp_path):
    (tmp_path / 'bad.yaml').write_text('name: x\nparams: {task: pt, strategy: fine_tunning}\nscales: {ci: {}, mini: {}, paper: {}}\n')
    r = subprocess.run([*taufm_cmd(), 'grid', str(tmp_path / 'bad.yaml'), '--scale', 'ci'], capture_output=True, text=True, env=env())
    assert r.returncode == 2 and "strategy: must be one of" in r.stderr, r.stderr

def test_grid_spec_for_one_scale_and_all_problems_at_once(tmp_path):
    nb, out = dummy_notebook(tmp_path / 'dummy.ipynb'), tmp_path / 'runs'
    (tmp_path / 'ci_only.yaml').write_text('name: ci_only\nparams: {task: pt, strategy: fine_tuning, epochs: 1}\n'
                                           'scales: {ci: {n_train: [10], seed: [0]}}\n')
    grid = lambda spec, *a: subprocess.run([*taufm_cmd(), 'grid', str(tmp_path / spec), *a], capture_output=True,
                                           text=True, env=env(), timeout=300)
    r = grid('ci_only.yaml', '--scale', 'ci', '--notebook', str(nb), '--out', str(out), '--workers', '0')
    assert r.returncode == 0 and len(list(out.glob('*/DONE'))) == 1, r.stdout + r.stderr     # only `ci` defined: runs
    r = grid('ci_only.yaml', '--scale', 'mini', '--list')
    assert r.returncode == 2 and "no section for scale 'mini' under 'scales' (this spec defines ['ci'])" in r.stderr, r.stderr
    (tmp_path / 'typos.yaml').write_text(textwrap.dedent("""
        name: typos
        params: {task: pt, stratgy: fine_tuning}
        scales:
          ci: {n_train: [10], seed: [0], epochs: 1, unfreez_epoch: 0}
          mini: {n_train: [0], seed: [0], epochs: 1}
    """))
    r = grid('typos.yaml', '--scale', 'ci', '--list')
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    for part in (f"{tmp_path / 'typos.yaml'}: 3 problems", "params: unknown parameter 'stratgy' (did you mean 'strategy'?)",
                 "scales.ci: unknown parameter 'unfreez_epoch' (did you mean 'unfreeze_epoch'?)",
                 "scales.mini.n_train: must be >= 1, got 0"):
        assert part in r.stderr, (part, r.stderr)
