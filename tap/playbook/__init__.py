"""The playbook floor: every adaptation method compared on one pre-trained model (``runs``),
within a time budget (``budget``), on the book's data or a reader's own (``command``, what
``python -m tap playbook`` runs), with the verdict in words (``verdict``) and the command's report
(``report``). It imports only itself and the floors below (``tap.pages`` down to ``tap.core``).
"""
