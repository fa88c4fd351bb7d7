"""`python -m descope_sync.cli`."""

import sys

from descope_sync.cli.app import main

sys.exit(main())
