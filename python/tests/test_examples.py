"""The three tutorials in python/examples run (MNIST cut to a subset so CI stays quick) and
reach the accuracy they should."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name, tmp_path, samples="6000"):
    env = dict(os.environ, GPU_MLP_EXAMPLE_SAMPLES=samples,
               GPU_MLP_EXAMPLE_SAVE=str(tmp_path / "model.safetensors"))
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def accuracy(out):
    return float(re.findall(r"[Tt]est accuracy:? ([0-9.]+)", out)[-1])


def test_quickstart(tmp_path):
    out = run("quickstart.py", tmp_path)
    assert "Epoch 5/5" in out
    assert accuracy(out) > 0.92, out


def test_three_hidden_layers(tmp_path):
    out = run("three_hidden_layers.py", tmp_path)
    assert "Total params: 134,794" in out
    assert accuracy(out) > 0.92, out
    assert (tmp_path / "model.safetensors").exists()


def test_three_classes_one_hot(tmp_path):
    out = run("three_classes_one_hot.py", tmp_path)
    assert "history keys: ['accuracy', 'loss', 'val_accuracy', 'val_loss']" in out
    assert accuracy(out) > 0.85, out
