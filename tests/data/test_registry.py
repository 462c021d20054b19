"""The dataset registry: every name ``--data`` accepts in its order with its kind, one-line errors with
a suggestion, duplicate names refused, and ``open_catalog`` reading a format through it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vidkit.data.catalog import DATASETS, DOWNLOADED
from vidkit.data.registry import KINDS, dataset_info, dataset_names, register_dataset
from vidkit.errors import ConfigError

NAMES = {
    "synthetic": "synthetic",
    "kinetics400": "downloaded",
    "kinetics600": "downloaded",
    "kinetics700": "downloaded",
    "kinetics": "downloaded",
    "ssv2": "downloaded",
    "folder": "downloaded",
    "list": "downloaded",
    "ava": "persons",
    "synthetic-actors": "synthetic",
}


def test_names_in_order_with_their_kinds():
    assert dataset_names() == tuple(NAMES) == DATASETS
    assert {name: dataset_info(name).kind for name in dataset_names()} == NAMES
    assert dataset_names("downloaded") == DOWNLOADED == tuple(n for n, k in NAMES.items() if k == "downloaded")
    assert dataset_names("synthetic") == ("synthetic", "synthetic-actors")
    assert dataset_names("persons") == ("ava",)
    assert set(KINDS) == set(NAMES.values())
    for name in dataset_names():
        info = dataset_info(name)
        assert info.name == name
        assert callable(info.open_catalog) == (info.kind == "downloaded")
        assert info.default_views == ("ssv2" if name == "ssv2" else "kinetics")
    with pytest.raises(ValueError, match="kind must be one of"):
        dataset_names("video")


def test_names_complete_in_order_whichever_module_comes_first():
    """A format reader imported first registers before the others; the order --data shows stays."""
    code = (
        "import vidkit.data.lists, vidkit.data.ssv2\n"
        "from vidkit.data.registry import dataset_names\n"
        "print(','.join(dataset_names()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ",".join(NAMES)


@pytest.mark.parametrize(
    "given, suggested", [("kinetcs400", "kinetics400"), ("ssv3", "ssv2"), ("synthetic_actors", "synthetic-actors")]
)
def test_unknown_name_is_one_line_with_a_suggestion(given, suggested):
    with pytest.raises(ConfigError) as caught:
        dataset_info(given)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"unknown dataset {given!r} — did you mean {suggested!r}?")
    assert message.endswith(f"(--data takes {', '.join(NAMES)})")


def test_unknown_name_without_a_close_one_lists_them_all():
    with pytest.raises(ConfigError, match=r"^unknown dataset 'imagenet' \(--data takes synthetic, kinetics400, "):
        dataset_info("imagenet")


def test_a_name_registered_twice_or_wrongly_is_refused():
    ssv2 = dataset_info("ssv2")
    with pytest.raises(ValueError, match="'ssv2' is registered twice"):
        register_dataset("ssv2", kind="downloaded", open_catalog=ssv2.open_catalog)
    with pytest.raises(ValueError, match="'ava' is registered twice"):
        register_dataset("ava", kind="persons")
    assert dataset_info("ssv2") is ssv2 and dataset_names() == tuple(NAMES)
    with pytest.raises(ValueError, match="kind must be one of downloaded, synthetic, persons, not 'video'"):
        register_dataset("toy", kind="video")
    with pytest.raises(ValueError, match="a downloaded dataset, and only one, takes open_catalog"):
        register_dataset("toy", kind="downloaded")
    with pytest.raises(ValueError, match="a downloaded dataset, and only one, takes open_catalog"):
        register_dataset("toy", kind="persons", open_catalog=ssv2.open_catalog)
    assert "toy" not in dataset_names()


_OPEN_TOY = """
from pathlib import Path
import sys

import pytest

from vidkit.data.catalog import DOWNLOADED, Catalog, VideoEntry, open_catalog
from vidkit.data.registry import dataset_names, register_dataset
from vidkit.errors import ConfigError

tmp_path = Path(sys.argv[1])
calls = []

def open_toy(name, *, root, annotations, videos, split):
    calls.append((name, root, annotations, videos, split))
    return Catalog(name, split, ("x",), (VideoEntry("a", None, 0),), annotations, videos or root)

register_dataset("toy", kind="downloaded", open_catalog=open_toy)
assert dataset_names()[-1] == "toy" and dataset_names("downloaded") == (*DOWNLOADED, "toy")
catalog = open_catalog("toy", root=tmp_path, split="validation")
# the opener gets the arguments open_catalog checked: the folder absolute, the split canonical
assert calls == [("toy", str(tmp_path), None, None, "val")]
assert catalog.name == "toy" and catalog.split == "val" and catalog.videos_root == str(tmp_path)
with pytest.raises(ConfigError, match="no such folder"):
    open_catalog("toy", root=tmp_path / "nowhere")
assert len(calls) == 1
with pytest.raises(ConfigError, match=r"^dataset 'ava': choose one of kinetics400, .*, list, toy$"):
    open_catalog("ava", root=tmp_path)  # registered, but not a downloaded format
print("ok")
"""


def test_open_catalog_reads_a_format_through_the_registry(tmp_path):
    # In a fresh interpreter, so the name it registers does not stay for the other tests.
    done = subprocess.run([sys.executable, "-c", _OPEN_TOY, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["ok"], done.stderr[-3000:]
