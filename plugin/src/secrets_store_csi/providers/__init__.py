"""Providers of the Secrets Store CSI provider API (`v1alpha1.CSIDriverProvider`): aws, azure, vault.

Each provider is a gRPC server on `<socket-dir>/<name>.sock`. The shared pieces live beside them:
`server.py` (gRPC wiring), `mountspec.py` (what a Mount request carries), `errors.py`, `paths.py`
(file names and modes), `kubereads.py` (the two Kubernetes reads the AWS provider needs, on
`secrets_store_csi.kube`), `httpclient.py`.
"""
