"""The tracking server as this machine reaches it. A cluster's nodes may reach the MLflow
server under another name than the machine that submitted the sweep (the compose cluster's
containers: ``http://mlflow:5000``; the host: ``http://127.0.0.1:5000``): a node sets
``AESWEEP_NODE_TRACKING_URI`` and every ``http(s)`` tracking URI used there becomes that one."""

from __future__ import annotations

import os

NODE_URI_VAR = "AESWEEP_NODE_TRACKING_URI"


def node_uri(uri: str) -> str:
    """``uri``, or this node's own address of the tracking server when ``uri`` names a server
    (``http(s)://``) and :data:`NODE_URI_VAR` is set; local stores are never redirected."""
    here = os.environ.get(NODE_URI_VAR, "").strip()
    if here and uri.startswith(("http://", "https://")):
        return here
    return uri
