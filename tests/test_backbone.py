"`taufm pretrain` as a user runs it: kill-and-resume, and DistributedDataParallel with 2 gloo processes on CPU."
import json, os, signal, subprocess, sys, time, zipfile
from pathlib import Path
import pytest
import torch
from conftest import taufm_cmd
from taufm_nb.backbone import (BackboneConfig, PretrainConfig, load_backbone, pretrain, read_tokens, toy_tokens,
                               write_token_file)

ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'TAUFM_DEVICE': 'cpu'}

@pytest.fixture
def tokens(tmp_path):
    tk, tm = toy_tokens(1200, n_codes=16, max_particles=20, seed=3)
    return write_token_file(tmp_path / 'toy.parquet', tk, tm)

def pretrain_cmd(tok, out, *extra):
    return taufm_cmd() + ['pretrain', '--tokens', str(tok), '--preset', 'ci', '--out', str(out), '--no-progress',
                          '--device', 'cpu', *extra]

def in_process(tok, out, **over):
    "What `taufm pretrain --preset ci` does, run in this process on one thread (the reference run)."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        cfg = PretrainConfig.preset('ci', **over)
        tk, tm = read_tokens(tok, max_jets=cfg.max_jets)
        pretrain(tk, tm, BackboneConfig.preset('ci', vocab_size=int(tk[tm].max()) + 1), cfg, out, device='cpu', progress=False)
    finally: torch.set_num_threads(n)
    return load_backbone(out).state_dict()

