"""The files gcloud uploads from a source folder: its `.gcloudignore` read the way gcloud reads it.

A port of the Cloud SDK's own reading (googlecloudsdk/command_lib/util/gcloudignore.py and glob.py):
patterns are matched right to left, part by part (a leading `/` anchors one at the top, `**` spans any
number of parts, a trailing `/` matches folders only, `!` re-includes); every folder on a path and then
the path itself is decided by the last pattern that matches it, and a path under an ignored folder is
ignored. `#!include:` directives are refused rather than half-read.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".gcloudignore"


@dataclass(frozen=True)
class Pattern:
    parts: tuple[str, ...]
    negated: bool
    folders_only: bool

    @classmethod
    def parse(cls, line: str) -> Pattern:
        negated = line.startswith("!")
        line = line.removeprefix("!")
        folders_only = line.endswith("/")
        return cls(tuple(line.removesuffix("/").split("/")), negated, folders_only)

    def matches(self, path: str, is_dir: bool) -> bool:
        return (is_dir or not self.folders_only) and _parts_match(list(self.parts), path)


def _prefixes(path: str) -> list[str]:
    """'a/b/c' -> ['', 'a', 'a/b', 'a/b/c'] (glob.GetPathPrefixes)."""
    prefixes = [path]
    rest = path
    while rest:
        rest = posixpath.split(rest)[0]
        prefixes.insert(0, rest)
    return prefixes


def _parts_match(parts: list[str], path: str | None) -> bool:
    if not parts:
        return True
    if path is None:  # the top was passed: '/*' must not match the root itself
        return False
    *rest, last = parts
    if path:
        path = posixpath.normpath(path)
    head: str | None
    head, tail = posixpath.split(path)
    if not tail:
        head = None
    if last == "**":
        if not (rest and rest[0] == ""):
            rest = ["", *rest]
        return any(_parts_match(rest, prefix) for prefix in _prefixes(path))
    if last == "*" and not rest and head and len(head) > 1:
        return False
    return fnmatch.fnmatchcase(tail, last) and _parts_match(rest, head)


def read_patterns(text: str) -> list[Pattern]:
    patterns = []
    for line in text.splitlines():
        if line.startswith("#"):
            if line[1:].lstrip().startswith("!include:"):
                raise ValueError(f"#!include is not read here: {line}")
            continue
        line = line.rstrip(" ")
        if line and line != "!":
            patterns.append(Pattern.parse(line))
    return patterns


def is_included(patterns: list[Pattern], path: str, is_dir: bool) -> bool:
    for prefix in _prefixes(path)[1:]:
        ignored = False
        for pattern in patterns:
            if pattern.matches(prefix, is_dir=prefix != path or is_dir):
                ignored = not pattern.negated
        if ignored:
            return False
    return True


def uploaded_files(source: Path, *, folders: bool = False) -> set[str]:
    """The files (relative, with `/`) that `gcloud ... --source=<source>` uploads; with `folders`, the folders
    it walks into too (ending in `/`: the archive holds them even when empty). Without a `.gcloudignore`
    gcloud would use its defaults: here that is an error, since the upload is ours to state."""
    patterns = read_patterns((source / IGNORE_FILE).read_text())
    found: set[str] = set()
    for folder, dirnames, filenames in os.walk(source, followlinks=True):
        relative = Path(folder).relative_to(source).as_posix()
        relative = "" if relative == "." else relative
        found.update(
            path for name in filenames if is_included(patterns, path := posixpath.join(relative, name), is_dir=False)
        )
        dirnames[:] = [name for name in dirnames if is_included(patterns, posixpath.join(relative, name), is_dir=True)]
        if folders:
            found.update(posixpath.join(relative, name) + "/" for name in dirnames)
    return found
