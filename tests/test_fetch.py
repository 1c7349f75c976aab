"""Tests of analyzer.fetch on tiny generated tarballs (local files and a real HTTP
server on 127.0.0.1), plus one test on the real Linux 4.4.1 tree (marked ``kernel``)."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import random
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
from pathlib import Path

import pytest

from analyzer import fetch as fetch_mod
from analyzer.config import DEFAULT_PARTS, EXTRA_PARTS, Config
from analyzer.errors import AnalyzerError
from analyzer.fetch import STAMP_NAME, download, fetch, manifest_text, read_manifest, verify_tree

TOP = "linux-4.4.1"
FILES = {
    "COPYING": b"GPL-2.0\n",
    "Makefile": b"VERSION = 4\nPATCHLEVEL = 4\n",
    "net/socket.c": b"SYSCALL_DEFINE3(socket, int, family, int, type, int, protocol)\n{\n}\n",
    "net/ipv4/af_inet.c": b"static int inet_create(void) { return 0; }\n",
    # incompressible, so that a transfer cut half-way really is half a tarball
    "net/blob.bin": random.Random(4).randbytes(96 * 1024),
    "fs/inode.c": b"void iput(void) {}\n",
    "include/linux/net.h": b"struct socket;\n",
    "include/uapi/linux/input-event-codes.h": b"#define EV_KEY 0x01\n",
    "kernel/fork.c": b"long do_fork(void) { return 0; }\n",
    "mm/slab.c": b"void *kmalloc(void);\n",
    "lib/string.c": b"int strcmp(void);\n",
    "arch/x86/include/asm/page.h": b"#define PAGE_SHIFT 12\n",
}
LINKS = {"include/dt-bindings/input/linux-event-codes.h": "../../uapi/linux/input-event-codes.h"}
#: what only the full release has: not in the manifest, never extracted
EXTRAS = {"Documentation/networking/ip-sysctl.txt": b"docs\n", "tools/perf/x.c": b"x\n"}
ALL_PARTS = DEFAULT_PARTS + EXTRA_PARTS


# ---------------------------------------------------------------- helpers


def _info(name: str, **kw) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 1_600_000_000
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def make_tarball(path: Path, files=FILES, links=LINKS, extra=(), mode="w:xz") -> Path:
    """A tarball of ``files`` and ``links`` under linux-4.4.1/, plus raw ``extra`` members
    (pairs of TarInfo and bytes or None)."""
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": "git-archive-like global header"}) as tar:
        tar.addfile(_info(TOP, type=tarfile.DIRTYPE, mode=0o755))
        for rel, data in files.items():
            tar.addfile(_info(f"{TOP}/{rel}", size=len(data), mode=0o644), io.BytesIO(data))
        for rel, target in links.items():
            tar.addfile(_info(f"{TOP}/{rel}", type=tarfile.SYMTYPE, linkname=target))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def write_manifest(path: Path, files=FILES, links=LINKS) -> Path:
    """The manifest, computed here with hashlib (independently of analyzer.fetch)."""
    sums = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    for rel, target in links.items():
        resolved = os.path.normpath(os.path.join(os.path.dirname(rel), target))
        sums[rel] = sums[resolved]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# test manifest\n" + "".join(f"{s}  {r}\n" for r, s in sorted(sums.items())))
    return path


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    """A project home in tmp_path with a manifest that matches FILES and LINKS."""
    config = Config(tmp_path / "home", manifest=tmp_path / "MANIFEST")
    write_manifest(config.manifest)
    return config


@pytest.fixture
def tarball(tmp_path: Path) -> Path:
    return make_tarball(tmp_path / "linux-4.4.1.tar.xz")


def corrupted_files() -> dict[str, bytes]:
    return {**FILES, "net/socket.c": FILES["net/socket.c"].replace(b"socket", b"sockex")}


def assert_nothing_left(config: Config) -> None:
    assert not config.kernel_dir.exists()
    assert not list(config.kernel_root.glob(".fetch-tmp-*"))


# ---------------------------------------------------------------- local tarballs


def test_fetch_extracts_only_the_requested_parts_and_verifies(cfg, tarball):
    report = fetch(str(tarball), cfg, parts=DEFAULT_PARTS, progress=False)
    tree = cfg.kernel_dir
    assert report.action == "extracted"
    assert (tree / "net/socket.c").read_bytes() == FILES["net/socket.c"]
    assert (tree / "COPYING").is_file()
    assert not (tree / "kernel").exists() and not (tree / "arch").exists()
    link = tree / "include/dt-bindings/input/linux-event-codes.h"
    # the release's symlink is installed as a copy: the tree holds no link
    assert not link.is_symlink() and link.read_bytes() == b"#define EV_KEY 0x01\n"
    assert report.files == 9  # 2 top-level + 6 under net fs include + 1 symlink
    assert (tree / STAMP_NAME).is_file()
    assert verify_tree(cfg) == 9
    assert not list(cfg.kernel_root.glob(".fetch-tmp-*"))


def test_second_fetch_is_a_fast_no_op_that_does_not_read_the_source(cfg, tarball):
    fetch(str(tarball), cfg, progress=False)
    report = fetch(str(tmp_missing := tarball.with_name("gone.tar.xz")), cfg, progress=False)
    assert not tmp_missing.exists()
    assert report.action == "up-to-date"


def test_wider_fetch_after_default_then_default_again_keeps_everything(cfg, tarball):
    fetch(str(tarball), cfg, parts=DEFAULT_PARTS, progress=False)
    wide = fetch(str(tarball), cfg, parts=ALL_PARTS, progress=False)
    assert wide.action == "extracted"
    assert (cfg.kernel_dir / "arch/x86/include/asm/page.h").is_file()
    again = fetch(str(tarball), cfg, parts=DEFAULT_PARTS, progress=False)
    assert again.action == "up-to-date" and set(again.parts) == set(ALL_PARTS)
    assert (cfg.kernel_dir / "kernel/fork.c").is_file()


def test_a_file_changed_after_verification_is_the_users_and_kept(cfg, tarball):
    fetch(str(tarball), cfg, progress=False)
    socket_c = cfg.kernel_dir / "net/socket.c"
    socket_c.write_bytes(b"edited\n")
    report = fetch(str(tarball), cfg, progress=False)
    assert report.action == "up-to-date"
    assert socket_c.read_bytes() == b"edited\n"


def test_a_fresh_fetch_over_an_edited_tree_keeps_the_edits(cfg, tarball):
    """A wider fetch extracts afresh: edited, added and deleted files stay so."""
    fetch(str(tarball), cfg, parts=DEFAULT_PARTS, progress=False)
    (cfg.kernel_dir / "net/socket.c").write_bytes(b"edited\n")
    (cfg.kernel_dir / "net/mine.c").write_bytes(b"int mine;\n")
    (cfg.kernel_dir / "fs/inode.c").unlink()
    report = fetch(str(tarball), cfg, parts=ALL_PARTS, progress=False)
    assert report.action == "extracted"
    assert set(report.kept) == {"net/socket.c", "net/mine.c", "fs/inode.c"}
    assert (cfg.kernel_dir / "net/socket.c").read_bytes() == b"edited\n"
    assert (cfg.kernel_dir / "net/mine.c").read_bytes() == b"int mine;\n"
    assert not (cfg.kernel_dir / "fs/inode.c").exists()
    assert (cfg.kernel_dir / "kernel/fork.c").read_bytes() == FILES["kernel/fork.c"]


def test_a_tree_copied_by_hand_without_stamp_is_verified_and_its_own_files_kept(cfg, tarball):
    (cfg.kernel_dir / "net").mkdir(parents=True)
    (cfg.kernel_dir / "net/socket.c").write_bytes(b"not the kernel\n")
    (cfg.kernel_dir / "net/stray.c").write_bytes(b"junk\n")
    report = fetch(str(tarball), cfg, progress=False)
    assert report.action == "extracted" and (cfg.kernel_dir / STAMP_NAME).is_file()
    assert (cfg.kernel_dir / "net/socket.c").read_bytes() == b"not the kernel\n"
    assert (cfg.kernel_dir / "net/stray.c").read_bytes() == b"junk\n"
    assert (cfg.kernel_dir / "fs/inode.c").read_bytes() == FILES["fs/inode.c"]


def test_python_without_extraction_filters_extracts_and_verifies(cfg, tarball, monkeypatch):
    """Python 3.11.0-3.11.3 (Debian 12's) has no tarfile filters: the checks alone."""
    monkeypatch.setattr(fetch_mod, "_EXTRACT", {"set_attrs": False})
    monkeypatch.setattr(fetch_mod, "_FILTER_ERROR", ())
    assert fetch(str(tarball), cfg, progress=False).action == "extracted"
    assert (cfg.kernel_dir / "net/socket.c").read_bytes() == FILES["net/socket.c"]
    assert verify_tree(cfg) > 0


def test_a_symlinked_tree_is_replaced_without_touching_its_target(cfg, tarball, tmp_path):
    elsewhere = tmp_path / "my-copy"
    (elsewhere / "net").mkdir(parents=True)
    (elsewhere / "net/socket.c").write_bytes(b"mine\n")
    cfg.kernel_root.mkdir(parents=True)
    cfg.kernel_dir.symlink_to(elsewhere)
    fetch(str(tarball), cfg, progress=False)
    assert not cfg.kernel_dir.is_symlink()
    assert (cfg.kernel_dir / "net/socket.c").read_bytes() == b"mine\n"  # a copy of the edit
    assert (cfg.kernel_dir / "fs/inode.c").read_bytes() == FILES["fs/inode.c"]
    assert (elsewhere / "net/socket.c").read_bytes() == b"mine\n"
    assert sorted(p.name for p in elsewhere.rglob("*")) == ["net", "socket.c"]


def test_unwritable_target_is_a_clear_error(tmp_path, tarball):
    manifest = write_manifest(tmp_path / "MANIFEST")
    home = tmp_path / "home"
    home.mkdir()
    (home / "kernel-src").write_text("a file where the folder should be")
    with pytest.raises(AnalyzerError, match="fetch into .*kernel-src failed"):
        fetch(str(tarball), Config(home), progress=False, manifest=manifest)


def test_full_release_extras_are_skipped(cfg, tmp_path):
    release = make_tarball(tmp_path / "release.tar.gz", files={**FILES, **EXTRAS}, mode="w:gz")
    report = fetch(str(release), cfg, parts=ALL_PARTS, progress=False)
    assert report.skipped == len(EXTRAS)
    assert not (cfg.kernel_dir / "Documentation").exists()
    assert not (cfg.kernel_dir / "tools").exists()


def test_leftovers_of_a_killed_fetch_are_removed(cfg, tarball):
    half = cfg.kernel_root / ".fetch-tmp-killed" / TOP / "net"
    half.mkdir(parents=True)
    (half / "socket.c").write_bytes(b"half")
    fetch(str(tarball), cfg, progress=False)
    assert not (cfg.kernel_root / ".fetch-tmp-killed").exists()


def test_interrupted_extraction_leaves_nothing_behind(cfg, tarball, monkeypatch):
    calls = []

    def interrupt(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(fetch_mod, "_check_file", interrupt)
    with pytest.raises(KeyboardInterrupt):
        fetch(str(tarball), cfg, progress=False)
    assert_nothing_left(cfg)


_HANG_AFTER_3_FILES = """
import sys, time
from pathlib import Path
from analyzer import fetch as f
from analyzer.config import Config
seen, check = [], f._check_file
def slow_check(*args):
    check(*args)
    seen.append(args)
    if len(seen) == 3:
        Path(sys.argv[3]).write_text("3 files in")
        time.sleep(60)
f._check_file = slow_check
f.fetch(sys.argv[1], Config(Path(sys.argv[2]), manifest=Path(sys.argv[4])), progress=False)
"""


def test_sigkill_mid_extraction_leaves_no_tree_and_next_fetch_recovers(cfg, tarball, tmp_path):
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", _HANG_AFTER_3_FILES, str(tarball),
                             str(cfg.home), str(marker), str(cfg.manifest)])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the fetch did not get going"
        assert list(cfg.kernel_root.glob(".fetch-tmp-*/linux-4.4.1/COPYING"))
    finally:
        proc.kill()
        proc.wait()
    assert not cfg.kernel_dir.exists()  # later stages find no half tree
    assert fetch(str(tarball), cfg, progress=False).action == "extracted"
    assert not list(cfg.kernel_root.glob(".fetch-tmp-*"))


