"""Fine-tuning experiments end to end (issue #6): every task x strategy through papermill at tiny scale, the run
folder layout of CONTRIBUTING, fail-fast parameter checks, and resume after a real SIGKILL."""
import json, os, signal, subprocess, sys, textwrap
from pathlib import Path
import pytest
from conftest import taufm_cmd

TASKS = ('tau_id', 'pt', 'decay_mode')
STRATEGIES = ('from_scratch', 'fixed_backbone', 'fine_tuning', 'fine_tuning_random', 'part', 'small_scratch', 'deepset')
TINY = dict(n_train=40, epochs=2, unfreeze_epoch=1, batch_size=40, device='cpu', scale='ci')
OUTPUTS = ('config.json', 'history.json', 'metrics.json', 'predictions.parquet', 'best.pt', 'run.ipynb', 'loss.png', 'DONE')
TASK_PLOT = {'tau_id': 'roc.png', 'pt': 'pt_response.png', 'decay_mode': 'confusion.png'}
TASK_KEYS = {'tau_id': ('auc', 'misid_at_80'), 'pt': ('response', 'resolution'), 'decay_mode': ('weighted_auc', 'accuracy', 'confusion')}

@pytest.fixture(scope='session', autouse=True)
def one_thread():
    os.environ.setdefault('OMP_NUM_THREADS', '1')

@pytest.mark.parametrize('strategy', STRATEGIES)
@pytest.mark.parametrize('task', TASKS)
def test_experiment_through_papermill(task, strategy, tmp_path):
    from taufm_nb.finetune import run_experiment
    out = run_experiment(dict(TINY, task=task, strategy=strategy), tmp_path / 'run')
    have = {p.name for p in out.iterdir()}
    assert set(OUTPUTS) | {TASK_PLOT[task]} <= have, have
    assert 'ckpt.pt' not in have and '.run.part.ipynb' not in have
    m = json.loads((out / 'metrics.json').read_text())
    for k in ('best_val_loss', 'best_epoch', 'wall_time_s', 'hardware', 'task', 'strategy', 'n_train', 'seed') + TASK_KEYS[task]:
        assert k in m, k
    assert m['task'] == task and m['strategy'] == strategy and m['n_train'] == TINY['n_train']
    hist = json.loads((out / 'history.json').read_text())
    assert [h['epoch'] for h in hist] == [0, 1] and all({'train_loss', 'val_loss', 'lr'} <= set(h) for h in hist)
    assert m['best_val_loss'] == min(h['val_loss'] for h in hist)
    assert json.loads((out / 'config.json').read_text())['strategy'] == strategy
    if strategy == 'fine_tuning': assert [h['backbone_trainable'] for h in hist] == [False, True]
    if strategy == 'fixed_backbone': assert not any(h['backbone_trainable'] for h in hist)
    # a finished folder is skipped: nothing is rewritten
    t = (out / 'metrics.json').stat().st_mtime_ns
    run_experiment(dict(TINY, task=task, strategy=strategy), out)
    assert (out / 'metrics.json').stat().st_mtime_ns == t

def test_invalid_parameters_fail_before_training(tmp_path):
    from taufm_nb.finetune import run_experiment
    from taufm_nb.core import ConfigError
    bad = [(dict(task='charge'), 'unknown task'), (dict(strategy='lora'), 'unknown strategy'),
           (dict(epochs=2, unfreeze_epoch=3), 'unfreeze_epoch=3'), (dict(backbone=str(tmp_path / 'no-backbone')), 'no-backbone'),
           (dict(n_trian=5), 'n_trian')]
    for kw, msg in bad:
        with pytest.raises((ConfigError, FileNotFoundError), match=msg): run_experiment(dict(TINY, **kw), tmp_path / 'r')
        assert not (tmp_path / 'r').exists()            # no kernel was started, nothing written
    with pytest.raises(Exception, match='exceeds'):      # known only once the data is read: still before training
        run_experiment(dict(TINY, n_train=10**7), tmp_path / 'big')
    assert not (tmp_path / 'big' / 'ckpt.pt').exists() and not (tmp_path / 'big' / 'DONE').exists()

