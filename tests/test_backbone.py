"`taufm pretrain` as a user runs it: kill-and-resume, and DistributedDataParallel with 2 gloo processes on CPU."
import json, os, signal, subprocess, sys, time
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
