"""Training subsets: a budget of samples chosen for coverage after redundancy and likely label
errors are set aside (:mod:`curate.select.strategies`: the choice; :mod:`curate.select.plan`: the
choice applied to plan.parquet; :mod:`curate.select.stage`: ``curate select``)."""
