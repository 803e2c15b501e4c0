from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from django.shortcuts import render

ZONE = "Europe/Paris"
# A fixed instant makes the page checkable; "now" shows the zone is live.
SUMMER_NOON_UTC = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)


def clock(request):
    zone = ZoneInfo(ZONE)
    return render(request, "clock/clock.html", {
        "zone": ZONE,
        "fixed": SUMMER_NOON_UTC.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
        "now": datetime.now(zone).strftime("%Y-%m-%d %H:%M %Z"),
    })
