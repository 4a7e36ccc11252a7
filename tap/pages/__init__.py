"""What a page shows besides tables: figures (``plots``), diagrams of where each method sits
(``diagrams``), provenance (``provenance``) and the checks of the implement-it exercises
(``exercises``). It imports only itself and the floors below (``tap.training`` down to
``tap.core``).
"""
