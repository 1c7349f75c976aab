"""analyzer.model.kconfig: small Kconfig trees in a tmp dir (defaults, depends
on, select, choice, tristate with MODULES, the table, a user's .config, the
cache), and on the real tree the default configuration of 4.4.1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analyzer.config import Config
from analyzer.errors import AnalyzerError
from analyzer.model import kconfig
from analyzer.model.kconfig import UNDECLARED, KernelConfig, describe, parse_table

KCONFIG = """\
config A
	bool "A"
	default y

config B
	bool "B"
	depends on A
	default y

config C
	bool "C"
	depends on OUTSIDE_OFF
	default y

config D
	tristate "D"
	default m

config F
	tristate "F"

config G
	bool "G"
	select SEL

config SEL
	bool

choice
	prompt "pick one"
	default P2

config P1
	bool "p1"

config P2
	bool "p2"

endchoice

config S
	string
	default "two" if P2
	default "one"

config N
	int "n"
	default 3

config X
	hex "x"
	default 0x10

source "drivers/missing/Kconfig"
"""

TABLE = """\
[unfetched]
files = ["drivers/missing/Kconfig"]

[sources]
files = ["a/Kconfig"]

[defconfig]
F = "y"
G = "y"

[outside.MODULES]
type = "bool"
value = "y"
modules = true
source = "init/Kconfig: option modules"

[outside.OUTSIDE_OFF]
type = "bool"
value = "n"
source = "somewhere: no default"

