"""`python -m descope_sync.cli`."""

import sys

from descope_sync.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
