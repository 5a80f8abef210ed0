"""`taufm reproduce --scale ci` end to end (issue #7): every stage of the chain on freshly generated data, in a scratch
folder, then `taufm figures` again with relative paths. The slowest test (~3-4 min on 2 cores)."""
import json, os, subprocess, sys
from pathlib import Path
import pytest
from conftest import taufm_cmd

GRID = pytest.mark.xdist_group('grid')      # Dask clusters: not two at once on a 2-core machine (the fake chains below
                                            # start none, so they run beside it instead of waiting ~6 min for the lock)

FIGURES = ('fig2_token_residuals', 'fig3_pid_confusion', 'fig4_loss_vs_size', 'fig5_physics', 'fig6_tsne',
           'fig7_ablations', 'fig_data_efficiency', 'backbone_generated_jets', 'tokenizer_codebook_usage')

@GRID
@pytest.mark.longest
def test_ci_chain_end_to_end(tmp_path):
    wd, figs = tmp_path / 'wd', tmp_path / 'figures'
    env = {**os.environ, 'TAUFM_FIGURES': str(figs), 'OMP_NUM_THREADS': '1'}
    r = subprocess.run(taufm_cmd() + ['reproduce', '--scale', 'ci', '--workdir', str(wd)], env=env,
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert 'without encryption' not in r.stderr + r.stdout      # the kernels' TCP warning, filtered in grid and figures
    rep = json.loads((wd / 'reproduce.json').read_text())
    assert rep['status'] == dict.fromkeys(('generate', 'tokenizer', 'pretrain', 'hybrid', 'grid', 'figures'), 'done'), rep
    for name in FIGURES:
        for ext in ('pdf', 'png'): assert (figs / f'{name}.{ext}').stat().st_size > 1000, f'{name}.{ext}'
    # the assets of issue 13, by the names the fine-tuning side resolves
    assert [p.name for p in sorted((wd / 'corpus' / 'ee').iterdir())] == ['qq', 'ztautau']
    assert (wd / 'tokens' / 'ee-corpus.parquet').exists() and (wd / 'tokenizer' / 'quality.json').exists()
    for name in ('backbone', 'backbone-ee', 'backbone-corpus0.1', 'backbone-corpus0.3'):
        assert all((wd / name / f).exists() for f in ('DONE', 'metrics.json', 'backbone.safetensors', 'next_token.json')), name
    hyb = json.loads((wd / 'hybrid-ntp+mpm' / 'metrics.json').read_text())      # the hybrid stage (issue 16): joint objective
    assert (wd / 'hybrid-ntp+mpm' / 'DONE').exists() and hyb['final_val_ntp'] > 0 and hyb['final_val_mpm'] > 0, hyb
    md = (figs / 'results.md').read_text()
    assert 'Scale: ci' in md and '| pT resolution (IQR/median) |' in md and 'ParT' not in md.split('All strategies')[0]
    header = md.split('All strategies')[1].splitlines()[2]                  # the hybrid grid's strategies, each its own column
    for name in ('hybrid backbone, fixed', 'hybrid backbone, fine-tuned', 'fine-tuning + lifetime head', 'fine-tuning |'):
        assert name in header, header
    runs = [d for d in (wd / 'runs').iterdir() if d.is_dir()]
    assert len(runs) == 36 and all((d / 'DONE').exists() and (d / 'run.ipynb').exists() for d in runs)
    assert [d.name.split('-')[1] for d in sorted(runs) if '-hybrid' in d.name] == ['hybrid_fine_tuning', 'hybrid_fixed']   # ci: decay modes
    # a second call, with relative paths (the same folders), finds everything done, the figures included: nothing new,
    # nothing redrawn (that relative paths reach the figure notebooks resolved is tested in nbs/48_figures)
    drawn = {n: (figs / f'{n}.png').stat().st_mtime_ns for n in FIGURES}
    r2 = subprocess.run(taufm_cmd() + ['reproduce', '--scale', 'ci', '--workdir', 'wd', '--fig-dir', 'figures'], cwd=tmp_path,
                        env=env, capture_output=True, text=True, timeout=600)
    assert r2.returncode == 0 and '0 to run' in r2.stdout and '[figures] up to date' in r2.stdout, (r2.stdout[-2000:], r2.stderr[-2000:])
    assert {n: (figs / f'{n}.png').stat().st_mtime_ns for n in FIGURES} == drawn
    # taufm figures with relative paths: the tables (its figure notebooks are the same draw_figures call as above)
    r3 = subprocess.run(taufm_cmd() + ['figures', 'wd/runs', '--scale', 'ci', '--out', 'again', '--tables-only'],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r3.returncode == 0, (r3.stdout[-2000:], r3.stderr[-2000:])
    assert (tmp_path / 'again' / 'results.parquet').exists()

# --- only the committed scale (mini) writes the committed figures/ and README.md (issue #14) ---
FAKE_CHAIN = """
import sys
from pathlib import Path
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt
from taufm_nb import reproduce
from taufm_nb.core import save_figure
def draw(scale, workdir):
    fig = plt.figure(figsize=(1, 1)); save_figure(fig, 'demo_fig'); return {}
reproduce.STAGES[:] = [reproduce.Stage('figures', 'bench', draw, 0)]
sys.exit(reproduce.cli_reproduce(sys.argv[1:]))
"""

def fake_project(tmp_path):
    "A project root of its own (settings.ini + nbs/), so that its figures/ stands for the committed one."
    root = tmp_path / 'project'; (root / 'nbs').mkdir(parents=True); (root / 'settings.ini').write_text('[DEFAULT]\n')
    env = {k: v for k, v in os.environ.items() if k not in ('IN_TEST', 'TAUFM_FIGURES', 'TAUFM_RUNS')}
    return root, {**env, 'TAUFM_ROOT': str(root), 'MPLBACKEND': 'Agg'}

@pytest.mark.parametrize('scale', ['ci', 'paper'])
def test_other_scales_leave_the_committed_figures_alone(tmp_path, scale):
    root, env = fake_project(tmp_path)
    r = subprocess.run([sys.executable, '-c', FAKE_CHAIN, '--scale', scale], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (root / 'figures').exists(), sorted((root / 'figures').iterdir())
    wd = root / 'runs' / f'reproduce-{scale}'
    assert (wd / 'figures' / 'demo_fig.png').exists() and f'figures and results table -> {wd / "figures"}' in r.stdout, r.stdout
    assert 'not the committed figures/' in r.stdout
    # asked for explicitly: a flag, or $TAUFM_FIGURES
    r = subprocess.run([sys.executable, '-c', FAKE_CHAIN, '--scale', scale, '--fig-dir', str(tmp_path / 'mine')], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and (tmp_path / 'mine' / 'demo_fig.pdf').exists(), r.stderr[-2000:]
    r = subprocess.run([sys.executable, '-c', FAKE_CHAIN, '--scale', scale], env={**env, 'TAUFM_FIGURES': str(root / 'figures')},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and (root / 'figures' / 'demo_fig.png').exists(), r.stderr[-2000:]

def test_mini_writes_the_committed_figures(tmp_path):
    root, env = fake_project(tmp_path)
    r = subprocess.run([sys.executable, '-c', FAKE_CHAIN, '--scale', 'mini'], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (root / 'figures' / 'demo_fig.png').exists() and not (root / 'runs' / 'reproduce-mini' / 'figures').exists()

@pytest.mark.parametrize('scale, readme', [('ci', False), ('paper', False), ('mini', True)])
def test_make_reproduce_regenerates_readme_only_at_mini(tmp_path, scale, readme):
    "The Makefile's reproduce target with a stand-in venv whose taufm and python only log how they were called."
    root = Path(__file__).resolve().parents[1]
    venv, log = tmp_path / 'venv', tmp_path / 'calls.log'
    (venv / 'bin').mkdir(parents=True)
    for exe in ('taufm', 'python'):
        (venv / 'bin' / exe).write_text(f'#!/bin/sh\necho "{exe} $*" >> {log}\n'); (venv / 'bin' / exe).chmod(0o755)
    (venv / '.taufm-installed').touch()                               # newer than the pins: `install` has nothing to do
    r = subprocess.run(['make', '-s', '-C', str(root), 'reproduce', f'SCALE={scale}', f'VENV={venv}'],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == f'taufm reproduce --scale {scale}', calls
    assert any('build_docs.py --readme-only' in c for c in calls) == readme, calls
    if not readme: assert 'README.md left alone' in r.stdout
