"""Run Occlusion on a dask.distributed LocalCluster of 2 worker processes.

Started by ``test_dask.py`` as a script: dask's process workers need the main
program to be a file. Prints ``max_abs_diff=<value> tasks=<n>`` and exits 0 when
the maps equal those of ``n_jobs=1``.
"""

import logging
import sys
import time

import joblib
import numpy as np
from dask.distributed import Client, LocalCluster, get_task_stream
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from skxai.saliency import Occlusion


def main():
    start = time.perf_counter()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    clf = LogisticRegression(solver="saga", tol=0.1, max_iter=20).fit(X, y)
    occ = Occlusion(
        clf, window=(2, 2), stride=(1, 1), target="all", image_shape=(8, 8)
    ).fit(X)
    reference = occ.transform(X[:6])
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        occ.set_params(n_jobs=2)
        with get_task_stream(client) as stream:
            with joblib.parallel_config(backend="dask"):
                maps = occ.transform(X[:6])
        n_tasks = len(stream.data)
    diff = float(np.abs(maps - reference).max())
    seconds = time.perf_counter() - start
    print(f"max_abs_diff={diff!r} tasks={n_tasks} seconds={seconds:.1f}")
    return 0 if diff <= 1e-12 and n_tasks > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
