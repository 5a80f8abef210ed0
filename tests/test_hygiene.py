"""CI hygiene: notebooks are committed clean (`nbdev_clean` leaves no diff) and the library is in sync with them
(`nbdev_export` leaves no diff). Checked on a copy, so the working tree is never touched and nothing races the
notebook tests."""
import filecmp, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

@pytest.fixture(scope='module')
def copy(tmp_path_factory):
    d = tmp_path_factory.mktemp('hygiene')
    for name in ('settings.ini', 'setup.py'): shutil.copy(ROOT / name, d / name)
    shutil.copytree(ROOT / 'nbs', d / 'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints', '_proc'))
    shutil.copytree(ROOT / 'taufm_nb', d / 'taufm_nb', ignore=shutil.ignore_patterns('__pycache__'))
    return d

def changed(a: Path, b: Path, pattern: str):
    return sorted(str(p.relative_to(a)) for p in a.rglob(pattern)
                  if '.ipynb_checkpoints' not in p.parts and '__pycache__' not in p.parts
                  and (not (b / p.relative_to(a)).exists() or not filecmp.cmp(p, b / p.relative_to(a), shallow=False)))

def test_notebooks_are_clean(copy):
    r = subprocess.run([str(BIN / 'nbdev_clean')], cwd=copy, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    diff = changed(copy / 'nbs', ROOT / 'nbs', '*.ipynb')
    assert not diff, f'nbdev_clean changes {diff}: run `make prepare` (or .venv/bin/nbdev_clean) and commit'

def test_library_in_sync_with_notebooks(copy):
    r = subprocess.run([str(BIN / 'nbdev_export')], cwd=copy, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    diff = changed(copy / 'taufm_nb', ROOT / 'taufm_nb', '*.py') + \
           [f'{p} (not exported by any notebook)' for p in changed(ROOT / 'taufm_nb', copy / 'taufm_nb', '*.py')]
    assert not diff, f'nbdev_export changes {diff}: edit the notebooks, not taufm_nb/, then run `make prepare`'

def _code_cells():
    import json
    for nb in sorted((ROOT / 'nbs').glob('*.ipynb')):
        for i, c in enumerate(json.loads(nb.read_text())['cells']):
            if c['cell_type'] == 'code': yield nb.name, i, c

def test_parameters_cells_fully_parsed_by_papermill():
    "A comment papermill cannot parse hides that parameter from `papermill --help-notebook` and from overrides' checks."
    import ast
    from papermill.translators import PythonTranslator
    from nbformat import from_dict
    bad = []
    for name, i, c in _code_cells():
        if 'parameters' not in c.get('metadata', {}).get('tags', []): continue
        src = ''.join(c['source'])
        assigned = [t.id for n in ast.parse(src).body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
        seen = [p.name for p in PythonTranslator.inspect(from_dict(dict(c, source=src)))]
        if missing := set(assigned) - set(seen): bad.append(f'{name} cell {i}: {sorted(missing)}')
    assert not bad, f'papermill cannot parse these parameters (avoid "=" in their comments): {bad}'

def test_docs_build_runs_no_test_code():
    "nbdev's docs build executes every non-exported cell that holds an import: keep imports in cells of their own."
    import ast
    bad = []
    for name, i, c in _code_cells():
        src = ''.join(c['source'])
        if any(d in src for d in ('#| export', '#| eval: false')): continue
        try: nodes = list(ast.walk(ast.parse(src)))
        except SyntaxError: continue          # cell magics
        if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and \
           any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes) and \
           not all(isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Try)) for n in ast.parse(src).body):
            bad.append(f'{name} cell {i}: {src.splitlines()[0][:60]!r}')
    assert not bad, f'cells mixing imports and code (the docs build would run them): {bad}'

def test_notebooks_declare_the_project_kernel():
    "JupyterLab and papermill start the pinned `.venv` (kernel `taufm`, installed by `make install`), not any `python3`."
    import json
    wrong = {nb.name: json.loads(nb.read_text())['metadata'].get('kernelspec', {}).get('name')
             for nb in sorted((ROOT / 'nbs').glob('*.ipynb'))}
    wrong = {k: v for k, v in wrong.items() if v != 'taufm'}
    assert not wrong, f"notebooks not on the taufm kernel: {wrong} (set metadata.kernelspec.name to 'taufm')"
