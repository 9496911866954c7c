"""Convert an official released artifact into our model file (`python -m ssrfnet.bin.import_official`)."""

from __future__ import annotations

import os

from ssrfnet.errors import CheckpointError
from ssrfnet.models.checkpoint import save_model
from ssrfnet.models.official import Recognised, build_recognised, recognise_official


def import_official(sources: list[str | os.PathLike], out: str | os.PathLike, **overrides) -> Recognised:
    """Official artifact(s) -> our model file at `out` (atomic); returns what the source was recognised as.

    `sources`: one model argument (a file, a directory holding the released SSRFNet pair, 'a.pt,b.pt') or
    the two files of the pair. The model file records the source and what it was recognised as.
    """
    if not sources:
        raise CheckpointError("import_official needs at least one source file")
    source = sources[0] if len(sources) == 1 else [os.fspath(s) for s in sources]
    recognised = recognise_official(source)
    model = build_recognised(recognised, **overrides)
    save_model(model, {**recognised.config, **overrides}, out,
               official_source={"files": recognised.where, "recognised": recognised.summary()})
    return recognised
