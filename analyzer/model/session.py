"""The model's generators of one build, shared by the model stage and the site.

``analyze`` makes one :class:`Session`; the model stage runs the examples on
it and the site reads them back, runs its programs and buffer scenarios on it.
Each kind of generator is made once and boots once (from its image, or from
the C when the image is stale), a file is parsed once for all of them (and the
parts outside the analysis indexed once), each function is translated once,
and a scenario's run is made once: after an edit, the site does not boot the kernel
again nor repeat the model stage's runs.  Runs check the booted machine out
and roll it back (:func:`analyzer.model.run_with`), so sharing changes no value.
Nothing is kept on disk but the boot images the generators already write.
"""

from __future__ import annotations

from collections.abc import Callable

from analyzer.config import Config

__all__ = ["Session"]


class Session:
    """Generators made on first use (``socket``: the socket model of
    primitives.toml; ``program``: with skb.toml's socket buffers, for programs
    and buffer scenarios) and the runs of scenarios, by label."""

    def __init__(self, cfg: Config | None = None):
        self.cfg = cfg or Config.default()
        self._made: dict[str, object] = {}
        self._runs: dict[tuple[str, tuple[str, ...]], object] = {}
        self._parses: dict = {}  # the generators' parsed texts (Generator.parsed)
        self._outside = None  # their index of kernel/, mm/, lib/ (model.outside.OutsideIndex)

    def generator(self, kind: str = "socket"):
        """The generator of ``kind``, made on first use."""
        if kind not in self._made:
            gen = self._made[kind] = _MAKERS[kind](self.cfg)
            gen.parses = self._parses  # a file parsed for one is parsed for all
            if self._outside is None:  # and the outside parts are indexed once
                self._outside = gen.outside
            gen.outside = self._outside
        return self._made[kind]

    def prepare_image(self, kind: str) -> bool:
        """Boot the generator of ``kind`` from the C and write its boot image,
        unless the image of this analysis is already there (``analyze`` does it
        in a worker process beside the model stage; the site then reads it).
        Whether it booted."""
        from analyzer.model import image

        gen = self.generator(kind)
        try:
            if gen.image_dir is None:
                return False
            key = image.image_key(gen)
            if not image.stale(image.path_for(gen.image_dir, key), key, gen):
                return False
        except image.ImageError:
            return False
        gen.read_image = False
        gen.booted()  # writes the image (Generator._boot)
        return True

    def finish(self) -> None:
        """Wait for the boot images the generators write in the background."""
        for gen in self._made.values():
            gen.wait_image()

    def run(self, scenario: str, args) -> object:
        """The :class:`~analyzer.model.trace.Run` of ``scenario(args)`` on the
        socket generator, made once; a run that failed fails again with the
        same error, without running again."""
        from analyzer.model import run_with

        key = (scenario, tuple(map(str, args)))
        if key not in self._runs:
            gen = self.generator("socket")
            try:
                self._runs[key] = run_with(gen.facts, scenario, list(args), generator=gen)
            except Exception as e:  # noqa: BLE001 - kept and raised again to each caller
                self._runs[key] = e
        found = self._runs[key]
        if isinstance(found, Exception):
            raise found
        return found


def _socket(cfg: Config):
    from analyzer.model import open_generator

    return open_generator(cfg)


def _program(cfg: Config):
    from analyzer.model.program import program_generator

    return program_generator(cfg)


_MAKERS: dict[str, Callable] = {"socket": _socket, "program": _program}
