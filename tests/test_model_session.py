"""The model session: generators and runs shared by the model stage and the site."""

from __future__ import annotations

import pytest

from analyzer.errors import AnalyzerError
from analyzer.model.session import Session
from analyzer.model.skb import run_skb

SOCKET = ["socket(AF_INET, SOCK_STREAM, 0)"]


@pytest.mark.kernel
def test_a_scenario_runs_once_and_a_generator_is_made_once(store_cfg):
    s = Session(store_cfg)
    first = s.run("socket", ["AF_INET", "SOCK_STREAM", 0])
    assert s.run("socket", ("AF_INET", "SOCK_STREAM", "0")) is first
    assert first.result == "3"
    assert s.generator("program") is s.generator("program")
    assert s.generator("program") is not s.generator("socket")


@pytest.mark.kernel
def test_a_failed_run_fails_again_without_running(store_cfg):
    s = Session(store_cfg)
    with pytest.raises(AnalyzerError, match="unknown scenario") as first:
        s.run("no_such_scenario", [])
    with pytest.raises(AnalyzerError) as again:
        s.run("no_such_scenario", [])
    assert again.value is first.value


@pytest.mark.kernel
def test_runs_on_a_shared_generator_forget_each_other(store_cfg):
    """A buffer freed by one run is not freed for the next: the runtime's
    record of freed objects is rolled back with the machine."""
    ops = SOCKET + ["alloc_skb(100)", "skb_put(10)", "kfree_skb()"]
    s = Session(store_cfg)
    first = run_skb(ops, store_cfg, write=False, session=s)
    again = run_skb(ops, store_cfg, write=False, session=s)
    alone = run_skb(ops, store_cfg, write=False)
    assert first.to_json()["ops"] == again.to_json()["ops"] == alone.to_json()["ops"]
    assert first.socket == again.socket == alone.socket
    assert [b.freed for b in first.ops[-1].buffers] == [True]


@pytest.mark.kernel
def test_an_image_already_there_is_not_made_again(store_cfg):
    Session(store_cfg).generator("program").booted()  # read, or booted and written
    assert Session(store_cfg).prepare_image("program") is False


@pytest.mark.kernel
def test_an_image_written_in_the_background_is_read_back(store_cfg, tmp_path):
    """The model stage's boot image is written by a forked process while the
    runs go on; once waited for, a new generator reads it."""
    from analyzer.model import open_generator

    gen = open_generator(store_cfg)
    gen.image_dir, gen.read_image, gen.save_in_background = tmp_path, False, True
    report = gen.booted()[1]
    assert report.image == "being written"
    gen.wait_image()
    assert report.image == "written" and len(list(tmp_path.glob("boot-*.msgpack"))) == 1
    again = open_generator(store_cfg)
    again.image_dir = tmp_path
    assert again.booted()[1].image == "read"


@pytest.mark.kernel
def test_runs_of_one_booted_state_share_its_part_and_show_the_same(store_cfg):
    """The booted state's objects and step-0 state are made once for all the
    runs lent it; each run's snapshots are those it would have alone."""
    import dataclasses

    s = Session(store_cfg)
    inet = s.run("socket", ["AF_INET", "SOCK_STREAM", 0])
    unix = s.run("socket", ["AF_UNIX", "SOCK_STREAM", 0])
    assert inet.prefix is not None and inet.prefix is unix.prefix
    for r in (inet, unix):
        alone = dataclasses.replace(r, prefix=None)
        for n in (None, 0, 3, len(r.steps) // 2):
            assert r.snapshot(n) == alone.snapshot(n)
            assert r.snapshot(n, own=True) == alone.snapshot(n, own=True)
