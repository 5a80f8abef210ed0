"""Copy the outputs of executed copies of notebooks (papermill runs of the figures stage, or of a data notebook with its
`#| slow` plotting cells) into nbs/, so the docs show the figures of a real run. Warnings (stderr) and the FastJet
banner are dropped. Only when every code cell of the executed copy has the source of the committed notebook
(papermill's injected-parameters cell aside); otherwise the notebook is left alone and named.

    python tools/keep_outputs.py runs/reproduce-mini/results/notebooks/*.ipynb
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def code_cells(nb): return [c for c in nb['cells'] if c['cell_type'] == 'code' and 'injected-parameters' not in c.get('metadata', {}).get('tags', [])]

def src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def keep(executed: Path, nbs: Path = ROOT / 'nbs') -> bool:
    target = Path(nbs) / executed.name
    if not target.exists(): print(f'{executed.name}: no such notebook in nbs/'); return False
    e, t = json.loads(executed.read_text()), json.loads(target.read_text())
    ec, tc = code_cells(e), code_cells(t)
    if len(ec) != len(tc) or any(src(a) != src(b) for a, b in zip(ec, tc)):
        print(f'{executed.name}: executed from a different version of the notebook, left alone'); return False
    for a, b in zip(ec, tc):
        b['outputs'] = [{k: v for k, v in o.items() if k != 'execution_count'} | ({'execution_count': None} if o.get('output_type') == 'execute_result' else {})
                        for o in a.get('outputs', []) if not (o.get('output_type') == 'stream' and
                                                              (o.get('name') == 'stderr' or 'FastJet release' in src(dict(source=o.get('text', '')))))]
    target.write_text(json.dumps(t, indent=1, ensure_ascii=False) + '\n')
    print(f'{executed.name}: outputs kept'); return True

if __name__ == '__main__':
    ok = [keep(Path(p)) for p in sys.argv[1:]]
    sys.exit(0 if all(ok) else 1)
