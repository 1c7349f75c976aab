"""The executable model of the socket path, generated from the analysis.

``run("socket", "AF_INET", "SOCK_STREAM", 0)`` boots the model (the kernel's
own registration code: ``sock_init``, ``inet_init``...), then runs the
scenario's entry (``SyS_socket``) with the arguments (constant names of the
tree or integers) and gives a :class:`~analyzer.model.trace.Run`.  The
translated modules are written to ``cfg.model_dir``.

Modules: :mod:`.translate` (C -> Python), :mod:`.runtime` (values, objects,
primitives), :mod:`.generate` (classes, functions, globals; the path rule),
:mod:`.facts` (reading the analysis), :mod:`.trace` (the result),
:mod:`.cli` (the ``model`` command).
"""

from __future__ import annotations

import re
import sys
import time

from analyzer.config import Config
from analyzer.errors import AnalyzerError

__all__ = ["run", "run_with", "generate_all", "open_generator", "Run", "Step", "parse_args",
           "int_arg"]

from analyzer.model.trace import Run, Step  # noqa: E402


def parse_args(facts, args) -> list:
    """Scenario arguments: integers, or constant names of the analysed tree."""
    from analyzer.model import rt

    out = []
    for a in args:
        if isinstance(a, int) or (isinstance(a, str) and re.fullmatch(r"-?[0-9]+", a)):
            out.append(int_arg(a))
            continue
        value = facts.constant(str(a))
        if value is None:
            raise AnalyzerError(f"unknown constant {a!r}: not an enum or #define of the "
                                "analysed tree")
        out.append(rt.Named(str(a), value))
    return out


def int_arg(a: int | str, what: str = "argument") -> int:
    """An integer argument of the model: C values of at most 64 bits (a
    longer number is refused before Python converts it).

    >>> int_arg("-2")
    -2
    """
    text = str(a) if isinstance(a, int) else a
    digits = text.lstrip("-")
    shown = text if len(text) <= 24 else f"{text[:10]}...{text[-4:]} ({len(digits)} digits)"
    if len(digits) > 20 or not -(2**63) <= int(text) < 2**64:
        raise AnalyzerError(f"{what} {shown} is out of range: the model's integers are C "
                            "values of at most 64 bits")
    return int(text)


def open_generator(cfg: Config | None = None, config_file=None, data: dict | None = None):
    """A generator over the analysis in ``cfg`` under the kernel configuration:
    the default one of the fetched tree, or a user's ``.config``."""
    from analyzer.model.facts import open_facts
    from analyzer.model.generate import Generator, table
    from analyzer.model.kconfig import KernelConfig

    cfg = cfg or Config.default()
    facts = open_facts(cfg.store_path, cfg.kernel_dir)
    return Generator(facts, data or table(), KernelConfig.load(cfg, config_file),
                     cache_dir=cfg.build_dir / "model" / "index",
                     image_dir=cfg.build_dir / "model" / "boot")


def run(scenario: str, *args, cfg: Config | None = None, write: bool = True,
        config_file=None, user: str | None = None, sysctls=()) -> Run:
    """Boot the model and run ``scenario`` (see :func:`run_with`) on the analysis
    in ``cfg`` (default: ``Config.default()``), under the default configuration
    or a user's ``.config``, as root or ``user`` (``"UID:GID"``), after the
    runtime ``sysctls`` (``"NAME=VALUE"`` strings)."""
    from analyzer.model.facts import open_facts
    from analyzer.model.process import Process, parse_user
    from analyzer.model.sysctl import parse_setting

    cfg = cfg or Config.default()
    settings = [parse_setting(s) for s in sysctls]  # bad input before the work
    parse_args(open_facts(cfg.store_path, cfg.kernel_dir), args)
    gen = open_generator(cfg, config_file)
    base = Process.from_table(gen.data.get("process", {}))
    process = parse_user(user, base) if user is not None else None
    return run_with(gen.facts, scenario, args, model_dir=cfg.model_dir if write else None,
                    generator=gen, process=process, sysctls=settings)


