#!/usr/bin/python3
"""The Python module gives what the command line's --json prints (issue 19).

Usage: PYTHONPATH=BUILD/python tests/python/module_test.py BUILD/spsim
"""
import json
import subprocess
import sys
import unittest

import spsim

BINARY = sys.argv.pop(1)


def cli_json(*args):
    out = subprocess.run([BINARY, *args, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


class ModuleTest(unittest.TestCase):
    def test_issue_example(self):
        # The line of issue 19's "done when".
        step = spsim.run(model="llama-3-8b", gpus=8, seq=131072, strategy="ring")["step_time_s"]
        self.assertGreater(step, 0)

    def test_run_is_the_cli_json(self):
        kwargs = dict(strategy="usp", u=4, r=2, gpus=16, seq="128K", zero=3, recompute="full")
        self.assertEqual(spsim.run(**kwargs),
                         cli_json("run", "-s", "usp", "-u", "4", "-r", "2", "--gpus", "16", "--seq", "128K",
                                  "--zero", "3", "--recompute", "full"))

    def test_lists_switches_and_underscores(self):
        rows = spsim.run(strategy=["ring", "ulysses"], gpus=[8, 64], seq=65536)
        self.assertEqual(len(rows), 4)
        stripe = spsim.run(strategy="ring", r=8, gpus=8, seq="64K", ring_variant="stripe")
        self.assertEqual(stripe["config"]["ring_variant"], "stripe")
        self.assertEqual(spsim.max_context(strategy="ring", gpus=16, zero=3),
                         cli_json("max-context", "-s", "ring", "--gpus", "16", "--zero", "3"))
        att = spsim.attention(strategy="ring", n=8, heads=32, kv_heads=8, head_dim=128, seq="32K")
        self.assertGreater(att["forward"]["time_s"], 0)

    def test_sweep_validate_and_cli(self):
        rows = spsim.sweep(best=True, gpus=8, seq=["8K", "16K"])
        self.assertTrue(rows)
        summary = spsim.validate()["summary"]
        self.assertIn("throughput", json.dumps(summary))
        code, out, err = spsim.cli("list", "models")
        self.assertEqual(code, 0)
        self.assertIn("llama-3-8b", out)

    def test_bad_input_raises_value_error_with_the_cli_line(self):
        with self.assertRaises(ValueError) as caught:
            spsim.run(strategy="ring", gpus=8, seq=131072, zero=7)
        self.assertIn("spsim: error:", str(caught.exception))
        self.assertIn("zero", str(caught.exception))
        with self.assertRaises(ValueError):
            spsim.run(json=True)
        with self.assertRaises(ValueError):
            spsim.validate(check_baseline="validation/baseline.json")
        # The process is still usable after an error, and prints nothing of its own.
        self.assertGreater(spsim.run(strategy="ring", gpus=8, seq="8K")["step_time_s"], 0)


if __name__ == "__main__":
    unittest.main()
