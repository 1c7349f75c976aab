"""The calling process: ``current``."""

from __future__ import annotations

from analyzer.model.context import current_machine
from analyzer.model.objects import StaticCell
from analyzer.model.primitives.registry import primitive
from analyzer.model.values import Sym


@primitive
def current():
    """``current``: the task running socket(); its namespaces are the initial
    ones (the global named by ``[process].net_ns`` of primitives.toml)."""
    m = current_machine()
    if "current" not in m.statics:
        saved, m.static_init = m.static_init, True
        try:
            task = m.new("task_struct", "current")
            proxy = m.new("nsproxy", "init_nsproxy")
            net_ns = m.process.get("net_ns")
            proxy.net_ns = m.glob(net_ns)[1] if net_ns else Sym("net_ns")
            task.nsproxy = proxy
        finally:
            m.static_init = saved
        m.statics["current"] = StaticCell(m, task, "current")
    return m.statics["current"].v
