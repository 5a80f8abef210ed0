"""`taufm grid --cluster-config` on a real SLURM scheduler (issue 14).

A single-node cluster on this machine (`tools/slurm_local.sh`: munged + slurmctld + slurmd, partition `local`, Debian
packages installed with apt-get where root), a small ci grid (grids/paper.yaml's ci section filtered to 4 points) run
once on a local Dask cluster and once through SLURM jobs (grids/clusters/slurm-local.yaml), with one worker job
cancelled (`scancel`) while both run a point. The SLURM grid must finish with every point DONE, the cancelled job's
point rerun on the other job, and results bit-identical to the local grid's (same run ids, metrics, training
history, predictions and weights; only paths and timings differ).
Skipped, with the reason, where no cluster can be started (not root, no apt-get, packages not installable).
~1.5 min on 2 cores once the packages are installed (the ci assets are shared with the other tests)."""
import json, os, shutil, subprocess, sys, time
from pathlib import Path
import pytest, yaml
from conftest import ROOT, taufm_cmd

pytestmark = pytest.mark.xdist_group('grid')      # Dask clusters: not two at once on a 2-core machine
SCRIPT = ROOT / 'tools' / 'slurm_local.sh'
TIMING = ('wall_time_s', 'train_time_s')           # the only metrics that may differ, with the paths

@pytest.fixture(scope='module')
def slurm():
    "A running local SLURM cluster; stopped again at the end if this test started it."
    if not shutil.which('bash') or not shutil.which('flock'): pytest.skip('tools/slurm_local.sh needs bash and flock')
    was_up = subprocess.run(['bash', str(SCRIPT), 'status'], capture_output=True, timeout=120).returncode == 0
    try: r = subprocess.run(['bash', str(SCRIPT), 'start'], capture_output=True, text=True, timeout=1500)   # apt: up to ~18 min
    except subprocess.TimeoutExpired: pytest.fail('tools/slurm_local.sh start did not finish in 25 min')
    if r.returncode == 3: pytest.skip(r.stderr.strip().splitlines()[-1].removeprefix('[slurm_local] '))
    assert r.returncode == 0, f'tools/slurm_local.sh start failed:\n{r.stderr[-3000:]}'
    cpus = subprocess.run(['sinfo', '-h', '-p', 'local', '-o', '%c'], capture_output=True, text=True, timeout=30).stdout
    if int(cpus.split()[0].rstrip('+')) < 2:
        if not was_up: subprocess.run(['bash', str(SCRIPT), 'stop'], capture_output=True, timeout=120)
        pytest.skip(f'the local SLURM node has {cpus.strip()} CPU(s); the test runs two 1-core worker jobs at once')
    yield
    if not was_up: subprocess.run(['bash', str(SCRIPT), 'stop'], capture_output=True, timeout=120)

def small_ci_spec(path: Path) -> Path:
    "grids/paper.yaml at ci, filtered to 4 points: tau_id and pt x fine_tuning (frozen, then unfrozen) x 2 seeds."
    paper = yaml.safe_load((ROOT / 'grids' / 'paper.yaml').read_text())
    ci = {**paper['params'], **paper['scales']['ci']}
    ci.update(task=['tau_id', 'pt'], strategy='fine_tuning', n_train=min(ci['n_train']), seed=[0, 1])
    path.write_text(yaml.safe_dump(dict(name='slurm_ci', description='4 points of the ci paper grid',
                                        scales={'ci': ci})))                      # only the scale it runs
    return path

