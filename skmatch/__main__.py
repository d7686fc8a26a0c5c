"""``python -m skmatch``: the command line of :mod:`skmatch.cli`."""

from skmatch.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
