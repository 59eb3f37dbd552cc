"""Every model family's config, imported so that it registers (no torch imported here)."""

from aesweep.models.ae import config as _ae  # noqa: F401
from aesweep.models.config import MODEL_CONFIGS, ModelConfig
from aesweep.models.cw2 import config as _cw2  # noqa: F401
from aesweep.models.cwae import config as _cwae  # noqa: F401
from aesweep.models.generator import config as _generator  # noqa: F401
from aesweep.models.moca import config as _moca  # noqa: F401
from aesweep.models.swae import config as _swae  # noqa: F401
from aesweep.models.wae_gan import config as _wae_gan  # noqa: F401
from aesweep.models.wae_mmd import config as _wae_mmd  # noqa: F401

__all__ = ["MODEL_CONFIGS", "ModelConfig"]
