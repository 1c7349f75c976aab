"""Benchmark of reading the call graph: ``load()`` and the first ``kg.graph``.

Measures on the analysed tree (``make analyze`` first), each figure in a fresh
process, the runs of the two sides alternating:

- ``load()``: opening ``build/graph.sqlite`` (checks included);
- the first ``kg.graph``: the networkx graph made from the database's rows
  (``nodes``, ``edges``, ``chains``: :mod:`analyzer.graphdata`);
- the first ``g.pred`` after it: the predecessor maps, made on first use;
- the baseline: the same graph pickled by this script into a temporary file
  and unpickled the way the analyzer did before it stored plain data (equal
  strings shared, the cyclic collector off, then frozen).  The pickle exists only here, as a
  yardstick; the analyzer never reads one.

Prints medians and the ratios to the baseline, and writes them to
build/bench_graph_load.json.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from analyzer.config import Config

RUNS = 7

_NEW = r"""
import sys, time
t0 = time.perf_counter()
from analyzer import load
kg = load(sys.argv[1])
t1 = time.perf_counter()
g = kg.graph
t2 = time.perf_counter()
g.pred
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, g.number_of_nodes(), g.number_of_edges())
"""

_BASELINE = r"""
import gc, pickle, sys, time
t0 = time.perf_counter()
data = open(sys.argv[1], "rb").read()
gc.disable()
g = pickle.loads(data)
gc.freeze()
gc.enable()
print(time.perf_counter() - t0)
"""

_DUMP = r"""
import pickle, sys
import networkx as nx
from analyzer import load
g = nx.MultiDiGraph(load(sys.argv[1]).graph)  # a plain MultiDiGraph, as pickled before
shared = ("kind", "file", "expr", "rtype", "struct", "field", "confidence", "table")
for _, attrs in g.nodes(data=True):  # equal strings shared, as the analyzer did for its pickle
    attrs["kind"], attrs["file"] = sys.intern(attrs["kind"]), sys.intern(attrs["file"])
for _, _, attrs in g.edges(data=True):
    for d in (attrs, attrs.get("via") or {}):
        for k in shared:
            if isinstance(d.get(k), str):
                d[k] = sys.intern(d[k])
open(sys.argv[2], "wb").write(pickle.dumps(g, protocol=pickle.HIGHEST_PROTOCOL))
"""


def _python(code: str, *args: str) -> list[float]:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True,
                         capture_output=True, text=True).stdout
    return [float(x) for x in out.split()]


def main() -> int:
    cfg = Config.default()
    db = str(cfg.graph_path)
    if not cfg.graph_path.is_file():
        print(f"{db} is missing: run `make analyze` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        baseline_file = str(Path(tmp) / "graph.pickle")
        _python(_DUMP, db, baseline_file)
        new, base = [], []
        for _ in range(RUNS):
            new.append(_python(_NEW, db))
            base.append(_python(_BASELINE, baseline_file)[0])
    med = {
        "load_s": statistics.median(r[0] for r in new),
        "first_graph_s": statistics.median(r[1] for r in new),
        "first_pred_s": statistics.median(r[2] for r in new),
        "baseline_unpickle_s": statistics.median(base),
    }
    med["graph_to_baseline"] = med["first_graph_s"] / med["baseline_unpickle_s"]
    med["graph_and_pred_to_baseline"] = (med["first_graph_s"] + med["first_pred_s"]) \
        / med["baseline_unpickle_s"]
    nodes, edges = int(new[0][3]), int(new[0][4])
    print(f"graph of {nodes:,} nodes, {edges:,} edges; medians of {RUNS} fresh processes")
    print(f"  load()                      {med['load_s'] * 1000:7.1f} ms")
    print(f"  first kg.graph              {med['first_graph_s']:7.3f} s   "
          f"{med['graph_to_baseline']:.2f}x the baseline")
    print(f"  then first g.pred           {med['first_pred_s']:7.3f} s   "
          f"(graph + pred: {med['graph_and_pred_to_baseline']:.2f}x)")
    print(f"  baseline: unpickle the same {med['baseline_unpickle_s']:7.3f} s")
    out = cfg.build_dir / "bench_graph_load.json"
    out.write_text(json.dumps({**med, "nodes": nodes, "edges": edges, "runs": RUNS}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
