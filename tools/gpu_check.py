"""GPU check for the paper scale (issue 14): on a CUDA machine, in a few minutes,

1. runs the ci chain (`taufm reproduce --scale ci`) with the GPU as device, in a scratch folder;
2. times one pretraining step and one fine-tuning step of the *paper* presets (GPT 3 x 256, 32002 tokens, batch 256
   for pretraining; head 2 + 2 blocks x 256, batch 4096 at 16 candidates for fine-tuning) in bf16 autocast with
   PyTorch's scaled-dot-product attention (flash kernels where the GPU has them), reporting tokens/s, step time,
   peak memory and model-FLOP utilisation (MFU = model FLOPs per second / the GPU's bf16 dense peak).

Usage:  .venv/bin/python tools/gpu_check.py [--skip-chain] [--steps 20] [--peak-tflops 989] [--out gpu_check.json]
Without a CUDA device it says so and exits 2 (it never runs on CPU: tests must not depend on a GPU).
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEAK_BF16_TFLOPS = {'H100': 989., 'H200': 989., 'A100': 312., 'L40S': 362., 'A10': 125., 'V100': 125.}   # dense bf16/fp16


def peak_of(name: str, given: float | None) -> float | None:
    if given: return given
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def time_steps(step, steps: int, warmup: int = 3):
    import torch
    for _ in range(warmup): step()
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); t0 = time.perf_counter()
    for _ in range(steps): step()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps, torch.cuda.max_memory_allocated() / 2**30


def pretrain_step(steps: int, mean_len: int = 65, batch: int = 256):
    import torch
    from taufm_nb.backbone import Backbone, BackboneConfig, _train_flops
    cfg = BackboneConfig.preset('paper', vocab_size=32002)
    model = Backbone(cfg).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    g = torch.Generator().manual_seed(0)
    L = cfg.max_len
    lens = torch.clamp(torch.poisson(torch.full((batch,), float(mean_len)), generator=g).long(), 3, L)
    mask = torch.arange(L)[None] < lens[:, None]
    tokens = torch.where(mask, torch.randint(1, 32001, (batch, L), generator=g), -1); tokens[:, 0] = 0
    tokens, mask = tokens.cuda(), mask.cuda()
    def step():
        with torch.autocast('cuda', torch.bfloat16): loss = model.loss(tokens, mask)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    dt, mem = time_steps(step, steps)
    return dict(step_s=dt, tokens_per_s=float(mask[:, 1:].sum()) / dt, peak_mem_gib=mem,
                model_flops_per_step=_train_flops(cfg, mask.cpu()), batch=batch, mean_candidates=float(lens.float().mean()))


def finetune_step(steps: int, batch: int = 4096, n_cand: int = 16):
    import torch
    from taufm_nb.backbone import Backbone, BackboneConfig
    from taufm_nb.finetune import build_model
    from taufm_nb.heads import task_loss
    bb = Backbone(BackboneConfig.preset('paper', vocab_size=32002))
    model = build_model('fine_tuning', 'decay_mode', bb, preset='paper').cuda().freeze_backbone(False).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    g = torch.Generator().manual_seed(1)
    L = n_cand + 2
    lens = torch.randint(3, L + 1, (batch,), generator=g)
    mask = torch.arange(L)[None] < lens[:, None]
    tokens = torch.where(mask, torch.randint(1, 32001, (batch, L), generator=g), -1); tokens[:, 0] = 0
    b = dict(tokens=tokens.cuda(), tok_mask=mask.cuda(), y=torch.randint(0, 6, (batch,), generator=g).cuda())
    def step():
        with torch.autocast('cuda', torch.bfloat16): loss = task_loss('decay_mode', model(b).float(), b['y'])
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    dt, mem = time_steps(step, steps)
    n_par = sum(p.numel() for n, p in model.named_parameters() if not n.startswith('backbone.head.'))
    n_tok = float(mask.sum())
    return dict(step_s=dt, tokens_per_s=n_tok / dt, jets_per_s=batch / dt, peak_mem_gib=mem,
                model_flops_per_step=6 * n_par * n_tok, batch=batch, candidates=n_cand)   # 6 N T (dense estimate)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--skip-chain', action='store_true', help='only the two step timings')
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--peak-tflops', type=float, default=None, help="the GPU's dense bf16 peak (default: from its name)")
    ap.add_argument('--out', type=Path, default=None)
    a = ap.parse_args(argv)
    import torch
    if not torch.cuda.is_available():
        print('gpu_check: no CUDA device here; nothing was run', file=sys.stderr); return 2
    name = torch.cuda.get_device_name(0); peak = peak_of(name, a.peak_tflops)
    torch.backends.cuda.matmul.allow_tf32 = True
    out = dict(device=name, torch=torch.__version__, peak_bf16_tflops=peak,
               flash_sdp=torch.backends.cuda.flash_sdp_enabled(), results={})
    if not a.skip_chain:
        wd = Path(tempfile.mkdtemp(prefix='taufm-gpu-'))
        env = {**os.environ, 'TAUFM_RUNS': str(wd), 'TAUFM_FIGURES': str(wd / 'figures')}
        t0 = time.time()
        r = subprocess.run([str(ROOT / '.venv' / 'bin' / 'taufm'), 'reproduce', '--scale', 'ci'], cwd=ROOT, env=env,
                           capture_output=True, text=True)
        out['results']['ci_chain'] = dict(rc=r.returncode, seconds=round(time.time() - t0, 1), tail=r.stdout[-1500:] + r.stderr[-1500:])
    for key, fn in (('pretrain_step', pretrain_step), ('finetune_step', finetune_step)):
        r = fn(a.steps)
        r['mfu'] = (r['model_flops_per_step'] / r['step_s'] / (peak * 1e12)) if peak else None
        out['results'][key] = r
        mfu = '?' if r['mfu'] is None else f"{100 * r['mfu']:.1f}%"
        print(f"{key}: {r['step_s'] * 1e3:.1f} ms/step, {r['tokens_per_s']:,.0f} tokens/s, peak {r['peak_mem_gib']:.1f} GiB, MFU {mfu}", flush=True)
    if 'ci_chain' in out['results']: print(f"ci chain on the GPU: rc {out['results']['ci_chain']['rc']} in {out['results']['ci_chain']['seconds']} s")
    text = json.dumps(out, indent=1); print(text) if not a.out else a.out.write_text(text)
    return 0 if out['results'].get('ci_chain', {}).get('rc', 0) == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
