#!/usr/bin/env python3
"""Checks a calendar feed the portal served with a standard parser (Python's icalendar).

Usage: check-calendar.py FILE.ics [--expect window,retirement,roadmap]

The integration test calendar::the_feed_is_rfc5545_with_stable_uids_and_only_what_the_user_may_see
writes target/calendar-sample.ics; .ci/run parses it with this script after the tests. It checks:

- the raw framing: every line ends with CRLF and holds at most 75 octets (RFC 5545 3.1);
- that icalendar.Calendar.from_ical reads it as one VCALENDAR with VERSION 2.0, a PRODID and
  an X-WR-CALNAME;
- every VEVENT: a UID of the form <kind>-<id>@uit-portal (kind window, retirement or roadmap),
  unique in the feed, plus DTSTAMP, DTSTART, DTEND, SUMMARY and a non-negative SEQUENCE;
  windows with date-times and STATUS CONFIRMED or CANCELLED, retirements and roadmap dates as
  all-day events;
- at least one VEVENT of each expected kind.
"""

import argparse
import datetime
import re
import sys

import icalendar

UID = re.compile(r"^(window|retirement|roadmap)-[0-9a-f-]{36}@uit-portal$")


def fail(message):
    print(f"check-calendar: {message}", file=sys.stderr)
    sys.exit(1)


def check_framing(raw):
    if not raw.endswith(b"\r\n"):
        fail("the last line does not end with CRLF")
    lines = raw.split(b"\r\n")[:-1]
    for number, line in enumerate(lines, 1):
        if b"\n" in line or b"\r" in line:
            fail(f"line {number} has a bare line break: {line!r}")
        if len(line) > 75:
            fail(f"line {number} has {len(line)} octets (more than 75): {line!r}")
    return len(lines)


def text(component, name):
    value = component.get(name)
    return None if value is None else str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("path", help="the .ics file")
    parser.add_argument(
        "--expect",
        default="window,retirement,roadmap",
        help="comma-separated event kinds that must each occur at least once",
    )
    args = parser.parse_args()

    with open(args.path, "rb") as f:
        raw = f.read()
    line_count = check_framing(raw)

    try:
        calendar = icalendar.Calendar.from_ical(raw)
    except Exception as e:  # the parser's own error types vary between versions
        fail(f"icalendar cannot parse {args.path}: {e}")
    if calendar.name != "VCALENDAR":
        fail(f"the top component is {calendar.name}, not VCALENDAR")
    if text(calendar, "VERSION") != "2.0":
        fail(f"VERSION is {text(calendar, 'VERSION')!r}, not '2.0'")
    for name in ("PRODID", "X-WR-CALNAME"):
        if not text(calendar, name):
            fail(f"the calendar has no {name}")

    seen = {}
    for event in calendar.walk("VEVENT"):
        uid = text(event, "UID")
        if not uid or not UID.match(uid):
            fail(f"a VEVENT has an unexpected UID: {uid!r}")
        if uid in seen:
            fail(f"UID {uid} occurs twice")
        kind = uid.split("-", 1)[0]
        seen[uid] = kind
        for name in ("DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "SEQUENCE"):
            if event.get(name) is None:
                fail(f"{uid} has no {name}")
        sequence = int(event.get("SEQUENCE"))
        if sequence < 0:
            fail(f"{uid} has SEQUENCE {sequence}")
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        if kind == "window":
            if not isinstance(start, datetime.datetime) or start.utcoffset() != datetime.timedelta(0):
                fail(f"{uid}: DTSTART {start!r} is not a UTC date-time")
            if text(event, "STATUS") not in ("CONFIRMED", "CANCELLED"):
                fail(f"{uid}: STATUS is {text(event, 'STATUS')!r}")
        else:
            if isinstance(start, datetime.datetime) or not isinstance(start, datetime.date):
                fail(f"{uid}: DTSTART {start!r} is not a date (all-day event)")
            if end != start + datetime.timedelta(days=1):
                fail(f"{uid}: an all-day event should end the next day, not {end!r}")
        if end <= start:
            fail(f"{uid}: DTEND {end!r} is not after DTSTART {start!r}")

    expected = [k.strip() for k in args.expect.split(",") if k.strip()]
    for kind in expected:
        if kind not in seen.values():
            fail(f"no {kind} event in {args.path}")
    counts = ", ".join(f"{k}: {list(seen.values()).count(k)}" for k in ("window", "retirement", "roadmap"))
    print(f"{args.path}: {line_count} lines, {len(seen)} events ({counts}); parsed by icalendar {icalendar.__version__}")


if __name__ == "__main__":
    main()
