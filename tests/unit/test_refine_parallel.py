"""The refine pool must work inside an Airflow Task SDK process: there ``__main__`` is ``.venv/bin/airflow``, and a
child that re-imports it dies (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=airflow-db-not-allowed:///``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from trainset.refine.parallel import pool_map


def test_pool_map_keeps_order():
    assert list(pool_map(abs, range(-40, 0), workers=2, min_items_per_worker=4)) == list(range(40, 0, -1))


def test_pool_workers_never_re_import_the_parents_main_module(tmp_path):
    (tmp_path / "poolwork.py").write_text("import os\n\ndef pid(_):\n    return os.getpid()\n")
    # A stand-in for `.venv/bin/airflow` under the Task SDK: importing it a second time (as __mp_main__) dies.
    script = tmp_path / "airflow_like_main.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        if __name__ != "__main__":
            sys.stderr.write("main module re-imported in a pool worker\\n")
            os._exit(3)
        import poolwork
        from trainset.refine.parallel import pool_map
        pids = list(pool_map(poolwork.pid, range(64), workers=2, min_items_per_worker=4))
        assert os.getpid() not in pids, "ran inline, not in a pool"
        print(len(pids))
    """))
    env = {"PATH": "/usr/bin:/bin", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "airflow-db-not-allowed:///",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), *(p for p in sys.path if p)])}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "64"
