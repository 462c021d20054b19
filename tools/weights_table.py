#!/usr/bin/env python
"""Write docs/pretrained.md: every published weights entry vidkit ships (model, the name to give
``--weights``, its source, labels, recipe and published accuracy), and how to use them offline.

    python tools/weights_table.py            # rewrite docs/pretrained.md
    python tools/weights_table.py --check    # exit 1 when docs/pretrained.md is not what it would write

The entries are vidkit/models/weights_data/entries.json (where each value comes from:
vidkit/models/weights_data/SOURCES.md); this script only lays them out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlparse

from vidkit.models.pretrained import list_weights

OUT = Path(__file__).resolve().parents[1] / "docs" / "pretrained.md"

_FILE = "dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/SLOWFAST_8x8_R50.pyth"
OFFLINE = (
    f"vidkit tag: error: cannot download weights https://{_FILE} (offline: VIDKIT_OFFLINE=1): "
    f"put the file at /home/me/.cache/vidkit/weights/{_FILE}"
)

INTRO = """# Pretrained weights by name

Each entry binds a published file to its labels, its input recipe and its published accuracy, as
torchvision's `Weights` do. Give the name to `--weights` with the model, and the rest comes with it:

```
vidkit tag /videos --model slowfast_r50 --weights kinetics400 --out tags.jsonl   # Kinetics-400 labels
vidkit eval --model slowfast_r50 --weights kinetics400 --data kinetics400 --data-root /data/k400
vidkit train --model slowfast_r50 --weights kinetics400 --data kinetics400 --data-root /data/k400
vidkit models --weights              # this table; `vidkit models NAME` shows one model's entries
```

```python
from vidkit.models import build
from vidkit.models.pretrained import get_weights

model = build("slowfast_r50", num_classes=400, weights="kinetics400")
entry = get_weights("slowfast_r50", "kinetics400")  # .classes(), .recipe, .accuracy, .urls
```

A path to a checkpoint file works wherever a name does. Files are downloaded once, into
`$VIDKIT_CACHE/weights/<host>/<path of the URL>` (`~/.cache/vidkit/weights/...` by default), to a
`.part` file renamed only when complete and verified (the SHA-256 where the publisher gives one, or the
hash prefix in torchvision's and mmaction2's file names, as `torch.hub` checks it); a cut connection is
resumed with an HTTP Range request on the next run; a file that fails its hash is deleted and said so.

**Offline.** With no network, or `VIDKIT_OFFLINE=1`, a missing file is one line naming its URL and the
exact path to put it at by hand:

```
{offline}
```

**Mirrors.** `VIDKIT_WEIGHTS_MIRROR=https://mirror.example/base` replaces the scheme and host of every
URL and keeps its path (`https://mirror.example/base/pytorchvideo/model_zoo/kinetics/SLOWFAST_8x8_R50.pyth`),
for sites without internet. **Your own entries.** `VIDKIT_WEIGHTS_ENTRIES=/path/entries.json` adds
entries of the same form as vidkit's (`"labels"` may be a text file of class names, or the list).

The recipe is how the publisher tested: frames per clip and their spacing ("every 8 at 30 fps" is
PySlowFast's sampling rate; "one per segment" spreads the frames over the whole video, as TSN and TSM
test), the short side frames are scaled to, the crop, and the test views (clips x crops). Accuracy is
top-1 as published, on the dataset and with the views named, from the source linked. Layouts marked
"not read yet" (PySlowFast's Caffe2 `.pkl` files) are listed for completeness and cannot be used yet.
"""


def table() -> str:
    rows = [
        "| model | `--weights` | labels | recipe | published top-1 (top-5) | layout | source |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in list_weights():
        a = e.accuracy
        top5 = f" ({a['top5']:.2f})" if a.get("top5") else ""
        accuracy = f"{a['top1']:.2f}{top5}, {a.get('dataset', '?')}, {a.get('views', '?')} views"
        layout = e.layout if e.loadable else f"{e.layout} (not read yet)"
        host = urlparse(e.source or e.urls[0]).hostname or "?"
        rows.append(
            f"| {e.model or '(no vidkit model yet)'} | `{e.name}` | {e.label_set} ({e.num_classes}) | "
            f"{e.recipe.describe()} | {accuracy} | {layout} | [{host}]({e.source or e.urls[0]}) |"
        )
    return "\n".join(rows) + "\n"


def render() -> str:
    return INTRO.format(offline=OFFLINE) + "\n## The entries\n\n" + table()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that docs/pretrained.md is current")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run python tools/weights_table.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(list_weights())} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
