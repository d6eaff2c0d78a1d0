"""The real sentry-sdk against Errata: the `monitor` decorator with an interval config (a
run that succeeds and one that raises) and `capture_checkin` with a crontab config.

Run by tests/it/monitors/sdk.rs as `python crons.py DSN`; prints "python crons ok".
"""

import sys
import time

import sentry_sdk
from sentry_sdk.crons import capture_checkin, monitor
from sentry_sdk.crons.consts import MonitorStatus

sentry_sdk.init(dsn=sys.argv[1], environment="production", release="py-jobs@1.0")

INTERVAL = {
    "schedule": {"type": "interval", "value": 2, "unit": "hour"},
    "checkin_margin": 3,
    "max_runtime": 15,
    "timezone": "UTC",
}


@monitor(monitor_slug="py-decorated", monitor_config=INTERVAL)
def job(fail):
    time.sleep(0.05)
    if fail:
        raise RuntimeError("python job failed")


job(False)
try:
    job(True)
except RuntimeError:
    pass

CRONTAB = {
    "schedule": {"type": "crontab", "value": "0 3 * * *"},
    "timezone": "Europe/Berlin",
    "failure_issue_threshold": 2,
    "recovery_threshold": 3,
}
check_in_id = capture_checkin(
    monitor_slug="py-crontab", status=MonitorStatus.IN_PROGRESS, monitor_config=CRONTAB
)
capture_checkin(
    monitor_slug="py-crontab",
    check_in_id=check_in_id,
    status=MonitorStatus.OK,
    duration=1.5,
    monitor_config=CRONTAB,
)
sentry_sdk.flush(10)
print("python crons ok")
