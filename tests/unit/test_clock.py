"""The one seam that writes times for people (services/clock.py): the practice's zone, plainly."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from portal_app.services import clock

CHICAGO = ZoneInfo("America/Chicago")
WINTER = datetime(2026, 12, 7, 19, 55, tzinfo=timezone.utc)   # 1:55 PM CST
SUMMER = datetime(2026, 7, 6, 18, 5, tzinfo=timezone.utc)     # 1:05 PM CDT


def test_patients_read_the_practices_zone_in_plain_words_through_daylight_saving():
    assert clock.spelled(WINTER, CHICAGO) == "Monday, December 7, 2026 at 1:55 PM (CST)"
    assert clock.spelled(SUMMER, CHICAGO) == "Monday, July 6, 2026 at 1:05 PM (CDT)"
    assert clock.spelled(WINTER, CHICAGO, with_time=False) == "December 7, 2026"
    # Late in the evening in Chicago is already tomorrow in UTC: the date is the practice's.
    assert clock.spelled(datetime(2026, 12, 8, 3, 0, tzinfo=timezone.utc), CHICAGO,
                         with_time=False) == "December 7, 2026"
    assert clock.spelled(None, CHICAGO) == ""


def test_staff_lists_show_the_practices_zone_and_us_dates():
    assert clock.stamp(WINTER, CHICAGO) == "12/07/2026 1:55PM (CST)"
    assert clock.stamp(SUMMER, CHICAGO) == "07/06/2026 1:05PM (CDT)"
    assert clock.stamp(WINTER.replace(tzinfo=None), CHICAGO) == "12/07/2026 1:55PM (CST)"  # naive = UTC
    assert clock.stamp(None, CHICAGO, empty="never") == "never"
    assert "UTC" not in clock.stamp(WINTER, CHICAGO)


def test_a_zone_without_a_letter_name_reads_as_an_offset():
    assert clock.stamp(WINTER, ZoneInfo("Asia/Dubai")) == "12/07/2026 11:55PM (UTC+04)"
    assert clock.stamp(WINTER, timezone(timedelta(hours=-3))).endswith("(UTC-03:00)")


def test_a_day_alone_is_the_practices_day():
    late = datetime(2026, 12, 8, 3, 0, tzinfo=timezone.utc)  # 9 PM on December 7 in Chicago
    assert clock.display(late, CHICAGO, with_time=False) == "12/07/2026"
    assert clock.display(late, with_time=False) == "12/08/2026"
