"""Each tune trial runs as ``python -m textrnn.tuning.trial SPEC``, not through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from textrnn.tuning import runner


def run_module(*args: str):
    return subprocess.run([sys.executable, "-m", "textrnn.tuning.trial", *args], capture_output=True, text=True,
                          timeout=120)


def test_a_bad_spec_is_one_error_line_and_exit_1(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"task": "lm"}))
    done = run_module(str(spec))
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [f"Error: trial spec {spec} lacks config, run_dir"]
    assert "Traceback" not in done.stderr


def test_no_spec_is_a_usage_line():
    done = run_module()
    assert done.returncode == 2 and done.stderr.startswith("usage: python -m textrnn.tuning.trial")


def test_the_runner_starts_the_trial_module_and_recognises_it(tmp_path):
    assert runner.TRIAL_MODULE == "textrnn.tuning.trial"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", runner.TRIAL_MODULE])
    try:  # a process whose command line names the trial module counts as a live trial
        deadline = time.monotonic() + 10  # /proc shows the new command line only once exec is done
        while not runner._is_trial_process(sleeper.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runner._is_trial_process(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