def test_corrupt_member_names_the_file_and_installs_nothing(cfg, tmp_path):
    bad = make_tarball(tmp_path / "bad.tar.xz", files=corrupted_files())
    with pytest.raises(AnalyzerError, match=r"net/socket\.c: SHA-256 .* differs"):
        fetch(str(bad), cfg, progress=False)
    assert_nothing_left(cfg)


def test_failed_fetch_keeps_the_verified_tree(cfg, tarball, tmp_path):
    fetch(str(tarball), cfg, progress=False)
    bad = make_tarball(tmp_path / "bad.tar.xz", files=corrupted_files())
    with pytest.raises(AnalyzerError, match="net/socket.c"):
        fetch(str(bad), cfg, parts=ALL_PARTS, progress=False)
    assert (cfg.kernel_dir / "net/socket.c").read_bytes() == FILES["net/socket.c"]
    assert fetch(str(tarball), cfg, progress=False).action == "up-to-date"


def test_missing_manifest_file_in_tarball_is_reported(cfg, tmp_path):
    short = {k: v for k, v in FILES.items() if k != "fs/inode.c"}
    with pytest.raises(AnalyzerError, match=r"lacks 1 file.*fs/inode\.c"):
        fetch(str(make_tarball(tmp_path / "short.tar.xz", files=short)), cfg, progress=False)
    assert_nothing_left(cfg)


