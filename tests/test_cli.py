"The installed `taufm` console script, run as a user would."
import subprocess
from conftest import taufm_cmd

def taufm(*args):
    return subprocess.run(taufm_cmd() + list(args), capture_output=True, text=True, timeout=300)

def test_help_lists_commands():
    r = taufm('--help')
    assert r.returncode == 0, r.stderr
    for cmd in 'generate inspect train-tokenizer tokenize pretrain sample finetune grid figures reproduce bench'.split():
        assert f'  {cmd} ' in r.stdout, cmd

def test_version():
    import taufm_nb
    r = taufm('--version')
    assert r.returncode == 0 and r.stdout.strip() == f'taufm_nb {taufm_nb.__version__}'

def test_unknown_command_is_a_clear_error():
    r = taufm('frobnicate')
    assert r.returncode == 2 and 'unknown command' in r.stderr and 'Traceback' not in r.stderr

def test_no_arguments_prints_usage_and_fails():
    r = taufm()
    assert r.returncode == 2 and 'usage: taufm' in r.stdout

# --- arguments are checked before the heavy imports; 0 is never silently the default (issue #14) ---
import sys
import pytest

HEAVY = ('torch', 'pythia8', 'uproot', 'papermill', 'taufm_nb.finetune', 'taufm_nb.tokenizer', 'taufm_nb.backbone')
PROBE = ("import sys; from taufm_nb.cli import main; rc = main(sys.argv[1:]); "
         f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules)); sys.exit(rc)")

@pytest.mark.parametrize('argv, message', [
    (['finetune', '--task', 'tauid', '--strategy', 'fine_tuning', '--n-train', '100'], "argument --task: invalid choice: 'tauid'"),
    (['finetune', '--task', 'pt', '--strategy', 'fine_tuning', '--n-train', '100', '--epochs', '0'], 'argument --epochs: must be >= 1, got 0'),
    (['finetune', '--task', 'pt', '--strategy', 'fine_tunning', '--n-train', '100'], "argument --strategy: invalid choice: 'fine_tunning'"),
    (['tokenize', '--tokenizer', 't', '--data', 'd', '--out', 'o.parquet', '--task', 'tauid'], "argument --task: invalid choice: 'tauid'"),
    (['train-tokenizer', '--data', 'toy:10', '--out', 'o', '--max-jets', '0'], 'argument --max-jets: must be >= 1, got 0'),
    (['train-tokenizer', '--data', 'toy:10', '--out', 'o', '--epochs', '0'], 'argument --epochs: must be >= 1, got 0'),
    (['pretrain', '--tokens', 't.parquet', '--out', 'o', '--vocab-size', '0'], 'argument --vocab-size: must be >= 3, got 0'),
    (['pretrain', '--tokens', 't.parquet', '--out', 'o', '--epochs', '0'], 'argument --epochs: must be >= 1, got 0'),
    (['sample', '--backbone', 'b', '-n', '0'], 'argument -n: must be >= 1, got 0'),
])
def test_bad_arguments_reported_before_heavy_imports(argv, message):
    r = subprocess.run([sys.executable, '-c', PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and message in r.stderr, (r.returncode, r.stderr)
    assert 'HEAVY []' in r.stdout, r.stdout              # nothing heavy was imported to find the mistake

def test_subcommand_help_is_instant_and_complete():
    r = subprocess.run([sys.executable, '-c', PROBE, 'finetune', '--help'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and 'HEAVY []' in r.stdout and '--n-train' in r.stdout and '--unfreeze-epoch' in r.stdout

def test_bench_help_documents_targets_and_options():
    r = taufm('bench', '--help')
    assert r.returncode == 0, r.stderr
    for target, option in (('data', '--n-events'), ('tokenizer', '--n-codes'), ('backbone', '--mean-mult'), ('heads', '--particles')):
        assert f'  {target} ' in r.stdout and f'taufm bench {target}:' in r.stdout and option in r.stdout, (target, option)
    r = taufm('bench')
    assert r.returncode == 2 and 'targets:' in r.stderr
