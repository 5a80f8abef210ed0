"""`taufm reproduce --scale ci` end to end (issue #7): every stage of the chain on freshly generated data, in a scratch
folder, then `taufm figures` again with relative paths. The slowest test (~3-4 min on 2 cores)."""
import json, os, subprocess
from pathlib import Path
import pytest
from conftest import taufm_cmd

pytestmark = pytest.mark.xdist_group('grid')      # Dask clusters: not two at once on a 2-core machine

FIGURES = ('fig2_token_residuals', 'fig3_pid_confusion', 'fig4_loss_vs_size', 'fig5_physics', 'fig6_tsne',
           'fig7_ablations', 'fig_data_efficiency', 'backbone_generated_jets', 'tokenizer_codebook_usage')

def test_ci_chain_end_to_end(tmp_path):
    wd, figs = tmp_path / 'wd', tmp_path / 'figures'
    env = {**os.environ, 'TAUFM_FIGURES': str(figs), 'OMP_NUM_THREADS': '1'}
    r = subprocess.run(taufm_cmd() + ['reproduce', '--scale', 'ci', '--workdir', str(wd)], env=env,
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    rep = json.loads((wd / 'reproduce.json').read_text())
    assert rep['status'] == dict.fromkeys(('generate', 'tokenizer', 'pretrain', 'grid', 'figures'), 'done'), rep
    for name in FIGURES:
        for ext in ('pdf', 'png'): assert (figs / f'{name}.{ext}').stat().st_size > 1000, f'{name}.{ext}'
    md = (figs / 'results.md').read_text()
    assert 'Scale: ci' in md and '| pT resolution (IQR/median) |' in md and 'ParT' not in md.split('All strategies')[0]
    runs = [d for d in (wd / 'runs').iterdir() if d.is_dir()]
    assert len(runs) >= 30 and all((d / 'DONE').exists() and (d / 'run.ipynb').exists() for d in runs)
    # a second call finds everything done and redraws only the figures
    r2 = subprocess.run(taufm_cmd() + ['reproduce', '--scale', 'ci', '--workdir', str(wd)], env=env,
                        capture_output=True, text=True, timeout=600)
    assert r2.returncode == 0 and '0 to run' in r2.stdout, r2.stdout[-2000:]
    # taufm figures with relative paths (the figure notebooks run in nbs/, so paths must be resolved first)
    r3 = subprocess.run(taufm_cmd() + ['figures', 'wd/runs', '--scale', 'ci', '--out', 'again', '--fig-dir', 'figs2'],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r3.returncode == 0, (r3.stdout[-2000:], r3.stderr[-2000:])
    assert (tmp_path / 'figs2' / 'fig4_loss_vs_size.png').exists() and (tmp_path / 'again' / 'results.parquet').exists()
