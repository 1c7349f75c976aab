"""Where things are: one typed configuration for every stage.

Paths are relative to the project home: ``$ANALYZER_HOME`` if set, else the
current folder (the command line's ``--home`` comes first); in a checkout the
Makefile runs from its root, so the home is the checkout.  The analysed tree is
the fetched one (``kernel-src/linux-4.4.1``) unless ``tree`` names an existing
checkout (the command line's ``--tree``, else ``$KERNEL_TREE``): that tree is
only read, never written.  What
the tool reads and never writes ships inside the package: the manifest of the
sources (``analyzer/kernel/MANIFEST``) and the MkDocs project (``analyzer/site/``).
Nothing is read or created at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["Config", "KERNEL_VERSION", "DEFAULT_URL", "DEFAULT_PARTS", "EXTRA_PARTS",
           "MODEL_PARTS", "FETCH_PARTS"]

KERNEL_VERSION = "4.4.1"
DEFAULT_URL = "https://cdn.kernel.org/pub/linux/kernel/v4.x/linux-4.4.1.tar.xz"
#: the folders of the release that the analysis reads
DEFAULT_PARTS = ("net", "fs", "include")
#: folders the model also reads, not analysed: the functions of kernel/, mm/ and
#: lib/ that the analysed code calls (rb-trees, sysctl helpers, id allocators),
#: and security/ when the tree has it (the offline subset does not: then the
#: model's [standins] give cap_capable)
MODEL_PARTS = ("kernel", "mm", "lib", "security")
#: what a fetch extracts by default
FETCH_PARTS = DEFAULT_PARTS + ("kernel", "mm", "lib")
#: further folders that ``fetch --all`` adds
EXTRA_PARTS = ("arch/x86/include", "kernel", "mm", "lib")

_PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Config:
    home: Path
    #: the SHA-256 of every file that fetch may extract (read-only, in the package)
    manifest: Path = _PACKAGE / "kernel" / "MANIFEST"
    #: the MkDocs project: mkdocs.yml, docs/, tour.yaml (read-only, in the package)
    site_dir: Path = _PACKAGE / "site"
    #: a kernel tree to analyse in place of the fetched one (read, never written)
    tree: Path | None = None

    @classmethod
    def default(cls) -> Config:
        """The home is ``$ANALYZER_HOME`` if set, else the current folder; the
        tree is ``$KERNEL_TREE`` if set, else the fetched one."""
        home = os.environ.get("ANALYZER_HOME") or Path.cwd()
        tree = os.environ.get("KERNEL_TREE") or None
        return cls(Path(home).resolve(), tree=Path(tree).expanduser().resolve() if tree else None)

    def with_home(self, home: Path) -> Config:
        return replace(self, home=Path(home).resolve())

    def with_tree(self, tree: Path | None) -> Config:
        """Analyse ``tree`` (an existing checkout) instead of the fetched tree."""
        return replace(self, tree=Path(tree).expanduser().resolve() if tree else None)

    @property
    def kernel_root(self) -> Path:
        """Where fetched sources go: ``kernel-src/``."""
        return self.home / "kernel-src"

    @property
    def fetched_dir(self) -> Path:
        """Where fetch installs the release: ``kernel-src/linux-4.4.1``."""
        return self.kernel_root / f"linux-{KERNEL_VERSION}"

    @property
    def kernel_dir(self) -> Path:
        """The analysed source tree: :attr:`tree` if given, else :attr:`fetched_dir`."""
        return self.tree if self.tree is not None else self.fetched_dir

    @property
    def build_dir(self) -> Path:
        return self.home / "build"

    @property
    def store_path(self) -> Path:
        return self.build_dir / "analysis.sqlite"

    @property
    def graph_path(self) -> Path:
        return self.build_dir / "graph.sqlite"

    @property
    def model_dir(self) -> Path:
        """Generated Python of the model: ``build/model``."""
        return self.build_dir / "model"

    @property
    def site_src_dir(self) -> Path:
        """The MkDocs project as built: a copy of ``site_dir`` with the generated
        pages, ``build/site-src``."""
        return self.build_dir / "site-src"

    @property
    def site_out_dir(self) -> Path:
        """The built site: ``build/site``."""
        return self.build_dir / "site"

    @property
    def tarball(self) -> str:
        return os.environ.get("KERNEL_TARBALL", "") or DEFAULT_URL
