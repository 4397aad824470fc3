"""The schedule: section and cron expressions: crontab's meaning, clear errors naming the file and the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vlkge_graph.config import load_config
from vlkge_graph.errors import ConfigError
from vlkge_graph.jobs.cron import missed_fire_time, parse_cron

GOOD = """
sync: {graph: {entity_labels: [Country]}}
scopes:
  words: {graph: {entity_labels: [WN18RR]}, recipe: training/wn18rr-complex.yaml}
schedule:
  timezone: Europe/Amsterdam
  jobs:
    hourly-refresh: {cron: "0 * * * *", when: {min_changed_entities: 5, retrain_drift: 0.05}}
    nightly-retrain: {cron: "30 2 * * 1-5", action: retrain, scope: words, timezone: UTC}
    countries: {cron: "*/3 * * * * *", action: retrain, scope: Country, when: {changed: false}}
    inline: {action: retrain, scope: {graph: {entity_labels: [Painting]}, runs_dir: /data/runs}}
"""


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vlkge.yaml"
    path.write_text(text)
    return path


def test_jobs_name_their_scope_by_name_or_inline(tmp_path: Path) -> None:
    cfg = load_config(config_file(tmp_path, GOOD))
    jobs = cfg.schedule.jobs
    assert {n: cfg.job_scope(n, j).scope_name for n, j in jobs.items()} == {
        "hourly-refresh": "Country", "nightly-retrain": "words", "countries": "Country", "inline": "Painting"}
    assert jobs["hourly-refresh"].action == "refresh" and jobs["hourly-refresh"].when.changed
    assert cfg.job_scope("nightly-retrain", jobs["nightly-retrain"]).recipe == "training/wn18rr-complex.yaml"
    assert jobs["inline"].cron is None and cfg.job_scope("inline", jobs["inline"]).runs_dir == "/data/runs"


@pytest.mark.parametrize(("text", "message"), [
    ("schedule: {jobs: {a: {cron: '61 * * * *'}}}",
     "schedule.jobs.a: cron: '61 * * * *' is not a valid cron expression"),
    ("schedule: {jobs: {a: {cron: 'every day'}}}", "schedule.jobs.a: cron: 'every day' has 2 fields; write 5"),
    ("schedule: {jobs: {a: {cron: '0 0 * * 8'}}}", "day of week '8': numbers run from 0 to 7"),
    ("sync: {graph: {entity_labels: [A]}}\nschedule: {jobs: {a: {cron: '@daily', scope: nope}}}",
     "schedule.jobs.a.scope: unknown scope 'nope'; known: ['A']"),
    ("schedule: {jobs: {a: {cron: '@daily'}}}", "schedule.jobs.a.scope: the scope has no graph"),
    ("schedule: {jobs: {a: {cron: '@daily', scope: {graf: {}}}}}", "schedule.jobs.a.scope: unknown key(s) ['graf']"),
    ("schedule: {jobs: {a: {cron: '@daily', timezone: Mars/Olympus}}}", "'Mars/Olympus' is not an IANA time zone"),
    ("schedule: {jobs: {a: {action: reindex}}}", "schedule.jobs.a.action: 'reindex' is not one of"),
    ("schedule: {jobs: {a: {when: {retrain_drift: 5}}}}", "retrain_drift: a share between 0 and 1"),
    ("schedule: {jobs: {a: {whenn: {}}}}", "schedule.jobs.a: unknown key(s) ['whenn']"),
])
def test_bad_schedules_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = config_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value), str(info.value)


def fires(expression: str, after: datetime, n: int = 3) -> list[datetime]:
    trigger, out, t = parse_cron(expression, "UTC"), [], after
    for _ in range(n):
        t = trigger.get_next_fire_time(None, t + timedelta(microseconds=1))
        out.append(t)
    return out


def test_cron_fields_mean_what_crontab_means() -> None:
    monday = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
    assert [d.strftime("%a %H:%M") for d in fires("30 2 * * 1-5", monday)] == ["Tue 02:30", "Wed 02:30", "Thu 02:30"]
    assert [d.strftime("%a") for d in fires("0 0 * * 0", monday, 2)] == ["Sun", "Sun"]  # 0 = Sunday, as crontab
    assert [d.strftime("%a") for d in fires("0 0 * * 7", monday, 1)] == ["Sun"]
    assert [d.strftime("%a") for d in fires("0 0 * * */2", monday, 4)] == ["Tue", "Thu", "Sat", "Sun"]
    assert [d.strftime("%a") for d in fires("0 0 * * sat,sun", monday, 2)] == ["Sat", "Sun"]
    assert [d.second for d in fires("*/3 * * * * *", monday)] == [3, 6, 9]  # 6 fields: seconds first
    assert fires("@daily", monday, 1) == [datetime(2026, 3, 3, tzinfo=UTC)]
    amsterdam = parse_cron("0 3 * * *", "Europe/Amsterdam").get_next_fire_time(None, monday)
    assert amsterdam.astimezone(UTC).hour == 2  # 03:00 CET


def test_missed_runs_coalesce_into_one_within_the_grace() -> None:
    trigger = parse_cron("0 * * * *", "UTC")
    now = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    hour = timedelta(hours=1)
    # down since 08:10: 09:00 ... 12:00 were missed; one run, for the latest
    down_since = now - 4 * hour - timedelta(minutes=20)
    assert missed_fire_time(trigger, down_since, now, 2 * hour) == now - timedelta(minutes=30)
    assert missed_fire_time(trigger, now - timedelta(minutes=20), now, 2 * hour) is None  # ran at 12:10
    assert missed_fire_time(trigger, now - 5 * hour, now, timedelta(minutes=10)) is None  # too late to catch up
    assert missed_fire_time(trigger, None, now, hour) is None  # never ran: wait for the schedule
