"""Every command shown in the README runs, and the two set-up lines are the ones CI uses."""
import os
import re
import shlex

import pytest
from click.testing import CliRunner

from spectra_cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
COMMANDS = re.findall(r"^\$ spectra (.+)$", README, flags=re.M)


def test_readme_shows_commands():
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, shlex.split(command), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.strip()


GPU_COMMANDS = [c.split("#")[0].strip()[len("spectra "):]
                for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S)
                for c in block.splitlines() if c.startswith("spectra ") and "--backend cupy" in c]


def _has_gpu():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no CuPy, no driver
        return False


def test_readme_gpu_commands_listed():
    assert len(GPU_COMMANDS) >= 3


@pytest.mark.parametrize("command", GPU_COMMANDS)
def test_readme_gpu_command(command, tmp_path, monkeypatch):
    """With a GPU the README's GPU commands run; without one each parses and stops with the one-line
    'backend cupy' error (exit 2), not a usage error."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, shlex.split(command), catch_exceptions=False)
    if _has_gpu():
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2 and "backend 'cupy'" in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1


def test_readme_setup_commands_match_ci():
    setup = [line for line in README.splitlines() if line.startswith("python3 -m venv")]
    assert len(setup) == 2 and "spectra eigs" in setup[0] and "pytest" in setup[1]
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    assert setup[1] in ci  # CI runs the README's test command verbatim


def test_readme_python_blocks_run():
    """The library examples run in order, as one session (later blocks use `net` from the first)."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) >= 2
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
