"""The index stage: DATA -> ``samples.parquet``, one row per sample, readable or not.

* :mod:`curate.index.stage`      ``run_index`` (format detection, table, fingerprint)
* :mod:`curate.index.folder`     ImageFolder (``DATA/[<split>/]<class>/<img>``)
* :mod:`curate.index.manifest`   CSV / TSV / JSONL / JSON / Parquet tables of paths
* :mod:`curate.index.parquet`    Parquet with image bytes (Hugging Face ``Image`` struct)
* :mod:`curate.index.webdataset` WebDataset ``.tar`` shards (img2dataset's layout)
* :mod:`curate.index.validate`   reading + decoding every sample on a process pool
* :mod:`curate.index.images`     bytes of one sample, decoding to RGB (shared with embed)
"""
