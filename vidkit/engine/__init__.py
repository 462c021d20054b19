"""Training and evaluation: the loops (``loop``), the epoch driver with checkpoints and resume
(``trainer``), ``torchrun``/DDP set-up (``distributed``), optimiser and schedule (``optim``),
typed configs (``config``), JSONL/W&B logging (``logging``) and training curves (``plots``)."""
