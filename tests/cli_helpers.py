"""Running the `spectra` command in-process for the CLI tests: `ok` (exit 0) and `bad` (one-line
error, exit 2)."""
from click.testing import CliRunner
from spectra_cli.main import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(*args):
    r = run(*args)
    assert r.exit_code == 0, (r.output, r.stderr, r.exception)
    return r


def bad(*args, match):
    r = run(*args)
    assert r.exit_code == 2, (r.output, r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and match in lines[0], r.stderr
    assert "Traceback" not in r.output
    return r
