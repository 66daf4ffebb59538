"""``python -m spectra``: the command line (same as the ``spectra`` script)."""
from spectra_cli.main import main

if __name__ == "__main__":
    main()