def test_kill_and_resume_reproduces_uninterrupted_run(tokens, tmp_path):
    over, args = dict(epochs=3, optimizer='ranger', max_jets=500), ('--epochs', '3', '--optimizer', 'ranger', '--max-jets', '500')
    p = subprocess.Popen(pretrain_cmd(tokens, tmp_path / 'killed', *args), env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ck, t0 = tmp_path / 'killed' / 'ckpt.pt', time.time()
    while not ck.exists() and p.poll() is None and time.time() - t0 < 120: time.sleep(0.02)
    p.send_signal(signal.SIGKILL); p.wait()
    assert not (tmp_path / 'killed' / 'DONE').exists(), 'the run finished before it could be killed'
    assert torch.load(ck, weights_only=True)['epoch'] < 2
    r = subprocess.run(pretrain_cmd(tokens, tmp_path / 'killed', *args), env=ENV,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f'resuming from {ck} after epoch' in r.stdout
    a, b = in_process(tokens, tmp_path / 'full', **over), load_backbone(tmp_path / 'killed').state_dict()
    for k in a: assert torch.equal(a[k], b[k]), k

def test_ddp_two_gloo_processes_match_single_process(tokens, tmp_path):
    torchrun = Path(sys.executable).parent / 'torchrun'
    if not torchrun.exists(): pytest.skip('torchrun not installed')
    cmd = [str(torchrun), '--standalone', '--nproc_per_node=2', '--no-python'] + pretrain_cmd(
        tokens, tmp_path / 'ddp', '--epochs', '1', '--max-jets', '400', '--batch-size', '32')
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((tmp_path / 'ddp' / 'metrics.json').read_text())['world_size'] == 2
    # the two ranks split each global batch of 32 jets: same gradients as one process with batch 32
    a, b = in_process(tokens, tmp_path / 'single', epochs=1, max_jets=400, batch_size=32), load_backbone(tmp_path / 'ddp').state_dict()
    for k in a: torch.testing.assert_close(a[k], b[k], atol=2e-4, rtol=1e-3, msg=k)

EVIL = """
import os, sys, torch
class Evil:
    def __reduce__(self): return (os.system, ('touch ' + sys.argv[2],))
torch.save({'model': Evil(), 'epoch': 0}, sys.argv[1])
"""

def test_foreign_resume_checkpoint_refused_in_one_line(tokens, tmp_path):
    "A malicious ckpt.pt is not executed, and the user gets one line naming it (never a hint to use weights_only=False)."
    out, marker = tmp_path / 'bb', tmp_path / 'pwned'
    out.mkdir()
    subprocess.run([sys.executable, '-c', EVIL, str(out / 'ckpt.pt'), str(marker)], check=True)
    r = subprocess.run(pretrain_cmd(tokens, out, '--epochs', '1'), env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and not marker.exists(), (r.returncode, r.stderr)
    err = r.stderr.strip().splitlines()
    assert err == [f"taufm pretrain: {out / 'ckpt.pt'}: not a taufm backbone checkpoint (it pickles Python objects "
                   "(posix.system)); it will not be unpickled. Delete it, or use another output folder, to start afresh"], err
    assert 'weights_only' not in r.stderr and 'Traceback' not in r.stderr

# --- the chain's backbones on generated data (issue 13): backbone/, backbone-ee/ (DAPT), backbone-corpus0.1|0.3/ ---

BACKBONES = ('backbone', 'backbone-ee', 'backbone-corpus0.1', 'backbone-corpus0.3')

def untimed(history): return [{k: v for k, v in h.items() if k not in ('seconds', 'tokens_per_s')} for h in history]

from helpers import same_state

@pytest.fixture(scope='module')
def ci_tokens(tmp_path_factory):
    "Data, e+e- corpus, tokenizer and tokens of the ci chain (generate and tokenizer stages), built once for this module."
    from taufm_nb import generate, tokenizer
    wd = tmp_path_factory.mktemp('ci-tokens')
    generate.run_stage('ci', wd); tokenizer.run_stage('ci', wd, device='cpu')
    return wd

def test_ci_backbones_pretrained_continued_ablated_and_bit_identical(ci_tokens, tmp_path, monkeypatch):
    from taufm_nb.backbone import run_stage, weights_sha256
    from taufm_nb.core import load_json
    monkeypatch.setenv('TAUFM_DEVICE', 'cpu')
    runs = {}
    for k in ('a', 'b'):
        wd = tmp_path / k; wd.mkdir()
        for f in ('tokens', 'tokenizer'): (wd / f).symlink_to(ci_tokens / f)
        runs[k] = (wd, run_stage('ci', wd))
    (a, s), (b, _) = runs['a'], runs['b']
    m = {n: load_json(a / n / 'metrics.json') for n in BACKBONES}
    for n in BACKBONES:
        assert (a / n / 'DONE').exists() and load_backbone(a / n).cfg == load_backbone(a / 'backbone').cfg, n
        nt = load_json(a / n / 'next_token.json')['samples']
        assert set(nt) == {'pp', 'tau', 'qg'} and all(v['n_targets'] > 100 for v in nt.values()), (n, nt)
    # continued pretraining starts from backbone/'s weights and lowers the loss on the e+e- corpus
    assert m['backbone-ee']['init_sha256'] == weights_sha256(a / 'backbone') and m['backbone-ee']['init_from'] == str(a / 'backbone')
    assert m['backbone-ee']['final_val_loss'] < m['backbone-ee']['init_val_loss'], m['backbone-ee']
    assert m['backbone-ee']['epochs'] == m['backbone']['dapt_epochs']
    nt = {n: load_json(a / n / 'next_token.json')['samples'] for n in ('backbone', 'backbone-ee')}
    for smp in ('tau', 'qg'): assert nt['backbone-ee'][smp]['next_token_loss'] < nt['backbone'][smp]['next_token_loss'], nt
    # the corpus-size ablation: fractions of the same training jets, judged on the same validation jets
    for f in (0.1, 0.3):
        mf = m[f'backbone-corpus{f:g}']
        assert mf['corpus_fraction'] == f and abs(mf['n_train'] - f * m['backbone']['n_train']) <= 1, mf
        assert mf['n_val'] == m['backbone']['n_val'] and mf['unigram_entropy'] == m['backbone']['unigram_entropy']
    assert s['backbone-ee']['next_token'] and s['final_val_loss'] == m['backbone']['final_val_loss']
    # rerun in another folder on CPU: the same weights and the same checkpoint bytes
    for n in BACKBONES:
        wa, wb = load_backbone(a / n).state_dict(), load_backbone(b / n).state_dict()
        assert all(torch.equal(wa[k], wb[k]) for k in wa), (n, [k for k in wa if not torch.equal(wa[k], wb[k])])
        ca, cb = (torch.load(w / n / 'ckpt.pt', weights_only=True) for w in (a, b))
        assert untimed(ca.pop('history')) == untimed(cb.pop('history')), n            # the same but for wall-clock times
        ca['init'], cb['init'] = [{**(c['init'] or {}), 'from': None} for c in (ca, cb)]  # the two folders' own backbone/
        assert same_state(ca, cb), n
        names = zipfile.ZipFile(a / n / 'ckpt.pt').namelist()                         # save_torch: no temporary file name
        assert names == zipfile.ZipFile(b / n / 'ckpt.pt').namelist() and all(x.startswith('archive/') for x in names)
        assert (a / n / 'backbone.safetensors').read_bytes() == (b / n / 'backbone.safetensors').read_bytes(), n
    assert run_stage('ci', a)['backbone-ee']['skipped']                         # finished: every folder skipped

def test_continued_pretraining_resumes_and_refuses_other_start_weights(tmp_path):
    tk, tm = toy_tokens(600, n_codes=16, max_particles=20, seed=4)
    mcfg, cfg = BackboneConfig.preset('ci', vocab_size=18), PretrainConfig.preset('ci', epochs=2, max_jets=None)
    pretrain(tk, tm, mcfg, cfg.replace(epochs=1), tmp_path / 'base', device='cpu', progress=False)
    pretrain(tk, tm, mcfg, cfg.replace(epochs=1, seed=1), tmp_path / 'other', device='cpu', progress=False)
    ee, em = toy_tokens(400, n_codes=16, max_particles=6, seed=5)
    pretrain(ee, em, mcfg, cfg, tmp_path / 'full', device='cpu', progress=False, init_from=tmp_path / 'base')
    pretrain(ee, em, mcfg, cfg, tmp_path / 'killed', device='cpu', progress=False, init_from=tmp_path / 'base', stop_after_epochs=1)
    assert not (tmp_path / 'killed' / 'DONE').exists()
    with pytest.raises(ValueError, match='started from other weights'):
        pretrain(ee, em, mcfg, cfg, tmp_path / 'killed', device='cpu', progress=False, init_from=tmp_path / 'other')
    with pytest.raises(ValueError, match='started from other weights'):        # nor from scratch
        pretrain(ee, em, mcfg, cfg, tmp_path / 'killed', device='cpu', progress=False)
    pretrain(ee, em, mcfg, cfg, tmp_path / 'killed', device='cpu', progress=False, init_from=tmp_path / 'base')
    a, b = load_backbone(tmp_path / 'full').state_dict(), load_backbone(tmp_path / 'killed').state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match='another shape'):
        pretrain(ee, em, BackboneConfig.preset('ci', vocab_size=18, n_embd=16), cfg, tmp_path / 'x', device='cpu',
                 progress=False, init_from=tmp_path / 'base')