def test_cli(tmp_path):
    out = tmp_path / 'cli'
    r = subprocess.run(taufm_cmd() + ['finetune', '--task', 'pt', '--strategy', 'fine_tuning', '--n-train', '40',
                                      '--epochs', '2', '--unfreeze-epoch', '1', '--batch-size', '40', '--scale', 'ci',
                                      '--device', 'cpu', '--out', str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert str(out) in r.stdout and 'resolution=' in r.stdout and (out / 'DONE').exists() and (out / 'run.ipynb').exists()
    r = subprocess.run(taufm_cmd() + ['finetune', '--task', 'pt', '--strategy', 'fine_tuning', '--n-train', '40',
                                      '--epochs', '2', '--unfreeze-epoch', '3', '--scale', 'ci'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and 'unfreeze_epoch=3' in r.stderr and 'Traceback' not in r.stderr

RUN = textwrap.dedent("""
    import os, signal, sys
    from taufm_nb.finetune import run_in_process
    kill = int(sys.argv[2])
    def hook(epoch, rec):
        if epoch == kill: os.kill(os.getpid(), signal.SIGKILL)       # a real kill right after the epoch's checkpoint
    run_in_process(dict(task='pt', strategy='fine_tuning', n_train=60, epochs=4, unfreeze_epoch=2, batch_size=20,
                        lr=1e-3, device='cpu', scale='ci', out_dir=sys.argv[1]), progress=False, on_epoch_end=hook)
""")

def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'IN_TEST': '1'}
    run = lambda out, kill: subprocess.run([sys.executable, '-c', RUN, str(out), str(kill)], env=env, capture_output=True, text=True, timeout=600)
    r = run(tmp_path / 'killed', 1)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-3000:])
    assert (tmp_path / 'killed' / 'ckpt.pt').exists() and not (tmp_path / 'killed' / 'DONE').exists()
    r = run(tmp_path / 'killed', -1); assert r.returncode == 0, r.stderr[-3000:]       # resumes at epoch 2
    r = run(tmp_path / 'straight', -1); assert r.returncode == 0, r.stderr[-3000:]
    a, b = (json.loads((tmp_path / d / 'metrics.json').read_text()) for d in ('killed', 'straight'))
    ha, hb = (json.loads((tmp_path / d / 'history.json').read_text()) for d in ('killed', 'straight'))
    assert [h['val_loss'] for h in ha] == [h['val_loss'] for h in hb] and len(ha) == 4
    for k in ('best_val_loss', 'best_epoch', 'response', 'resolution', 'test_loss'): assert a[k] == b[k], k

def test_parameters_cell_matches_experiment_config():
    "papermill sees every parameter (comments it cannot parse hide a parameter), and they are ExperimentConfig's fields."
    import nbformat
    from papermill.translators import PythonTranslator
    from taufm_nb.finetune import ExperimentConfig, template_path
    cell = next(c for c in nbformat.read(template_path(), 4).cells if 'parameters' in c.metadata.get('tags', []))
    assert [p.name for p in PythonTranslator.inspect(cell)] == list(ExperimentConfig().to_dict())

# --- issue #14: reuse the ci chain's assets, 0 is not the default, a direct papermill run ---
def chain(runs: Path, complete: bool = True) -> Path:
    "runs/reproduce-ci with stand-in assets (and the DONE markers of a finished chain); runs/ci-assets READY beside it."
    from taufm_nb.finetune import toy_assets
    for wd in (runs / 'reproduce-ci', runs / 'ci-assets'): toy_assets(wd, n_jets=200)
    (runs / 'ci-assets' / 'READY').write_text('{}')
    if complete:
        for k in ('tokenizer', 'backbone'): (runs / 'reproduce-ci' / k / 'DONE').write_text('ok\n')
    return runs / 'reproduce-ci'

def test_ci_finetune_reuses_a_complete_chain_and_says_so(tmp_path):
    wd, out = chain(tmp_path / 'runs'), tmp_path / 'run'
    env = {**os.environ, 'TAUFM_RUNS': str(tmp_path / 'runs'), 'OMP_NUM_THREADS': '1'}
    r = subprocess.run(taufm_cmd() + ['finetune', '--task', 'tau_id', '--strategy', 'fine_tuning', '--n-train', '40',
                                      '--epochs', '1', '--unfreeze-epoch', '0', '--batch-size', '40', '--scale', 'ci',
                                      '--device', 'cpu', '--out', str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"assets: data {wd / 'data'}, tokenizer {wd / 'tokenizer'}, backbone {wd / 'backbone'} (the complete ci chain {wd})" in r.stdout, r.stdout
    cfg = json.loads((out / 'config.json').read_text())
    assert (cfg['data'], cfg['tokenizer'], cfg['backbone']) == (str(wd / 'data'), str(wd / 'tokenizer'), str(wd / 'backbone'))

def test_incomplete_chain_is_not_reused(tmp_path):
    from taufm_nb.finetune import ExperimentConfig, resolve_assets
    chain(tmp_path / 'runs', complete=False)
    old = os.environ.get('TAUFM_RUNS'); os.environ['TAUFM_RUNS'] = str(tmp_path / 'runs')
    try: a = resolve_assets(ExperimentConfig(scale='ci'))
    finally:
        if old is None: os.environ.pop('TAUFM_RUNS')
        else: os.environ['TAUFM_RUNS'] = old
    assert a['backbone'] == tmp_path / 'runs' / 'ci-assets' / 'backbone' and 'no complete' in a['origin'], a

def test_zero_epochs_is_an_error_not_the_default(tmp_path):
    r = subprocess.run(taufm_cmd() + ['finetune', '--task', 'pt', '--strategy', 'part', '--n-train', '40', '--epochs', '0',
                                      '--data', str(tmp_path / 'nothing'), '--scale', 'ci'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and 'argument --epochs: must be >= 1, got 0' in r.stderr, r.stderr
    assert not list(tmp_path.iterdir())

def test_direct_papermill_run_names_run_folder_and_links_notebook(tmp_path):
    "`papermill nbs/39_experiment.ipynb OUT.ipynb ...` by hand: the run folder is printed on the terminal and holds run.ipynb."
    from taufm_nb.finetune import template_path, toy_assets
    a = toy_assets(tmp_path / 'assets', n_jets=200)
    (tmp_path / 'pm').mkdir()
    args = ['-p', 'out_dir', 'run', '-p', 'n_train', '40', '-p', 'epochs', '1', '-p', 'unfreeze_epoch', '0', '-p', 'batch_size', '40',
            '-p', 'device', 'cpu', '-p', 'data', str(a['data']), '-p', 'tokenizer', str(a['tokenizer']), '-p', 'backbone', str(a['backbone'])]
    env = {k: v for k, v in os.environ.items() if k not in ('IN_TEST', 'PYTEST_CURRENT_TEST')} | {'OMP_NUM_THREADS': '1'}   # as a user
    r = subprocess.run([str(Path(sys.executable).parent / 'papermill'), str(template_path()), 'pm/out.ipynb', *args],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / 'run'
    assert f'run folder: {run}' in r.stdout + r.stderr, r.stderr[-2000:]
    assert f"executed notebook: {tmp_path / 'pm' / 'out.ipynb'} (linked as {run / 'run.ipynb'})" in r.stdout + r.stderr
    assert (run / 'DONE').exists() and (run / 'run.ipynb').resolve() == tmp_path / 'pm' / 'out.ipynb'
    nb = json.loads((run / 'run.ipynb').read_text())                # the final notebook papermill wrote
    pm = nb['metadata']['papermill']
    assert pm['end_time'] and not pm['exception'] and pm['parameters']['out_dir'] == 'run', pm