UNSAFE = {
    "dotdot": (_info("../evil.c", size=1), b"x"),
    "dotdot-inside": (_info(f"{TOP}/net/../../evil.c", size=1), b"x"),
    "absolute": (_info("/tmp/evil.c", size=1), b"x"),
    "outside-symlink": (_info(f"{TOP}/net/evil.h", type=tarfile.SYMTYPE,
                              linkname="../../../etc/passwd"), None),
    "absolute-symlink": (_info(f"{TOP}/net/evil.h", type=tarfile.SYMTYPE,
                               linkname="/etc/passwd"), None),
    "device": (_info(f"{TOP}/net/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3), None),
    "outside-top": (_info("other/evil.c", size=1), b"x"),
}


@pytest.mark.parametrize("kind", sorted(UNSAFE))
def test_unsafe_members_are_refused(cfg, tmp_path, kind):
    evil = make_tarball(tmp_path / "evil.tar.xz", extra=[UNSAFE[kind]])
    with pytest.raises(AnalyzerError, match="refused"):
        fetch(str(evil), cfg, progress=False)
    assert_nothing_left(cfg)
    assert not (tmp_path / "evil.c").exists() and not (tmp_path / "home/evil.c").exists()


def _without(rel: str) -> dict[str, bytes]:
    return {k: v for k, v in FILES.items() if k != rel}


def _reg(rel: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return _info(f"{TOP}/{rel}", size=len(data), mode=0o644), data


def _sym(rel: str, target: str) -> tuple[tarfile.TarInfo, None]:
    return _info(f"{TOP}/{rel}", type=tarfile.SYMTYPE, linkname=target), None


def test_symlink_swap_tarball_is_refused(cfg, tmp_path):
    """A symlink net/socket.c -> ../COPYING, then a regular net/socket.c: written
    through the link it would replace the already verified COPYING."""
    evil = make_tarball(tmp_path / "swap.tar.xz", files=_without("net/socket.c"), extra=[
        _sym("net/socket.c", "../COPYING"), _reg("net/socket.c", FILES["net/socket.c"])])
    with pytest.raises(AnalyzerError, match=r"net/socket\.c' refused: it would overwrite"):
        fetch(str(evil), cfg, progress=False)
    assert_nothing_left(cfg)


def test_member_overwriting_an_earlier_member_is_refused(cfg, tmp_path):
    evil = make_tarball(tmp_path / "twice.tar.xz", extra=[_reg("COPYING", b"not the GPL\n")])
    with pytest.raises(AnalyzerError, match=r"COPYING' refused: it would overwrite"):
        fetch(str(evil), cfg, progress=False)
    assert_nothing_left(cfg)


def test_the_same_path_spelt_twice_is_an_overwrite(cfg, tmp_path):
    evil = make_tarball(tmp_path / "dots.tar.xz", extra=[_reg("net/./socket.c", b"evil\n")])
    with pytest.raises(AnalyzerError, match="it would overwrite"):
        fetch(str(evil), cfg, progress=False)
    assert_nothing_left(cfg)


def test_member_written_through_a_link_of_the_tree_is_refused(cfg, tmp_path):
    files = _without("net/ipv4/af_inet.c")
    evil = make_tarball(tmp_path / "through.tar.xz", files=files, extra=[
        _sym("net/ipv4", "../fs"), _reg("net/ipv4/af_inet.c", FILES["net/ipv4/af_inet.c"])])
    with pytest.raises(AnalyzerError, match="written through the link net/ipv4"):
        fetch(str(evil), cfg, progress=False)
    assert_nothing_left(cfg)


def test_link_over_the_folder_of_an_earlier_member_is_refused(cfg, tmp_path):
    evil = make_tarball(tmp_path / "over.tar.xz", extra=[_sym("net/ipv4", "../fs")])
    with pytest.raises(AnalyzerError, match="a link over the folder"):
        fetch(str(evil), cfg, progress=False)
    assert_nothing_left(cfg)


def test_member_larger_than_the_largest_release_file_is_refused(cfg, tarball):
    text = cfg.manifest.read_text()
    cfg.manifest.write_text("# largest file: 1000 bytes\n" + text)  # net/blob.bin has 96 KiB
    assert read_manifest(cfg.manifest).largest == 1000
    with pytest.raises(AnalyzerError, match=r"blob\.bin' refused: 98304 bytes, more than the "
                                            r"largest file of the release \(1000 bytes\)"):
        fetch(str(tarball), cfg, progress=False)
    assert_nothing_left(cfg)


def test_a_member_over_the_limit_is_refused_before_anything_is_written(tmp_path):
    data = b"x" * 5000
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(_info("big", size=len(data)), io.BytesIO(data))
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r|") as tar:
        member = next(iter(tar))
        with pytest.raises(AnalyzerError, match="5000 bytes, more than the largest file"):
            fetch_mod._write_member(tar, member, tmp_path / "big", 1000, Path("t.tar"))
    assert not (tmp_path / "big").exists()


@pytest.mark.parametrize("damage", ["link", "extra", "changed", "missing"])
def test_the_extracted_tree_is_checked_as_a_whole(tmp_path, damage):
    tree = tmp_path / "tree"
    (tree / "net").mkdir(parents=True)
    wanted = {}
    for rel in ("COPYING", "net/socket.c"):
        (tree / rel).write_bytes(FILES[rel])
        wanted[rel] = hashlib.sha256(FILES[rel]).hexdigest()
    fetch_mod._check_tree(tree, wanted, Path("MANIFEST"))  # sound
    if damage == "link":
        (tree / "net/socket.c").unlink()
        (tree / "net/socket.c").symlink_to("../COPYING")
    elif damage == "extra":
        (tree / "net/stray.c").write_bytes(b"x")
    elif damage == "changed":
        (tree / "COPYING").write_bytes(b"changed")
    else:
        (tree / "COPYING").unlink()
    with pytest.raises(AnalyzerError, match="Nothing was installed"):
        fetch_mod._check_tree(tree, wanted, Path("MANIFEST"))


def test_manifest_names_the_largest_file_size(tarball):
    text = manifest_text(tarball, "header")
    assert f"# largest file: {len(FILES['net/blob.bin'])} bytes" in text
    path = tarball.with_name("M")
    path.write_text(text)
    assert read_manifest(path).largest == len(FILES["net/blob.bin"])


def test_the_committed_manifest_gives_the_largest_file():
    assert read_manifest(Config.default().manifest).largest > 100_000


def test_unknown_part_and_bad_manifest_are_clear_errors(cfg, tarball):
    with pytest.raises(AnalyzerError, match="no file under 'drivers'"):
        fetch(str(tarball), cfg, parts=("drivers",), progress=False)
    cfg.manifest.write_text(cfg.manifest.read_text() + "not a checksum line\n")
    with pytest.raises(AnalyzerError, match=r"MANIFEST:\d+: not"):
        read_manifest(cfg.manifest)


def test_manifest_text_agrees_with_independent_hashes(cfg, tarball):
    made = [line for line in manifest_text(tarball, "header").splitlines()
            if not line.startswith("#")]
    expected = [line for line in cfg.manifest.read_text().splitlines()
                if not line.startswith("#")]
    assert made == expected


# ---------------------------------------------------------------- HTTP


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; honours Range; cuts the first transfer of the paths in
    ``server.drop`` half-way; records (path, Range header) in ``server.requests``."""

    def do_GET(self):  # noqa: N802 (the http.server API)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = int(self.headers.get("Range", "bytes=0-")[6:].split("-")[0])
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if self.path in srv.drop:
            srv.drop.discard(self.path)
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.drop, srv.requests = {}, set(), []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_http_fetch_downloads_then_verifies(cfg, tarball, server):
    server.files["/linux-4.4.1.tar.xz"] = tarball.read_bytes()
    report = fetch(f"{server.url}/linux-4.4.1.tar.xz", cfg, progress=False)
    assert report.action == "extracted" and report.downloaded
    assert (cfg.kernel_dir / "net/socket.c").read_bytes() == FILES["net/socket.c"]
    assert (cfg.kernel_root / "downloads/linux-4.4.1.tar.xz").read_bytes() == tarball.read_bytes()
    assert not list(cfg.kernel_root.glob("downloads/*.part"))


def test_http_dropped_connection_resumes_with_range(cfg, tarball, server, monkeypatch):
    data = tarball.read_bytes()
    server.files["/t.tar.xz"] = data
    server.drop.add("/t.tar.xz")
    monkeypatch.setattr(fetch_mod.time, "sleep", lambda s: None)  # no back-off wait
    fetch(f"{server.url}/t.tar.xz", cfg, progress=False)
    assert server.requests[0] == ("/t.tar.xz", None)
    resumed_at = len(data) // 2
    assert server.requests[1] == ("/t.tar.xz", f"bytes={resumed_at}-")
    assert (cfg.kernel_dir / "net/blob.bin").read_bytes() == FILES["net/blob.bin"]


def test_download_resumes_a_part_file_left_by_an_earlier_run(tmp_path, server):
    data = random.Random(1).randbytes(50_000)
    server.files["/f.bin"] = data
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(data[:20_000])
    (tmp_path / "f.bin.part.url").write_text(f"{server.url}/f.bin")
    download(f"{server.url}/f.bin", dest, progress=False)
    assert dest.read_bytes() == data
    assert server.requests == [("/f.bin", "bytes=20000-")]


def test_http_corrupt_tarball_leaves_nothing_behind(cfg, tmp_path, server):
    bad = make_tarball(tmp_path / "bad.tar.xz", files=corrupted_files())
    server.files["/bad.tar.xz"] = bad.read_bytes()
    with pytest.raises(AnalyzerError, match=r"net/socket\.c: SHA-256.*download .* was deleted"):
        fetch(f"{server.url}/bad.tar.xz", cfg, progress=False)
    assert_nothing_left(cfg)
    assert not list((cfg.kernel_root / "downloads").iterdir())


def test_http_404_is_a_clear_error(cfg, server):
    with pytest.raises(AnalyzerError, match="HTTP 404"):
        fetch(f"{server.url}/nothing.tar.xz", cfg, progress=False)
    assert_nothing_left(cfg)
    assert not list((cfg.kernel_root / "downloads").iterdir())


def test_unresolvable_host_tells_about_kernel_tarball(cfg, monkeypatch):
    import socket

    def no_dns(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(fetch_mod.urllib.request, "urlopen", no_dns)
    with pytest.raises(AnalyzerError, match="no internet access.*KERNEL_TARBALL"):
        fetch("https://cdn.kernel.org/pub/linux/kernel/v4.x/linux-4.4.1.tar.xz", cfg,
              progress=False)
    assert_nothing_left(cfg)


def test_refused_connection_retries_then_tells_about_kernel_tarball(tmp_path):
    import socket

    with socket.socket() as s:  # a port on which nobody listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AnalyzerError, match="after 2 attempts.*KERNEL_TARBALL"):
        download(f"http://127.0.0.1:{port}/x.tar.xz", tmp_path / "x.tar.xz",
                 progress=False, retries=1, backoff=0.01, timeout=2)


# ---------------------------------------------------------------- through the CLI


def _cli(cfg: Config, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERNEL_TARBALL": ""}
    return subprocess.run([sys.executable, "-m", "analyzer", "--home", str(cfg.home), "fetch",
                           "--manifest", str(cfg.manifest), *args],
                          capture_output=True, text=True, env=env, timeout=60)


def test_cli_missing_path_is_one_clear_line(cfg, tmp_path):
    run = _cli(cfg, str(tmp_path / "nowhere.tar.xz"), "-q")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("error: kernel tarball not found:")
    assert "nowhere.tar.xz" in run.stderr


def test_cli_folder_is_not_a_tarball(cfg, tmp_path):
    run = _cli(cfg, str(tmp_path), "-q")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.startswith(f"error: {tmp_path} is a folder, not a tarball")


def test_cli_truncated_xz_is_a_clear_error(cfg, tarball, tmp_path):
    cut = tmp_path / "cut.tar.xz"
    cut.write_bytes(tarball.read_bytes()[: tarball.stat().st_size // 2])
    run = _cli(cfg, str(cut), "-q")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "cut.tar.xz: cannot read the tarball" in run.stderr and "truncated" in run.stderr
    assert_nothing_left(cfg)


def test_cli_fetch_then_no_op(cfg, tarball):
    first = _cli(cfg, str(tarball))
    assert first.returncode == 0, first.stderr
    second = _cli(cfg, str(tarball))
    assert second.returncode == 0 and "already verified" in second.stderr


# ---------------------------------------------------------------- the real tree


@pytest.mark.kernel
def test_real_fetch_gives_socket_syscall_at_line_1213(kernel_cfg):
    if tarball := os.environ.get("KERNEL_TARBALL"):  # verify, or replace a tree made by hand
        assert fetch(tarball, kernel_cfg, progress=False).files > 7000
    lines = (kernel_cfg.kernel_dir / "net/socket.c").read_text().splitlines()
    assert lines[1212].startswith("SYSCALL_DEFINE3(socket")


def test_doctests_of_the_module():
    import doctest

    result = doctest.testmod(fetch_mod)
    assert result.attempted >= 1 and result.failed == 0
