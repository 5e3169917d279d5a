"""A receptor STAND-IN for the tests: no receptor binary can be installed here (the Go module
proxy refuses ``github.com/ansible/receptor``), so this small Python program plays one local
receptor node well enough for the REAL ``receptorctl`` 1.6.9 and AWX's ``ReceptorControl`` flow.

It reproduces, from receptor's sources (v1.4.9 era): the v1 YAML config (``config``), the control
service on a unix socket with its greeting, plain-text and JSON commands, one-line JSON replies
and ``ERROR: …`` lines (``control``), and ``work-command`` units kept in
``<datadir>/<node>/<unit>/{status,stdin,stdout}`` with receptor's states, Detail texts, params
rules, cancel and release (``work``), and ``work-kubernetes`` units run through ``kubectl``
(``kube``, with the log reconnect; no tcp stream method, no in-cluster auth). A node started on a
data dir picks up the units left there, as receptor does: Running ``work-kubernetes`` units resume
streaming from their pod, Pending ones fail (``work`` and ``kube`` say how). It does NOT reproduce
the mesh (peers, listeners, TLS, remote work, signing).

Run it as ``python -m tests.harness.receptor -c FILE`` or through the ``receptor`` wrapper script
next to this file; ``node.py`` starts one for a test (or a real receptor named by
``EE_RECEPTOR``)."""

# The version the stand-in reports: receptorctl warns when the node's Version differs from its own.
VERSION = "1.6.9"
