#!/usr/bin/env python3
"""Tests of perf/gate on summaries in the format iai-callgrind 0.16.1 writes.

`testdata/summary.json` is a real summary (of `count_free`) with the paths
blanked; each test copies it per benchmark, changing only the id and the
instruction count, into a temporary directory laid out like `target/iai`.
The gate's own run of cargo is not exercised here (CI runs it for real).
"""

import copy
import importlib.machinery
import importlib.util
import io
import json
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

HERE = Path(__file__).resolve().parent
loader = importlib.machinery.SourceFileLoader("gate", str(HERE / "gate"))
spec = importlib.util.spec_from_loader("gate", loader)
gate = importlib.util.module_from_spec(spec)
loader.exec_module(gate)

REAL = json.loads((HERE / "testdata" / "summary.json").read_text())


def summary(name, ir):
    document = copy.deepcopy(REAL)
    document["id"] = name
    profile = next(p for p in document["profiles"] if p["tool"] == "Callgrind")
    profile["summaries"]["total"]["summary"]["Callgrind"]["Ir"]["metrics"] = {"Left": {"Int": ir}}
    return document


class GateTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.root = Path(self.dir.name)
        self.baseline = self.root / "baseline.json"

    def tearDown(self):
        self.dir.cleanup()

    def summaries(self, counts):
        out = self.root / "iai"
        for name, ir in counts.items():
            path = out / "standard" / f"workload.{name}" / "summary.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(summary(name, ir)))
        return out

    def gate(self, counts, *extra):
        directory = self.summaries(counts)
        stdout, stderr = io.StringIO(), io.StringIO()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = gate.main(
                ["--from-summary", str(directory), "--baseline", str(self.baseline), *extra]
            )
        return code, stdout.getvalue() + stderr.getvalue()

    def write_baseline(self, counts):
        self.baseline.write_text(json.dumps({"instructions": counts}))

    def test_reads_the_real_summary(self):
        self.assertEqual(gate.instructions(REAL), ("count_free", 29))

    def test_equal_counts_pass(self):
        self.write_baseline({"encode_runs": 1000, "count_free": 29})
        code, out = self.gate({"encode_runs": 1000, "count_free": 29})
        self.assertEqual(code, 0, out)
        self.assertIn("ok (2 benchmarks", out)

    def test_a_rise_within_the_threshold_passes(self):
        self.write_baseline({"encode_runs": 1000})
        code, out = self.gate({"encode_runs": 1050})
        self.assertEqual(code, 0, out)

    def test_a_rise_past_the_threshold_fails_naming_both_counts(self):
        self.write_baseline({"encode_runs": 1000, "open_runs": 500})
        code, out = self.gate({"encode_runs": 1051, "open_runs": 500})
        self.assertEqual(code, 1, out)
        self.assertIn("REGRESSION encode_runs: 1000 -> 1051 Ir (+5.1%, limit 5%)", out)
        self.assertNotIn("REGRESSION open_runs", out)

    def test_the_threshold_is_an_option(self):
        self.write_baseline({"encode_runs": 1000})
        code, out = self.gate({"encode_runs": 1051}, "--threshold", "10")
        self.assertEqual(code, 0, out)

    def test_improvements_pass(self):
        self.write_baseline({"encode_runs": 1000})
        code, out = self.gate({"encode_runs": 400})
        self.assertEqual(code, 0, out)
        self.assertIn("-60.0%", out)

    def test_a_missing_benchmark_fails(self):
        self.write_baseline({"encode_runs": 1000, "open_runs": 500})
        code, out = self.gate({"encode_runs": 1000})
        self.assertEqual(code, 1, out)
        self.assertIn("MISSING open_runs", out)

    def test_a_new_benchmark_is_shown_and_passes(self):
        self.write_baseline({"encode_runs": 1000})
        code, out = self.gate({"encode_runs": 1000, "parallel_encode": 7})
        self.assertEqual(code, 0, out)
        self.assertIn("parallel_encode", out)

    def test_update_writes_the_baseline(self):
        code, out = self.gate({"encode_runs": 1234, "count_free": 29}, "--update")
        self.assertEqual(code, 0, out)
        written = json.loads(self.baseline.read_text())["instructions"]
        self.assertEqual(written, {"count_free": 29, "encode_runs": 1234})
        # and the next comparison against it passes
        self.assertEqual(self.gate({"encode_runs": 1234, "count_free": 29})[0], 0)

    def test_no_summaries_is_an_error_not_a_pass(self):
        self.write_baseline({"encode_runs": 1000})
        code, out = self.gate({})
        self.assertEqual(code, 2, out)

    def test_a_duplicate_benchmark_is_an_error(self):
        self.write_baseline({"encode_runs": 1000})
        directory = self.summaries({"encode_runs": 1000})
        copy_path = directory / "other" / "summary.json"
        copy_path.parent.mkdir(parents=True)
        copy_path.write_text(json.dumps(summary("encode_runs", 1000)))
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            code = gate.main(["--from-summary", str(directory), "--baseline", str(self.baseline)])
        self.assertEqual(code, 2)

    def test_the_committed_baseline_names_every_workload(self):
        committed = json.loads((HERE / "iai-baseline.json").read_text())["instructions"]
        expected = {
            "acquire_fill", "acquire_fragmented", "acquire_interleaved", "reserve_100k", "checkpoint_10pct",
            "encode_runs", "encode_random", "open_runs", "open_random",
            "count_free", "highest_acquired", "stats", "acquire_extent",
        }
        self.assertEqual(set(committed), expected)


if __name__ == "__main__":
    unittest.main()
