"""tools/weights_table.py: docs/pretrained.md is what the shipped entries make it, one row per entry."""

from vidkit.models.pretrained import list_weights


def test_the_docs_page_is_current_and_lists_every_entry(load_tool, monkeypatch):
    monkeypatch.delenv("VIDKIT_WEIGHTS_ENTRIES", raising=False)
    tool = load_tool("weights_table")
    assert tool.main(["--check"]) == 0, "run python tools/weights_table.py"
    rows = tool.table().splitlines()[2:]  # below the header and its rule
    assert len(rows) == len(list_weights())
    assert any(row.startswith("| slowfast_r50 | `kinetics400` | kinetics400 (400) | 32 frames every 2") for row in rows)
    assert "put the file at /home/me/.cache/vidkit/weights/dl.fbaipublicfiles.com/" in tool.render()
