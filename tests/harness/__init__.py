"""What the tests run against, kept out of the shipped ``builder`` package: a Windows target
(``windows/``), a local Kubernetes with a TLS registry (``cluster/``), the one CA both use
(``pki.py``) and the settings the tests publish with (``settings.py``)."""
