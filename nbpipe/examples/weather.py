"""Weather stations: fetch hourly readings, clean them, summarise each day, report.

Run it::

    nbpipe run --module nbpipe.examples.weather WeatherReport --workers 2

The graph: for every station and day, ``FetchReadings`` -> ``CleanReadings``
-> ``DailyStats``; per station, ``StationSummary`` over the days; and one
``WeatherReport`` (a Markdown table) over all stations.  "Fetching" draws
deterministic readings from a seeded generator, including the sensor
glitches (-999) that the cleaning step removes, so the example needs no
network and gives the same numbers everywhere.  Run it twice: the second
run finds everything complete and does nothing.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import random

import nbpipe


class OutputDir(nbpipe.Config):
    """Where the example writes (``[OutputDir] path = ...`` in nbpipe.toml)."""

    path = nbpipe.Parameter(default="weather_output", description="folder for every output of the example")


def _out(*parts: str) -> nbpipe.LocalTarget:
    return nbpipe.LocalTarget("/".join([OutputDir().path, *parts]))


class FetchReadings(nbpipe.Task):
    """Hourly temperatures of one station on one day (with occasional sensor glitches)."""

    station = nbpipe.IntParameter()
    day = nbpipe.DateParameter()

    def output(self):
        return _out("raw", f"station{self.station}", f"{self.day}.csv")

    def run(self):
        rng = random.Random(f"{self.station}-{self.day}")
        base = 5 + 3 * self.station + 8 * math.sin(self.day.timetuple().tm_yday / 58)
        with self.output().open("w") as f:
            writer = csv.writer(f)
            writer.writerow(["hour", "celsius"])
            for hour in range(24):
                value = base + 6 * math.sin((hour - 9) / 24 * 2 * math.pi) + rng.gauss(0, 1.2)
                if rng.random() < 0.04:
                    value = -999.0  # the sensor's "no reading" code
                writer.writerow([hour, f"{value:.2f}"])


class CleanReadings(nbpipe.Task):
    """The readings without glitches."""

    station = nbpipe.IntParameter()
    day = nbpipe.DateParameter()

    def requires(self):
        return FetchReadings(self.station, self.day)

    def output(self):
        return _out("clean", f"station{self.station}", f"{self.day}.csv")

    def run(self):
        with self.input().open("r") as src, self.output().open("w") as dst:
            rows = [row for row in csv.DictReader(src) if float(row["celsius"]) > -100]
            writer = csv.DictWriter(dst, fieldnames=["hour", "celsius"])
            writer.writeheader()
            writer.writerows(rows)


class DailyStats(nbpipe.Task):
    """Minimum, maximum and mean temperature of a station's day."""

    station = nbpipe.IntParameter()
    day = nbpipe.DateParameter()

    def requires(self):
        return CleanReadings(self.station, self.day)

    def output(self):
        return _out("daily", f"station{self.station}", f"{self.day}.json")

    def run(self):
        with self.input().open("r") as f:
            values = [float(row["celsius"]) for row in csv.DictReader(f)]
        stats = {
            "station": self.station,
            "day": str(self.day),
            "readings": len(values),
            "min": round(min(values), 2),
            "max": round(max(values), 2),
            "mean": round(sum(values) / len(values), 2),
        }
        with self.output().open("w") as f:
            json.dump(stats, f)


class StationSummary(nbpipe.Task):
    """A station's days, summarised."""

    station = nbpipe.IntParameter()
    start = nbpipe.DateParameter()
    days = nbpipe.IntParameter()

    def requires(self):
        return [DailyStats(self.station, self.start + datetime.timedelta(days=i)) for i in range(self.days)]

    def output(self):
        return _out("stations", f"station{self.station}_{self.start}_{self.days}d.json")

    def run(self):
        daily = []
        for target in self.input():
            with target.open("r") as f:
                daily.append(json.load(f))
        summary = {
            "station": self.station,
            "days": len(daily),
            "readings": sum(d["readings"] for d in daily),
            "min": min(d["min"] for d in daily),
            "max": max(d["max"] for d in daily),
            "mean": round(sum(d["mean"] for d in daily) / len(daily), 2),
        }
        with self.output().open("w") as f:
            json.dump(summary, f)


class WeatherReport(nbpipe.Task):
    """A Markdown table comparing the stations."""

    start = nbpipe.DateParameter(default=datetime.date(2024, 1, 1), description="first day")
    days = nbpipe.IntParameter(default=7, description="number of days")
    stations = nbpipe.IntParameter(default=5, description="number of stations (1..N)")

    def requires(self):
        return [StationSummary(s, self.start, self.days) for s in range(1, self.stations + 1)]

    def output(self):
        return _out(f"report_{self.start}_{self.days}d_{self.stations}st.md")

    def run(self):
        lines = [
            f"# Weather, {self.start} + {self.days} days",
            "",
            "| station | readings | min °C | max °C | mean °C |",
            "|---:|---:|---:|---:|---:|",
        ]
        for target in self.input():
            with target.open("r") as f:
                s = json.load(f)
            lines.append(f"| {s['station']} | {s['readings']} | {s['min']} | {s['max']} | {s['mean']} |")
        with self.output().open("w") as f:
            f.write("\n".join(lines) + "\n")
        print("\n".join(lines))
