"""Where the embed stage runs: this process (``local``, the default) or a Ray cluster (``ray``).

``curate.engine.cluster`` connects to a cluster, ``curate.engine.ray_embed`` runs the embed
stage's decode and encode steps as Ray Data operators, and ``curate.engine.ray_ivf`` runs the
cluster-batched neighbour search as Ray tasks over the embedding shards. Ray is an optional
extra (``pip install 'curate[ray]'``): nothing imports it unless ``--engine ray`` is asked for.
"""

#: what ``--engine`` accepts
ENGINES = ("local", "ray")
