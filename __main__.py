"""``python -m driftscope``: the command line."""

from driftscope.apps.cli.main import main

if __name__ == "__main__":
    main()
