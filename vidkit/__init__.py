"""vidkit: video understanding on today's PyTorch.

Streaming decoders (``vidkit.io``) feed time-exact clip samplers (``vidkit.data``) into temporal
models (``vidkit.models``); ``vidkit.engine`` trains and evaluates them.
"""

from vidkit.errors import VideoDecodeError, VidkitError

__version__ = "0.1.0"
__all__ = ["VideoDecodeError", "VidkitError", "__version__"]
