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
