"""First run after an install: the helper process that compiles the later kernels ahead
(``traces._kernels.compile_later_soon``). Timings live in ``benchmarks/first_run.py``; these
tests check that the helper compiles what the pipeline then uses, and that the main process
loads it from numba's cache instead of compiling it again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, **env) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=dict(os.environ, **env),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_later_types_are_those_of_the_sample_pipeline():
    """Each kernel of ``LATER`` is called by the sample study's pipeline with exactly the types
    the helper compiles (else the helper's work would be wasted and the kernel compiled twice)."""
    code = (
        "import json\n"
        "import parcours_research as pr\n"
        "from parcours_research.traces import _kernels as K\n"
        "study = pr.load_study(pr.datasets.sample_dir())\n"
        "cleaned, _ = pr.traces.clean(pr.traces.read_events(study))\n"
        "sessions = pr.traces.sessionize(pr.traces.stitch(cleaned)[0])\n"
        "pr.traces.funnel(sessions)\n"
        "pr.traces.transitions(sessions)\n"
        "pr.traces.variants(sessions, top=10)\n"
        "print(json.dumps({n: [str(s) for s in getattr(K, n).signatures] for n in K.LATER}))\n"
    )
    used = _run(code, PARCOURS_COMPILE_HELPER="0")
    from parcours_research.traces import _kernels as K

    for name, spec in K.LATER.items():
        assert used[name] == [str(K.later_types(spec))], name


def test_helper_fills_the_cache_the_main_process_loads(tmp_path):
    """On an empty cache the helper compiles every ``LATER`` kernel; this process then loads
    each from the cache (no compilation here) and it runs."""
    code = (
        "import json\n"
        "import numpy as np\n"
        "from numba.core import event\n"
        "from parcours_research.traces import _kernels as K\n"
        "assert K._cold()\n"
        "K.compile_later_soon()\n"
        "assert K._HELPER, 'no helper started'\n"
        "for name in K.LATER:\n"
        "    assert K._HELPER[name].wait(600)\n"
        "helper_rc = K._HELPER[None].wait(600)\n"
        "compiled = []\n"
        "class L(event.Listener):\n"
        "    def on_start(self, ev): compiled.append(ev.data['dispatcher'].__name__)\n"
        "    def on_end(self, ev): pass\n"
        "event.register('numba:compile', L())\n"
        "for name, spec in K.LATER.items():\n"
        "    getattr(K, name).disp.compile(K.later_types(spec))\n"
        "x = np.array([0, 1, 0, 1], np.int16)\n"
        "c = np.array([0, 0, 0, 1], np.int32)\n"
        "counts = np.zeros(4, np.int64)\n"
        "K._pair_count(x, c, 2, counts)\n"
        "print(json.dumps({'rc': helper_rc, 'compiled': compiled,\n"
        "                  'cold': K._cold(), 'counts': counts.tolist()}))\n"
    )
    out = _run(code, NUMBA_CACHE_DIR=str(tmp_path), PARCOURS_COMPILE_HELPER="1")
    assert out["rc"] == 0
    assert out["compiled"] == []  # every later kernel came from the helper's cache entries
    assert out["cold"] is False
    assert out["counts"] == [0, 1, 1, 0]  # pairs (0, 1) and (1, 0) within case 0


def test_no_helper_when_turned_off_or_warm(tmp_path):
    """``PARCOURS_COMPILE_HELPER=0`` keeps everything in the process."""
    code = (
        "import json\n"
        "from parcours_research.traces import _kernels as K\n"
        "K.compile_later_soon()\n"
        "print(json.dumps({'helper': bool(K._HELPER)}))\n"
    )
    out = _run(code, NUMBA_CACHE_DIR=str(tmp_path), PARCOURS_COMPILE_HELPER="0")
    assert out == {"helper": False}
