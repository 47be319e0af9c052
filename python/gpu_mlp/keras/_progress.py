"""Keras 3's console lines, written through ``sys.stdout`` (so a Jupyter cell shows them):
``Epoch 1/5`` then ``1875/1875 ━━━━━━━━━━ 3s 1ms/step - accuracy: 0.9 - loss: 0.3``,
redrawn as the epoch runs where the output is a terminal or a notebook."""

import sys
import time

_WIDTH = 20


def _dynamic():
    out = sys.stdout
    return (hasattr(out, "isatty") and out.isatty()) or "ipykernel" in sys.modules


def _metrics(values):
    return "".join(f" - {k}: {v:.4f}" for k, v in sorted(values.items()))


def _duration(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _per_step(seconds, steps):
    per = seconds / max(steps, 1)
    return f"{per * 1e3:.0f}ms/step" if per >= 1e-3 else f"{per * 1e6:.0f}us/step"


class Progbar:
    """One epoch's (or one evaluation's) line. ``verbose`` 1: a bar, 2: one line at the end."""

    def __init__(self, steps, verbose):
        self.steps = steps
        self.verbose = verbose
        self.dynamic = verbose == 1 and _dynamic()
        self.started = time.perf_counter()

    def _bar(self, done):
        filled = int(_WIDTH * done / max(self.steps, 1))
        return "━" * filled + "─" * (_WIDTH - filled) if self.dynamic else "━" * _WIDTH

    def update(self, done, values):
        """``done`` steps finished; redraws the line where the output allows it."""
        if not self.dynamic or done >= self.steps:
            return
        elapsed = time.perf_counter() - self.started
        eta = elapsed / max(done, 1) * (self.steps - done)
        width = len(str(self.steps))
        line = (
            f"\r{done:>{width}}/{self.steps} {self._bar(done)} {_duration(eta)} "
            f"{_per_step(elapsed, done)}{_metrics(values)}"
        )
        sys.stdout.write(line + "\x1b[K" if sys.stdout.isatty() else line)
        sys.stdout.flush()

    def finish(self, values):
        """The epoch's last line."""
        if not self.verbose:
            return
        elapsed = time.perf_counter() - self.started
        prefix = "\r" if self.dynamic else ""
        if self.verbose == 1:
            line = (
                f"{prefix}{self.steps}/{self.steps} {self._bar(self.steps)} "
                f"{_duration(elapsed)} {_per_step(elapsed, self.steps)}{_metrics(values)}"
            )
        else:
            line = (
                f"{self.steps}/{self.steps} - {_duration(elapsed)} - "
                f"{_per_step(elapsed, self.steps)}{_metrics(values)}"
            )
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def epoch_header(epoch, epochs):
    sys.stdout.write(f"Epoch {epoch}/{epochs}\n")
    sys.stdout.flush()
