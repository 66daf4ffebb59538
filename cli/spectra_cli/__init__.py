"""spectra_cli: the ``spectra`` command line (``spectra eigs``, ``spectra kernel``, ``spectra sweep``).

The command line only parses arguments and formats results; every number comes from the
:mod:`spectra` library. The library itself never imports click.
"""
from .main import main

__all__ = ["main"]
