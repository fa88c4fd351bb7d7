"""Which landed version of a user the marts show: newest modifiedTime, then the newest extraction.

Batch ids start with a random run id, so they sort in no particular order: the extraction time, not
the batch id, must decide between two versions with the same modifiedTime (or none).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.transform.conftest import NOW, build, query, user


@pytest.mark.parametrize("modified_time", [1_750_000_000, None])
def test_the_newest_extraction_wins_between_versions_with_the_same_modified_time(landing, modified_time):
    times = {} if modified_time is None else {"modifiedTime": modified_time}
    # Extracted first, in a batch whose id sorts last; extracted later, in one whose id sorts first.
    landing.users(user("U1", name="older", **times), extracted_at=NOW - timedelta(hours=3), batch="ffff-run:users")
    landing.users(user("U1", name="newer", **times), extracted_at=NOW - timedelta(hours=1), batch="0000-run:users")
    assert build(landing.path).success
    assert query(landing.path, "select display_name from descope_data_v2.users where user_id = 'U1'") == [("newer",)]


def test_a_newer_modified_time_wins_over_a_later_extraction(landing):
    landing.users(user("U1", name="new", modifiedTime=1_760_000_000), extracted_at=NOW - timedelta(hours=3))
    landing.users(user("U1", name="stale", modifiedTime=1_750_000_000), extracted_at=NOW - timedelta(hours=1))
    assert build(landing.path).success
    assert query(landing.path, "select display_name from descope_data_v2.users where user_id = 'U1'") == [("new",)]