def env():
    return {**os.environ, 'IN_TEST': '1', 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1'}

def squeue(name: str) -> list[tuple[str, str]]:
    r = subprocess.run(['squeue', '-h', '-n', name, '-o', '%i %T'], capture_output=True, text=True, timeout=30)
    return [tuple(line.split()) for line in r.stdout.splitlines() if line.strip()]

def state(out: Path):
    "(DONE run ids, run ids in flight) of a grid's output folder."
    dirs = [d for d in out.iterdir() if d.is_dir()] if out.exists() else []
    return {d.name for d in dirs if (d / 'DONE').exists()}, {d.name for d in dirs if not (d / 'DONE').exists()}

def same_run(a: Path, b: Path):
    "The run folders a and b hold the same results, bit for bit (paths and timings aside)."
    import torch, pyarrow.parquet as pq
    ma, mb = (json.loads((d / 'metrics.json').read_text()) for d in (a, b))
    for m, d in ((ma, a), (mb, b)):
        assert m.pop('out_dir') == str(d)
        for k in TIMING: m.pop(k)
    # repr of every float: bit-identical (NaN == NaN, 0.0 != -0.0), not just close
    assert json.dumps(ma, sort_keys=True) == json.dumps(mb, sort_keys=True), a.name
    assert (a / 'history.json').read_text() == (b / 'history.json').read_text(), a.name
    pa_, pb = (pq.read_table(d / 'predictions.parquet') for d in (a, b))
    assert pa_.schema == pb.schema and pa_.num_rows == pb.num_rows, a.name
    for col in pa_.schema.names:                                     # floats compared as bits (NaN where NaN)
        x, y = pa_[col].to_numpy(zero_copy_only=False), pb[col].to_numpy(zero_copy_only=False)
        same = x.view(f'u{x.itemsize}') == y.view(f'u{y.itemsize}') if x.dtype.kind == 'f' else x == y
        assert same.all(), (a.name, col)
    wa, wb = (torch.load(d / 'best.pt', map_location='cpu', weights_only=False)['state_dict'] for d in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), a.name

def test_grid_on_slurm_matches_local_and_survives_scancel(slurm, tmp_path):
    from taufm_nb.finetune import ci_assets
    ci_assets()                                     # built once (file-locked) for all tests, before the grids start
    spec = small_ci_spec(tmp_path / 'slurm_ci.yaml')
    grid = [*taufm_cmd(), 'grid', str(spec), '--scale', 'ci']

    # the reference: a local Dask cluster of 2 single-threaded workers
    t0 = time.time()
    r = subprocess.run([*grid, '--out', str(tmp_path / 'local'), '--workers', '2'], capture_output=True, text=True,
                       env=env(), timeout=600)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    t_local = time.time() - t0
    local = json.loads((tmp_path / 'local' / 'grid-slurm_ci-ci.json').read_text())
    assert len(local['done']) == 4 and not local['failed'], local

    # the same through SLURM: 2 jobs of 1 core, each a single-threaded Dask worker
    name = f'taufm-test-{os.getpid()}'
    cfg = yaml.safe_load((ROOT / 'grids' / 'clusters' / 'slurm-local.yaml').read_text())
    cfg['options'].update(job_name=name, log_directory=str(tmp_path / 'slurm-logs'))
    (tmp_path / 'cluster.yaml').write_text(yaml.safe_dump(cfg))
    out = tmp_path / 'slurm'
    t0 = time.time()
    with open(tmp_path / 'grid.out', 'w') as so, open(tmp_path / 'grid.err', 'w') as se:
        p = subprocess.Popen([*grid, '--out', str(out), '--cluster-config', str(tmp_path / 'cluster.yaml')],
                             stdout=so, stderr=se, env=env())
    log = lambda: (tmp_path / 'grid.out').read_text()[-3000:] + (tmp_path / 'grid.err').read_text()[-3000:]
    try:
        # mid-grid: a point finished and both workers busy (each runs one point at a time), so the job cancelled
        # holds a point in flight
        cancelled = None
        while time.time() - t0 < 300 and p.poll() is None:
            done, flight = state(out)
            running = [j for j, st in squeue(name) if st == 'RUNNING']
            if done and len(flight) == 2 and len(running) == 2:
                cancelled, in_flight, done_before = running[0], flight, done
                subprocess.run(['scancel', cancelled], check=True, timeout=30)
                break
            time.sleep(0.1)
        assert cancelled, f'never saw a finished point and two busy jobs: {state(out)}, {squeue(name)}\n{log()}'
        rc = p.wait(timeout=600)
    finally:
        if p.poll() is None: p.kill(); p.wait()
    t_slurm = time.time() - t0
    assert rc == 0, log()
    s = json.loads((out / 'grid-slurm_ci-ci.json').read_text())
    assert len(s['done']) == 4 and not s['failed'] and not s['skipped'], s
    jobs = {d['run_id']: d['worker'].get('slurm_job') for d in s['done']}
    assert all(jobs.values()), jobs                                   # every point ran in a SLURM job
    assert all(jobs[rid] != cancelled for rid in in_flight), (cancelled, in_flight, jobs)   # rerun elsewhere
    assert len(set(jobs.values()) - {cancelled}) == 1, jobs          # the surviving job did the rest
    assert all((out / rid / 'DONE').exists() and not (out / rid / 'grid_error.json').exists() for rid in jobs)
    assert 'without encryption' not in log()                          # no kernel noise in the progress bar

    # bit-identical to the local grid: same run ids, same results
    assert sorted(jobs) == sorted(local['points']) == sorted(s['points'])
    for rid in jobs: same_run(tmp_path / 'local' / rid, out / rid)

    t_end = time.time()
    while squeue(name) and time.time() - t_end < 60: time.sleep(0.5)  # cluster.close() cancels the last job
    assert not squeue(name), squeue(name)
    print(f'local grid {t_local:.0f} s, SLURM grid {t_slurm:.0f} s; cancelled job {cancelled} with {sorted(in_flight)} '
          f'in flight after {sorted(done_before)}; {dict(sorted(jobs.items()))}')
