"""Failure injection for the data layer: `taufm inspect` on broken inputs (in subprocesses, as a user runs it) must
print one clear line naming the file and the problem and exit with code 2 — never a traceback."""
import subprocess, sys
import numpy as np
import awkward as ak
import pytest
from conftest import taufm_cmd
from taufm_nb.io import (write_futaure, write_jetclass, synthetic_futaure, synthetic_jetclass, DataError,
                         read_futaure, read_jetclass)
from taufm_nb.dataset import load_jets

def taufm(*args):
    return subprocess.run(taufm_cmd() + [str(a) for a in args], capture_output=True, text=True, timeout=300)

@pytest.fixture(scope='module')
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp('data')
    fut = synthetic_futaure(300, seed=0)
    jc = synthetic_jetclass(200, seed=0)
    write_futaure(fut, d / 'good' / 'z_0_00000.parquet')
    write_jetclass(jc, d / 'good' / 'TTBar_0_00000.root')
    b = d / 'bad'; b.mkdir()
    (b / 'empty.parquet').write_bytes(b'')
    (b / 'notes.root').write_text('this is not a ROOT file\n')
    ak.to_parquet(fut[[c for c in fut.fields if c != 'reco_cand_pdg']], b / 'nopdg.parquet')
    ak.to_parquet(ak.with_field(fut, ak.Array([[str(v) for v in row] for row in fut.reco_cand_pdg.tolist()]), 'reco_cand_pdg'), b / 'strpdg.parquet')
    write_jetclass({k: v for k, v in jc.items()}, b / 'ok.root')
    import uproot
    with uproot.recreate(b / 'nobranch.root') as f:
        f.mktree('tree', {'part_px': 'var * float32', 'part_py': 'var * float32', 'part_pz': 'var * float32', 'jet_pt': 'float32'})
        f['tree'].extend({'part_px': jc['part_px'], 'part_py': jc['part_py'], 'part_pz': jc['part_pz'], 'jet_pt': jc['jet_pt']})
    with uproot.recreate(b / 'flat.root') as f:
        br = {k: (v if not k.startswith('part_') else v) for k, v in jc.items()}
        br['part_energy'] = jc['jet_pt']                      # a flat branch where a jagged one belongs
        f.mktree('tree', {k: (v.type.content if isinstance(v, ak.Array) else v.dtype) for k, v in br.items()})
        f['tree'].extend(br)
    (b / 'trunc.parquet').write_bytes((d / 'good' / 'z_0_00000.parquet').read_bytes()[:2000])
    ak.to_parquet(fut[:0], b / 'zero.parquet')
    return d

def test_inspect_good_folder(files):
    r = taufm('inspect', files / 'good')
    assert r.returncode == 0, r.stderr
    assert '500 jets' in r.stdout and 'reco_cand_pdg' in r.stdout and 'part_isMuon' in r.stdout and 'decay modes' in r.stdout
    r = taufm('inspect', files / 'good' / '*.root', '--json')
    import json
    s = json.loads(r.stdout)
    assert s['n_jets'] == 200 and s['classes']['jetclass']['label_Tbqq'] + s['classes']['jetclass']['label_QCD'] == 200

@pytest.mark.parametrize('name, message', [
    ('missing.parquet', 'missing.parquet: no such file or folder'),
    ('empty.parquet', 'empty.parquet: empty file (0 bytes)'),
    ('notes.root', "notes.root: not a parquet or ROOT file"),
    ('nopdg.parquet', "nopdg.parquet: missing column(s) ['reco_cand_pdg']"),
    ('strpdg.parquet', "strpdg.parquet: column 'reco_cand_pdg' should be a jagged list of numbers, got var * string"),
    ('nobranch.root', "nobranch.root: missing branch(s) ["),
    ('flat.root', "flat.root: column 'part_energy' should be a jagged list of numbers, got float32"),
    ('trunc.parquet', 'trunc.parquet: cannot read parquet file'),
    ('zero.parquet', 'zero.parquet: holds no jets'),
])
def test_inspect_bad_input(files, name, message):
    r = taufm('inspect', files / 'bad' / name)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    assert 'Traceback' not in r.stderr and r.stderr.startswith('taufm inspect: ')

def test_nan_candidates_dropped_with_count(files, tmp_path):
    fut = read_futaure(files / 'good' / 'z_0_00000.parquet')
    px = fut.reco_cand_p4s.x
    bad = ak.with_field(fut, ak.where(ak.local_index(px) == 0, np.nan, px), ['reco_cand_p4s', 'x'])
    ak.to_parquet(bad, tmp_path / 'z_nan.parquet')
    n1 = int(ak.sum(ak.num(px) == 1))                 # jets whose only candidate is the NaN one disappear
    with pytest.warns(UserWarning, match=r'z_nan.parquet: dropped 300 candidate\(s\) with NaN/inf'):
        with pytest.warns(UserWarning, match=rf'z_nan.parquet: dropped {n1} jet\(s\) with no valid candidate'):
            jets = load_jets(tmp_path / 'z_nan.parquet')
    assert jets.mask.sum() == int(ak.sum(ak.num(px))) - 300 and len(jets) == 300 - n1
    r = taufm('inspect', tmp_path / 'z_nan.parquet')
    assert r.returncode == 0 and 'warning: ' in r.stdout and 'dropped 300 candidate(s)' in r.stdout

def test_writer_errors_name_file_and_column(tmp_path):
    fut = synthetic_futaure(10)
    with pytest.raises(DataError, match=r"x.parquet: column 'gen_jet_tau_decaymode' must hold integers"):
        write_futaure(ak.with_field(fut, ak.values_astype(fut.gen_jet_tau_decaymode, 'float64'), 'gen_jet_tau_decaymode'), tmp_path / 'x.parquet')
    jc = synthetic_jetclass(10)
    with pytest.raises(DataError, match=r"y.root: unknown branch\(s\) \['part_foo'\]"):
        write_jetclass({**jc, 'part_foo': jc['part_px']}, tmp_path / 'y.root')
    assert not list(tmp_path.iterdir())

def test_missing_branch_message_names_it_and_lists_the_files_branches(tmp_path):
    "A JetClass tree without `part_px` (the branch that marks JetClass): the message names it, its closest branches and all of the file's, part_* included."
    import uproot
    jc = {k: v for k, v in synthetic_jetclass(50, seed=0).items() if k != 'part_px'}
    with uproot.recreate(tmp_path / 'nopx.root') as f:
        f.mktree('tree', {k: (v.type.content if isinstance(v, ak.Array) else v.dtype) for k, v in jc.items()})
        f['tree'].extend(jc)
    r = taufm('inspect', tmp_path / 'nopx.root')
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "(needs ['part_px'])" in err and "closest to 'part_px': " in err, err
    for b in jc: assert b in err, b                              # every branch of the file, the part_* ones too
    assert 'part_* (15): ' in err and 'label_* (10): ' in err, err