def run_with(facts, scenario: str, args, model_dir=None, generator=None,
             data: dict | None = None, process=None, sysctls=()) -> Run:
    """Run ``scenario`` on ``facts`` with the data table ``data`` (default:
    ``kernel/primitives.toml``), as ``process`` (default: the table's), after
    writing the runtime ``sysctls`` (:class:`analyzer.model.sysctl.Setting`);
    write the generated modules to ``model_dir``.  The machine is booted once per
    generator and put back in its booted state after the run."""
    from analyzer.model import rt, sysctl
    from analyzer.model.generate import Generator, table
    from analyzer.model.lines import recording

    start = time.perf_counter()
    data = data or (generator.data if generator is not None else table())
    spec = data.get("scenarios", {}).get(scenario)
    if spec is None:
        raise AnalyzerError(f"unknown scenario {scenario!r}; known: "
                            + ", ".join(sorted(data.get("scenarios", {}))))
    values = parse_args(facts, args)
    if len(values) != len(spec.get("params", values)):
        raise AnalyzerError(f"scenario {scenario} takes {len(spec['params'])} arguments: "
                            + " ".join(spec["params"]))
    gen = generator or Generator(facts, data)
    values = entry_values(gen, spec["entry"], values)
    m, report = gen.booted()
    try:
        with m.checked_out():
            m.process, m.task = process or m.process, None  # `current` is made on first use
            boot_count = m.boot_count = len(m.steps)
            try:
                with recording(lambda: len(m.steps) - boot_count, gen.locate,
                               lambda: len(m.writes)) as lines:
                    for setting in sysctls:  # written as /proc/sys does, before the call
                        rt.run_in(m, sysctl.write, m, setting, m.glob(m.process.net_ns)[1])
                    result = rt.run_in(m, m.invoke, spec["entry"], tuple(values))
            except AnalyzerError as e:  # keep the trace up to the failure for the caller
                e.partial = Run.from_machine(m, scenario, tuple(args), None, boot_count)
                raise
            r = Run.from_machine(m, scenario, tuple(args), result, boot_count)
            r.lines = lines
    finally:
        if model_dir is not None:
            _write_modules(gen, model_dir)
    r.boot_report = report
    r.seconds = time.perf_counter() - start
    return r


def _write_modules(gen, model_dir) -> None:
    """Write the generated modules after a run; a run's answer does not depend on
    it, so a folder that cannot be written is a warning, not a failure."""
    try:
        gen.write(model_dir)
    except OSError as e:
        print(f"warning: the generated modules were not written to {model_dir}: "
              f"{e.strerror or e}", file=sys.stderr)


def entry_values(gen, entry: str, values: list) -> list:
    """The arguments as the entry's parameters hold them: a system call's
    ``int type`` given 4294967297 sees 1, as the kernel's SYSCALL_DEFINE casts."""
    found = gen.facts.functions(entry)
    params = found[0].params if found else ()
    out = []
    for i, v in enumerate(values):
        held = gen.sizes.convert(params[i].type, int(v)) \
            if isinstance(v, int) and i < len(params) else v
        out.append(v if held == v else held)  # a constant keeps its name when it fits
    return out


def generate_all(cfg: Config | None = None, session=None) -> str:
    """``make analyze``'s model stage: run every example of every scenario of
    ``kernel/primitives.toml`` with one generator and write the generated
    modules to ``cfg.model_dir``; a one-line summary.  ``session``: the
    :class:`~analyzer.model.session.Session` the site then reads the runs from."""
    from analyzer.model.generate import table
    from analyzer.model.session import Session

    cfg = cfg or Config.default()
    session = session or Session(cfg)
    gen = session.generator("socket")
    gen.save_in_background = True  # the image is written while the examples run
    start, runs, failed = time.perf_counter(), 0, []
    for name, spec in table().get("scenarios", {}).items():
        for args in spec.get("examples", []):
            runs += 1
            try:
                session.run(name, args)
            except AnalyzerError as e:  # the others still run; the summary names it
                failed.append(f"{name}({', '.join(map(str, args))}): {str(e)[:160]}")
    written = gen.write(cfg.model_dir)  # the boot's functions too (kept in its image)
    boot = gen.booted()[1]
    how = "boot image read: nothing the boot read changed" if boot.image == "read" else \
        f"booted from the C in {boot.seconds:.1f} s" + \
        (f": {gen.image_note}" if gen.image_note else "")
    functions, _, structs = gen.sources()
    summary = (f"{runs} runs ({how}), {len(functions)} "
               f"functions and {len(structs)} "
               f"structs generated into {len(written)} modules in "
               f"{time.perf_counter() - start:.1f} s")
    if failed:
        summary += f"; {len(failed)} run(s) failed: " + "; ".join(failed)
    return summary
