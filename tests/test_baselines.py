"Baselines (issue #8) outside the notebook: the `taufm bench heads` CLI and the baselines inside the training engine."
import json, subprocess
import pytest
import torch
from conftest import taufm_cmd

def taufm(*args):
    return subprocess.run(taufm_cmd() + list(args), capture_output=True, text=True, timeout=300)

def test_bench_heads_cli(tmp_path):
    out = tmp_path / 'bench.json'
    r = taufm('bench', 'heads', '--preset', 'ci', '--vocab', '34', '--batch', '4', '--particles', '3', '--steps', '1',
              '--models', 'part,omnijet,deepset', '--no-isolate', '--json', str(out))   # isolation: the notebook's test
    assert r.returncode == 0, r.stderr
    assert 'jets/s' in r.stdout
    res = json.loads(out.read_text())
    assert [row['model'] for row in res['results']] == ['part', 'omnijet', 'deepset']
    assert all(row['jets_per_s'] > 0 for row in res['results'])
    assert res['hardware']['cpus'] >= 1

def test_bench_heads_bad_arguments():
    r = taufm('bench', 'heads', '--batch', '0')
    assert r.returncode == 2 and 'must be >= 1' in r.stderr and 'Traceback' not in r.stderr

def _data(n, seed, task):
    from taufm_nb.baselines import toy_jets, toy_tokens
    d = toy_jets(n, seed=seed)
    t = toy_tokens(n, seed=seed)
    assert torch.equal(d['y'], t['y'])                           # same seed: jets and tokens carry the same labels
    d.update(jet_p4=torch.ones(n, 4) * torch.tensor([30., 0., 0., 1.]), tokens=t['tokens'].int(), tok_mask=t['tok_mask'])
    if task == 'pt': d['y'] = d['y'] * 2 - 1                     # log-ratio +-1 set by the jet shape / codes
    return d

@pytest.mark.parametrize('strategy', ['part', 'deepset', 'small_scratch'])
@pytest.mark.parametrize('task', ['tau_id', 'pt'])
def test_baselines_train_in_the_engine(strategy, task):
    "Each baseline runs through taufm_nb.finetune.fit and its validation loss improves on the toy task."
    finetune = pytest.importorskip('taufm_nb.finetune')
    from taufm_nb.baselines import build_baseline
    from taufm_nb.core import seed_everything
    torch.set_num_threads(1)
    seed_everything(0)
    model = build_baseline(strategy, task, 10, 'ci', vocab_size=34)
    cfg = finetune.TrainConfig.preset('ci', epochs=4, batch_size=32, lr=2e-3, lr_min=1e-4, strategy=strategy, device='cpu')
    r = finetune.fit(model, task, _data(256, 1, task), _data(128, 2, task), cfg, progress=False)
    hist = r['history']
    assert len(hist) == 4 and all(h.get('backbone_trainable') is not False for h in hist)   # never frozen
    best = hist[r['best_epoch']]
    if task == 'tau_id': assert max(h['auc'] for h in hist) > 0.9, [h['auc'] for h in hist]      # chance: 0.5
    else: assert best['val_loss'] < 0.25, [h['val_loss'] for h in hist]   # Huber of the best constant guess: 0.5
