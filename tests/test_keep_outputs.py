"""tools/keep_outputs.py copies outputs of an executed notebook into nbs/ only when the code is the same."""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
from keep_outputs import keep

def nb(*cells):
    return {'cells': [dict(cell_type='code', source=s, metadata=dict(tags=t), outputs=o, execution_count=None) for s, t, o in cells],
            'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}

def test_keeps_outputs_of_the_same_code_only(tmp_path):
    nbs, run = tmp_path / 'nbs', tmp_path / 'run'; nbs.mkdir(); run.mkdir()
    (nbs / 'a.ipynb').write_text(json.dumps(nb(('x = 1', ['parameters'], []), ('print(x)', [], []))))
    out = [{'output_type': 'stream', 'name': 'stdout', 'text': '2\n'}, {'output_type': 'stream', 'name': 'stderr', 'text': 'warning\n'}]
    (run / 'a.ipynb').write_text(json.dumps(nb(('x = 1', ['parameters'], []), ('x = 2', ['injected-parameters'], []),
                                               ('print(x)', [], out))))
    assert keep(run / 'a.ipynb', nbs)
    cells = json.loads((nbs / 'a.ipynb').read_text())['cells']
    assert len(cells) == 2 and cells[1]['outputs'] == out[:1]               # injected cell not copied, stderr dropped
    (run / 'b.ipynb').write_text(json.dumps(nb(('print(y)', [], out))))
    (nbs / 'b.ipynb').write_text(json.dumps(nb(('print(x)', [], []))))
    assert not keep(run / 'b.ipynb', nbs)                                 # other code: left alone
    assert json.loads((nbs / 'b.ipynb').read_text())['cells'][0]['outputs'] == []
