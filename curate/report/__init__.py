"""report stage: ``report.html``, a self-contained page that explains the dataset.

``stage`` (run_report) gathers the sections from ``collect``, draws ``charts``, inlines
``thumbnails`` and renders the Jinja2 template in ``html``.
"""
