"""The error types vidkit raises. Each carries the file it is about and the reason, in one line."""

from __future__ import annotations

import os


class VidkitError(Exception):
    """Base class of every error vidkit raises on purpose."""


class VideoDecodeError(VidkitError):
    """A video could not be opened or decoded: ``VideoDecodeError: clips/a.mp4: no video stream (audio only)``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable across data-loader workers
        return (type(self), (self.path, self.reason))


class DecodeTimeoutError(VideoDecodeError):
    """Decoding made no progress within the allowed time."""


class ConfigError(VidkitError):
    """A configuration value is missing, unknown or of the wrong type."""


class CheckpointError(VidkitError):
    """A checkpoint could not be read, or does not fit the model: ``CheckpointError: run/best.pt: the
    checkpoint's classifier has 400 classes, the model 10; …``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


class AnnotationError(ConfigError):
    """A line of an annotation file is missing a field or holds a bad value, named by file and line:
    ``AnnotationError: ava_val.csv:12: x2=0.31 is left of x1=0.52``. ``line`` is 1-based (0: the file as a whole)."""

    def __init__(self, path: str | os.PathLike, line: int, reason: str):
        self.path = os.fspath(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}:{line}: {reason}" if line else f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.line, self.reason))
