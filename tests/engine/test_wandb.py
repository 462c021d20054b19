"""--wandb without an account logs offline into the run directory, with the same numbers as the JSONL."""

from vidkit.engine.logging import wandb_mode


def test_wandb_mode_without_an_account(monkeypatch, tmp_path):
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    assert wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"


def test_train_with_wandb_offline(tiny, tmp_path):
    out = tmp_path / "run"
    env = {"HOME": str(tmp_path), "NETRC": str(tmp_path / "none"), "WANDB_API_KEY": None, "WANDB_MODE": None}
    result = tiny.run(tiny.args(out, "--wandb", epochs=1), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "logging offline" in result.stderr
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    [data] = runs[0].glob("run-*.wandb")
    records = data.read_bytes()  # W&B's own record format; the metric names are stored as written
    for key in ("epoch/val_top1", "epoch/train_loss", "step/loss", "step/lr"):
        assert key.encode() in records, key
    assert b"slowfast_r50" in records  # the config went along
