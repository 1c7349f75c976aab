"""What a boot read (analyzer/model/bootinputs.py): a file's skeleton keeps what
the generator read of it, so an edit elsewhere keeps the boot image, and an
edit of anything it read does not."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from analyzer.model import bootinputs
from analyzer.model.facts import facts_from_files
from analyzer.model.generate import Generator, ParsedFile, _index, table
from analyzer.parse import parse

C = """\
#define TWO 2
struct s { int a; };

int used(int x)
{
\tint y = x + 1;
\treturn y;
}

int other(int x)
{
\tint z = x * 3;
\treturn z;
}
"""


def _shape(text: str, used=("used",)) -> str:
    parsed = parse(text.encode())
    functions, decls = _index(parsed)
    return bootinputs.skeleton(ParsedFile("t.c", parsed, functions, decls, text.encode()),
                               set(used))


@pytest.mark.parametrize("edit", [
    ("x * 3", "x * 4"),                    # a body no boot looked up
    ("x * 3", "x * 3000 + 17"),            # longer, still one line
    ("\tint z = x * 3;", "\tint z = x * 3; /* a comment */"),
])
def test_an_edit_of_a_body_the_boot_did_not_read_keeps_the_skeleton(edit):
    assert _shape(C.replace(*edit)) == _shape(C)


@pytest.mark.parametrize("edit", [
    ("x + 1", "x + 2"),                                       # a body it read
    ("\tint z = x * 3;", "\tint z = x * 3;\n\tz++;"),          # every later line moves
    ("int other(int x)", "int another(int x)"),               # a name the store gives
    ("#define TWO 2", "#define TWO 3"),                       # a directive
    ("struct s { int a; };", "struct s { long a; };"),        # a declaration
    ("\tint z = x * 3;", "\tstruct t { int b; } z;"),          # a struct in a body
    ("\tint z = x * 3;", "#if 0\n\tint z = x * 3;\n#endif"),  # a directive in a body
    ("\tint z = x * 3;", "static DEFINE_MUTEX(lock);"),  # one a file's globals scan finds
])
def test_an_edit_of_what_the_boot_read_changes_the_skeleton(edit):
    assert C.count(edit[0]) == 1
    assert _shape(C.replace(*edit)) != _shape(C)


def test_every_body_counts_when_each_was_read():
    both = ("used", "other")
    assert _shape(C.replace("x * 3", "x * 4"), both) != _shape(C, both)


def _generator(root: Path) -> Generator:
    data = copy.deepcopy(table())
    data["boot"] = {"entries": [], "follow": []}
    return Generator(facts_from_files(root, ["t.c"]), data)


def _read(root: Path) -> bootinputs.BootInputs:
    """What a generator reads to translate ``used`` (as a boot would)."""
    gen = _generator(root)
    assert gen.function("used", "t.c") is not None
    return bootinputs.record(gen)


def test_stale_names_what_changed_where_the_boot_read_it(tmp_path):
    (tmp_path / "t.c").write_text(C)
    inputs = _read(tmp_path)
    assert "t.c" in inputs.files and "used" in inputs.bodies["t.c"]
    assert bootinputs.BootInputs.from_data(inputs.to_data()) == inputs

    (tmp_path / "t.c").write_text(C.replace("x * 3", "x * 4"))
    assert bootinputs.stale(_generator(tmp_path), inputs) == ""

    (tmp_path / "t.c").write_text(C.replace("x + 1", "x + 2"))
    assert bootinputs.stale(_generator(tmp_path), inputs) == \
        "t.c changed where the boot read it"

    gen = _generator(tmp_path)
    (tmp_path / "t.c").unlink()
    assert bootinputs.stale(gen, inputs) == "t.c can no longer be read"


def test_a_record_the_boot_looked_up_changes_it(tmp_path):
    """The store's answers count too: a function of another file named like
    one the boot looked up (here `used`, now defined twice)."""
    (tmp_path / "t.c").write_text(C)
    (tmp_path / "u.c").write_text("int used(int x) { return x; }\n")
    inputs = _read(tmp_path)
    gen = Generator(facts_from_files(tmp_path, ["t.c", "u.c"]), _generator(tmp_path).data)
    assert bootinputs.stale(gen, inputs) == "the functions records of used changed"


# --- on the real tree ------------------------------------------------------------------

BIND = (b"\terr = -EINVAL;\n\tif (addr_len < sizeof(struct sockaddr_in))",
        b"\terr = -EFAULT;\n\tif (addr_len < sizeof(struct sockaddr_in))")


@pytest.fixture(scope="module")
def booted(store_cfg):
    """The socket model's generator of the project's build, booted (its image
    read, or booted and written), and a copy of its tree to edit."""
    from analyzer.model import open_generator

    gen = open_generator(store_cfg)
    gen.booted()
    return gen


def _on(gen, tree: Path, image_dir) -> Generator:
    """A generator like ``gen`` reading the tree at ``tree`` (the same store)."""
    from analyzer.model.facts import Facts

    return Generator(Facts(gen.facts.source, tree), gen.data, gen.kconfig,
                     image_dir=image_dir)


def _edit(tree: Path, rel: str, old: bytes, new: bytes) -> None:
    path = tree / rel
    data = path.read_bytes()
    assert data.count(old) == 1, (rel, old)
    path.write_bytes(data.replace(old, new))


@pytest.mark.kernel
def test_on_the_tree_only_an_edit_of_what_the_boot_read_boots_again(booted, tmp_path):
    import shutil

    from analyzer.model import image, run_with

    tree = tmp_path / "linux"
    shutil.copytree(booted.facts.kernel_dir, tree, symlinks=True)  # mtimes kept
    key = image.image_key(booted)
    path = image.path_for(booted.image_dir, key)
    assert image.image_key(_on(booted, tree, None)) == key
    assert image.stale(path, key, _on(booted, tree, None)) == ""

    # inet_bind: no initcall reaches it; the image stands for a boot of the edited tree
    _edit(tree, "net/ipv4/af_inet.c", *BIND)
    assert image.stale(path, key, _on(booted, tree, None)) == ""
    read, fresh = _on(booted, tree, booted.image_dir), _on(booted, tree, None)
    assert read.booted()[1].image == "read"
    fresh.booted()
    runs = [run_with(g.facts, "socket", ["AF_INET", "SOCK_STREAM", "0"], generator=g).to_json()
            for g in (read, fresh)]
    for r in runs:
        r.pop("seconds")
        r["boot"].pop("seconds")
    assert runs[0] == runs[1]  # the same steps, objects and boot as booting from the C
    assert read.modules() == fresh.modules()  # and the same generated Python

    # a line more in inet_bind moves every later line of the file: boot again
    _edit(tree, "net/ipv4/af_inet.c", BIND[1], b"\t;\n" + BIND[1])
    assert image.stale(path, key, _on(booted, tree, None)) == \
        "net/ipv4/af_inet.c changed where the boot read it"

    # sock_alloc_inode runs at boot (the kernel's own sockets): boot again
    _edit(tree, "net/ipv4/af_inet.c", b"\t;\n" + BIND[1], BIND[0])
    _edit(tree, "net/socket.c", b"\tei->socket.flags = 0;\n", b"\tei->socket.flags = 5;\n")
    assert image.stale(path, key, _on(booted, tree, None)) == \
        "net/socket.c changed where the boot read it"
