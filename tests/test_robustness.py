"""Bad input never stops a run: each bad file gets a counted warning naming it,
and the real extractor survives fuzzed kernel snippets."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_pipeline import make_tree

from analyzer import pipeline, records
from analyzer.extract import extract_file
from analyzer.store import Store, decode, fact_rows

SNIPPETS = {p.name: p.read_bytes()
            for p in sorted((Path(__file__).parent / "fixtures" / "snippets").iterdir())}
GOOD = b"int good(void) { return 0; }\n"


def _huge() -> bytes:
    line = b"int generated_%07d(int a) { return helper(a) + %d; }\n"
    count = 20 * 1024 * 1024 // len(line % (0, 0)) + 1
    return b"".join(line % (i, i) for i in range(count))


BAD = {
    "net/non_utf8.c": b"/* caf\xe9 \xff\xfe */\n" + GOOD + b"int after(void) { return good(); }\n",
    "net/truncated.c": GOOD + SNIPPETS["lookup.c"][:len(SNIPPETS["lookup.c"]) * 2 // 3],
    "net/binary.c": bytes(range(256)) * 64,
    "net/empty.c": b"",
    "fs/huge.c": _huge(),
    "include/unbalanced.h": b"#ifdef CONFIG_A\n#if B\n" + GOOD + b"#endif\n",
    "fs/extra_endif.c": GOOD + b"#endif\n#endif\n",
}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    cfg = make_tree(tmp_path_factory.mktemp("bad"), {**BAD, "net/fine.c": GOOD})
    report = pipeline.extract_tree(cfg, jobs=2, progress=False)
    return cfg, report


def test_bad_files_do_not_stop_the_run(bad_run):
    cfg, report = bad_run
    assert report.files == len(BAD) + 1 and report.parsed == report.files
    with Store.open(cfg.store_path) as st:
        assert [f.file for f in st.find("functions", "good")].count("net/fine.c") == 1


@pytest.mark.parametrize("rel", sorted(BAD))
def test_each_bad_file_has_a_warning_naming_it(bad_run, rel):
    cfg, report = bad_run
    assert rel in report.warning_files
    with Store.open(cfg.store_path) as st:
        [row] = [f for f in st.files() if f.path == rel]
    assert row.warnings and all(rel in w for w in row.warnings)
    assert not any("extraction failed" in w for w in row.warnings)


def test_warnings_are_counted(bad_run):
    cfg, report = bad_run
    with Store.open(cfg.store_path) as st:
        assert report.warnings == sum(len(f.warnings) for f in st.files()) >= len(BAD)
    assert "net/fine.c" not in report.warning_files


def test_facts_outside_the_bad_region_are_kept(bad_run):
    cfg, _ = bad_run
    with Store.open(cfg.store_path) as st:
        assert {f.name for f in st.in_file("functions", "net/non_utf8.c")} >= {"good", "after"}
        assert "good" in {f.name for f in st.in_file("functions", "include/unbalanced.h")}
        assert "good" in {f.name for f in st.in_file("functions", "net/truncated.c")}


def test_a_changed_bad_file_is_reextracted_clean(tmp_path):
    cfg = make_tree(tmp_path, {"net/empty.c": b""})
    assert pipeline.extract_tree(cfg, jobs=1, progress=False).warnings == 1
    (cfg.kernel_dir / "net/empty.c").write_bytes(GOOD)
    report = pipeline.extract_tree(cfg, jobs=1, progress=False)
    assert (report.parsed, report.warnings) == (1, 0)


# --- fuzzing ---------------------------------------------------------------------

def _mutate(data: st.DataObject, src: bytes) -> bytes:
    out = bytearray(src)
    for _ in range(data.draw(st.integers(1, 6), label="mutations")):
        op = data.draw(st.sampled_from(["insert", "delete", "replace", "truncate", "splice"]))
        at = data.draw(st.integers(0, len(out)))
        if op == "insert":
            out[at:at] = data.draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
                [b"{", b"}", b"(", b")", b"#if X\n", b"#endif\n", b"/*", b"\"", b"\\\n",
                 b"SYSCALL_DEFINE2(", b"list_for_each_entry(", b".f = ", b"->", b";"]))
        elif op == "delete":
            del out[at:at + data.draw(st.integers(1, 40))]
        elif op == "replace" and at < len(out):
            out[at] = data.draw(st.integers(0, 255))
        elif op == "truncate":
            del out[at:]
        elif op == "splice":
            other = SNIPPETS[data.draw(st.sampled_from(sorted(SNIPPETS)))]
            cut = data.draw(st.integers(0, len(other)))
            out[at:] = other[cut:]
    return bytes(out)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_snippets_never_break_the_extractor(data):
    name = data.draw(st.sampled_from(sorted(SNIPPETS)), label="snippet")
    src = _mutate(data, SNIPPETS[name])
    facts = extract_file("net/fuzz.c", src)
    assert isinstance(facts, records.FileFacts) and facts.file == "net/fuzz.c"
    assert not any("extraction failed" in w for w in facts.warnings), facts.warnings
    last = src.count(b"\n") + 1
    for kind, rows in fact_rows(facts).items():
        for row, rec in zip(rows, getattr(facts, kind), strict=True):
            assert rec.file == "net/fuzz.c" and 1 <= rec.line <= last
            assert decode(kind, row) == rec


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_unmutated_snippets_give_facts(name):
    facts = extract_file(f"net/{name}", SNIPPETS[name])
    assert facts.warnings == () and facts.error_nodes == 0
    assert facts.functions or facts.structs
