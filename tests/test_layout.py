"""The module layout stays readable: no import circles between the modules of taufm_nb (also none through an import
inside a function) and no module over 450 lines. The layering is the README's notebook table, core first."""
import ast, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / 'taufm_nb'
MAX_LINES = 450

def modules():
    return {p.stem: p for p in sorted(PKG.glob('*.py')) if p.stem not in ('__init__', '_modidx')}

def imports(path: Path, names: set[str]) -> set[str]:
    "The taufm_nb modules `path` imports anywhere in its body (top level, functions, `if` branches)."
    out = set()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', SyntaxWarning); warnings.simplefilter('ignore', DeprecationWarning)
        tree = ast.parse(path.read_text())
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            for a in n.names:
                parts = a.name.split('.')
                if parts[0] == 'taufm_nb' and len(parts) > 1: out.add(parts[1])
        elif isinstance(n, ast.ImportFrom):
            mod = n.module or ''
            if n.level == 0 and not mod.startswith('taufm_nb'): continue
            parts = mod.split('.')[1:] if n.level == 0 else ([p for p in mod.split('.') if p] if mod else [])
            if parts: out.add(parts[0])
            else: out |= {a.name for a in n.names if a.name in names}     # from taufm_nb import generate, io
    return (out & names) - {path.stem}

def graph():
    mods = modules()
    return {m: imports(p, set(mods)) for m, p in mods.items()}

def cycle(g):
    "One import circle as a list of modules, or None."
    state, stack = {}, []
    def visit(m):
        state[m] = 1; stack.append(m)
        for d in sorted(g[m]):
            if state.get(d) == 1: return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)): return c
        state[m] = 2; stack.pop()
    for m in sorted(g):
        if m not in state and (c := visit(m)): return c

def test_graph_is_parsed():
    g = graph()
    assert 'core' in g and 'dataset' in g['tokenizer'] and not g['core'] - {'core'}, g

def test_no_import_circles():
    c = cycle(graph())
    assert c is None, f'import circle: {" -> ".join(c)} (move the shared names into the lower module)'

def test_modules_are_short():
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f'modules over {MAX_LINES} lines (split them by concern): {long}'
