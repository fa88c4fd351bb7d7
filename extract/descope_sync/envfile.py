"""Settings from a `.env` file in the working directory, beneath the environment.

`descope-sync` reads `./.env` (or the file `--env-file` names) before anything else, and sets each
variable it defines that the environment does not: a variable set in the environment wins, and a
flag wins over both. The file follows the usual dotenv rules (python-dotenv: `KEY=value`, optional
`export `, quotes, `#` comments; no variable expansion). Values are never logged, only the names.
Locally the management key may live there (`DESCOPE_MANAGEMENT_KEY=...`): keep the file out of
version control (`.gitignore` lists it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from pathlib import Path

from descope_sync.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_ENV_FILE = Path(".env")


def load_env_file(path: Path | None = None, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set the variables of `path` (default ./.env) that `environ` lacks; returns their names.

    A missing default file is fine (nothing to read); a missing file named on purpose is an error."""
    environ = os.environ if environ is None else environ
    chosen = path is not None
    path = DEFAULT_ENV_FILE if path is None else path
    if not path.is_file():
        if chosen:
            raise ConfigError(f"--env-file {path}: no such file")
        return []
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, interpolate=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {type(exc).__name__}") from None
    loaded = []
    for name, value in values.items():
        if value is None or name in environ:
            continue  # `KEY` alone defines nothing; the environment wins
        environ[name] = value
        loaded.append(name)
    return loaded