[outside.HZ]
type = "int"
value = "250"
source = "kernel/Kconfig.hz: default HZ_250"
"""


@pytest.fixture
def tree(tmp_path: Path):
    """A Config over a tiny tree (a/Kconfig) and the table above."""
    cfg = Config(tmp_path)
    (cfg.kernel_dir / "a").mkdir(parents=True)
    (cfg.kernel_dir / "a" / "Kconfig").write_text(KCONFIG)
    return cfg, parse_table(TABLE)


def load(tree, config_file=None, **kw) -> KernelConfig:
    cfg, tab = tree
    return KernelConfig.load(cfg, config_file, tab=tab, **kw)


# ------------------------------------------------------------------ defaults

def test_defaults_depends_and_sources(tree):
    kc = load(tree)
    assert (kc.value("A"), kc.source("A")) == ("y", "a/Kconfig:1: default y")
    assert kc.value("CONFIG_B") == "y"
    assert kc.value("C") == "n" and kc.source("C") == "a/Kconfig:10: no default applies"
    assert kc.value("HZ") == "250" and kc.number("CONFIG_HZ") == 250
    assert kc.source("HZ") == "config.toml [outside]: kernel/Kconfig.hz: default HZ_250"
    assert kc.number("X") == 16 and kc.number("A") is None


def test_tristate_can_be_m_with_modules(tree):
    kc = load(tree)
    assert kc.value("D") == "m"
    assert (kc.is_enabled("D"), kc.is_builtin("D"), kc.is_module("D")) == (True, False, True)
    assert kc.enabled("CONFIG_D_MODULE") and not kc.enabled("CONFIG_D")
    assert not kc.is_reachable("D") and kc.is_reachable("D", module=True)


def test_defconfig_fragment_and_select(tree):
    kc = load(tree)
    assert kc.value("F") == "y"
    assert kc.source("F") == "config.toml [defconfig]: x86_64_defconfig: CONFIG_F=y"
    assert kc.value("SEL") == "y" and kc.source("SEL") == "a/Kconfig:26: selected by G"


def test_choice_and_conditional_string_default(tree):
    kc = load(tree)
    assert (kc.value("P1"), kc.value("P2")) == ("n", "y")
    assert kc.source("P2") == "a/Kconfig:29: choice default P2"
    assert kc.value("S") == '"two"'
    assert kc.source("S") == "a/Kconfig:41: default \"two\" if P2"


def test_defines_are_what_autoconf_h_holds(tree):
    d = load(tree).defines()
    assert d["CONFIG_A"] == 1 and d["CONFIG_D_MODULE"] == 1 and "CONFIG_D" not in d
    assert d["CONFIG_HZ"] == 250 and d["CONFIG_X"] == 16 and d["CONFIG_S"] == '"two"'
    assert "CONFIG_C" not in d and "CONFIG_OUTSIDE_OFF" not in d


def test_an_undeclared_option_is_n(tree):
    kc = load(tree)
    assert (kc.value("CONFIG_NOPE"), kc.source("NOPE")) == ("n", UNDECLARED)
    assert not kc.enabled("NOPE") and not kc.is_enabled("NOPE") and kc.number("NOPE") is None


def test_an_unfetched_source_not_in_the_table_is_named(tree):
    cfg, _ = tree
    tab = parse_table(TABLE.replace('files = ["drivers/missing/Kconfig"]', "files = []"))
    with pytest.raises(AnalyzerError, match="drivers/missing/Kconfig"):
        KernelConfig.load(cfg, tab=tab, use_cache=False)


def test_a_bad_table_is_named():
    with pytest.raises(AnalyzerError, match=r"\[outside.X\] needs a type"):
        parse_table('[outside.X]\nvalue = "y"\n', "t.toml")


def test_no_tree_is_a_clear_error(tmp_path):
    with pytest.raises(AnalyzerError, match="no kernel tree"):
        KernelConfig.load(Config(tmp_path))


# ------------------------------------------------------------------ a user's .config

def test_user_config_with_bad_lines(tree, tmp_path):
    path = tmp_path / "my.config"
    path.write_text("CONFIG_A=n\nCONFIG_P1=y\nthis is not a line\nCONFIG_D=y\n"
                    "CONFIG_N=abc\nCONFIG_UNKNOWN_X=y\nCONFIG_A=n\n"
                    "# CONFIG_MODULES is not set\nCONFIG_S=\"mine\"\n")
    kc = load(tree, path)
    assert kc.origin == str(path)
    assert (kc.value("A"), kc.source("A")) == ("n", "your .config line 7")
    assert kc.value("B") == "n"  # depends on A
    assert (kc.value("P1"), kc.value("P2")) == ("y", "n")
    assert kc.value("D") == "y" and kc.value("MODULES") == "n"
    assert kc.value("F") == "n"  # the defaults' fragment is not applied to a user's file
    assert kc.value("S") == '"one"' and kc.value("N") == "3"  # S has no prompt
    assert 'line 9 asks "mine"; not visible' in kc.source("S")
    assert kc.value("UNKNOWN_X") == "y" and "taken as written" in kc.source("UNKNOWN_X")
    warns = "\n".join(kc.warnings)
    assert f"{path}:3: not a .config line" in warns
    assert f"{path}:5: CONFIG_N=abc is not a valid int value" in warns
    assert f"{path}:7: CONFIG_A set again (line 1)" in warns


def test_a_value_the_dependencies_refuse_says_so(tree, tmp_path):
    path = tmp_path / "c.config"
    path.write_text("CONFIG_C=y\n")
    kc = load(tree, path)
    assert kc.value("C") == "n"
    assert "your .config line 1 asks y; not visible: depends on OUTSIDE_OFF" in kc.source("C")


def test_a_missing_config_file_is_named(tree, tmp_path):
    with pytest.raises(AnalyzerError, match=r"nothing\.config: no such \.config file"):
        load(tree, tmp_path / "nothing.config")


def test_write_and_read_back(tree, tmp_path):
    kc = load(tree)
    out = tmp_path / "out.config"
    kc.write(out)
    text = out.read_text()
    assert "CONFIG_A=y\n" in text and "# CONFIG_P1 is not set\n" in text
    assert "CONFIG_C" not in text  # invisible and without a default: not written
    assert 'CONFIG_S="two"\n' in text and "CONFIG_D=m\n" in text
    with pytest.raises(AnalyzerError, match="exists; not overwritten"):
        kc.write(out)
    again = load(tree, out)
    assert again.digest == kc.digest and again.warnings == ()
    assert again.source("A") == f"your .config line {text.splitlines().index('CONFIG_A=y') + 1}"


# ------------------------------------------------------------------ the cache

def test_the_cache_is_used_and_follows_the_kconfig_files(tree, monkeypatch):
    cfg, tab = tree
    first = KernelConfig.load(cfg, tab=tab)
    cached = cfg.build_dir / "config" / "default.json"
    assert cached.is_file()

    def fail(*a, **k):
        raise AssertionError("resolved again")

    monkeypatch.setattr(kconfig, "_resolve", fail)
    assert KernelConfig.load(cfg, tab=tab).to_json() == first.to_json()
    monkeypatch.undo()
    kfile = cfg.kernel_dir / "a" / "Kconfig"
    kfile.write_text(KCONFIG.replace("config A\n\tbool \"A\"\n\tdefault y",
                                     "config A\n\tbool \"A\"\n\tdefault n"))
    assert KernelConfig.load(cfg, tab=tab).value("A") == "n"


def test_a_broken_cache_file_is_ignored(tree):
    cfg, tab = tree
    KernelConfig.load(cfg, tab=tab)
    (cfg.build_dir / "config" / "default.json").write_text("{not json")
    assert KernelConfig.load(cfg, tab=tab).value("A") == "y"


def test_describe_rows(tree):
    text = describe(load(tree).rows(["A", "CONFIG_HZ", "NOPE"]))
    assert text.splitlines()[0].split()[:2] == ["CONFIG_A", "y"]
    assert "CONFIG_NOPE" in text and "undeclared option is n" in text


# ------------------------------------------------------------------ the real tree

@pytest.mark.kernel
def test_default_configuration_of_the_release(kernel_cfg):
    kc = KernelConfig.load(kernel_cfg)
    for name in ("NET", "INET", "IPV6", "UNIX", "PACKET", "TCP_CONG_CUBIC", "MULTIUSER",
                 "PROC_FS", "SYSCTL", "EPOLL", "NET_NS", "MODULES", "SMP"):
        assert kc.value(name) == "y", (name, kc.source(name))
    assert kc.value("DEFAULT_TCP_CONG") == '"cubic"'
    assert kc.defines()["CONFIG_DEFAULT_TCP_CONG"] == '"cubic"'
    assert kc.number("HZ") == 250 and kc.defines()["CONFIG_HZ"] == 250
    assert kc.value("SECURITY") == "n" and not kc.enabled("CONFIG_SECURITY")
    assert kc.value("IP_DCCP") == "n"
    assert kc.source("IPV6").startswith("net/ipv6/Kconfig:6: default y")
    assert kc.source("NET").startswith("config.toml [defconfig]")
    assert kc.warnings == ()


@pytest.mark.kernel
def test_a_user_config_turning_unix_off_is_honoured(kernel_cfg, tmp_path):
    default = KernelConfig.load(kernel_cfg)
    text = default.config_text().replace("CONFIG_UNIX=y\n", "# CONFIG_UNIX is not set\n")
    path = tmp_path / "nounix.config"
    path.write_text(text)
    kc = KernelConfig.load(kernel_cfg, path)
    line = text.splitlines().index("# CONFIG_UNIX is not set") + 1
    assert (kc.value("UNIX"), kc.source("UNIX")) == ("n", f"your .config line {line}")
    assert kc.value("UNIX_DIAG") == "n" and kc.value("INET") == "y"
    assert kc.digest != default.digest and kc.warnings == ()


@pytest.mark.kernel
def test_the_table_is_honest(kernel_cfg):
    """[outside] options are not declared by the fetched Kconfig files; each
    [defconfig] option is declared there and has no default that applies."""
    import kconfiglib

    kconf = kconfig.kconfig_tree(kernel_cfg)
    tab = kconfig.table()
    for name in tab.outside:
        nodes = kconf.syms[name].nodes if name in kconf.syms else []
        assert all(n.filename == "Kconfig.analyzer" for n in nodes), name
    for name in tab.defconfig:
        sym = kconf.syms[name]
        applied = [kconfiglib.expr_str(v) for v, c in sym.defaults
                   if kconfiglib.expr_value(c) and kconfiglib.expr_str(v) != "n"]
        assert applied == [], (name, applied)


@pytest.mark.kernel
def test_every_option_net_and_fs_test_is_declared(kernel_cfg):
    """Every CONFIG_ option that an #if/#ifdef/IS_ENABLED of net/ or fs/, or
    their Makefiles, test is declared by the fetched Kconfig files or
    config.toml [outside], or is a macro that the C code defines itself."""
    kc = KernelConfig.load(kernel_cfg)
    root = kernel_cfg.kernel_dir
    directive = re.compile(r"^\s*#\s*(?:if|ifdef|ifndef|elif)\b(.*)$", re.M)
    helper = re.compile(r"\b(?:IS_ENABLED|IS_BUILTIN|IS_MODULE|IS_REACHABLE|config_enabled)"
                        r"\s*\(\s*CONFIG_(\w+)")
    name = re.compile(r"\bCONFIG_(\w+)")
    defined = re.compile(r"^\s*#\s*define\s+CONFIG_(\w+)", re.M)
    used, in_c = set(), set()
    for part in ("net", "fs", "include"):
        for p in (root / part).rglob("*.[ch]"):
            text = p.read_text(errors="replace")
            in_c.update(defined.findall(text))
            if part != "include":
                for m in directive.finditer(text):
                    used.update(name.findall(m.group(1)))
                used.update(helper.findall(text))
    for part in ("net", "fs"):  # and their kbuild Makefiles
        for p in (root / part).rglob("*"):
            if p.name in ("Makefile", "Kbuild"):
                used.update(name.findall(p.read_text(errors="replace")))
    used = {u[:-7] if u.endswith("_MODULE") else u for u in used}
    missing = sorted(u for u in used if kc.option(u) is None and u not in in_c)
    assert missing == []
