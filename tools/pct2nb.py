"""Convert a percent-format script (`# %%` code cells, `# %% [markdown]` prose cells,
`# %% tags=["parameters"]` tagged cells) into a clean .ipynb.

Authoring aid only: the notebooks in nbs/ are the source of truth. Usage:
    python tools/pct2nb.py SRC.py nbs/NN_name.ipynb
"""
import json, re, sys
from pathlib import Path

HDR = re.compile(r'^# %%(?P<md> \[markdown\])?(?:\s+tags=(?P<tags>\[.*\]))?\s*$')

def parse(text):
    cells, cur = [], None
    for line in text.splitlines():
        m = HDR.match(line)
        if m:
            if cur: cells.append(cur)
            cur = dict(md=bool(m['md']), tags=json.loads(m['tags']) if m['tags'] else [], lines=[])
            continue
        if cur is None: cur = dict(md=False, tags=[], lines=[])
        cur['lines'].append(line)
    if cur: cells.append(cur)
    out = []
    for c in cells:
        lines = c['lines']
        while lines and not lines[0].strip(): lines.pop(0)
        while lines and not lines[-1].strip(): lines.pop()
        if not lines: continue
        if c['md']: lines = [l[2:] if l.startswith('# ') else l[1:] if l.startswith('#') else l for l in lines]
        src = [l + '\n' for l in lines]; src[-1] = src[-1][:-1]
        meta = {'tags': c['tags']} if c['tags'] else {}
        cell = dict(cell_type='markdown' if c['md'] else 'code', metadata=meta, source=src)
        if not c['md']: cell.update(execution_count=None, outputs=[])
        out.append(cell)
    return out

def convert(src, dst):
    nb = dict(cells=parse(Path(src).read_text()), nbformat=4, nbformat_minor=5,
              metadata=dict(kernelspec=dict(display_name='taufm', language='python', name='taufm')))
    Path(dst).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')

if __name__ == '__main__':
    convert(*sys.argv[1:3])
