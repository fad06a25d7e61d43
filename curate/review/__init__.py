"""People in the loop: the decisions a reviewer takes on curate's proposals (in the report, or in
any CSV / JSON Lines file), recorded in the workspace and honoured by propose and export.

* :mod:`curate.review.decisions`: the decisions file, checked against the workspace, and how a
  recorded decision finds its sample again (by content);
* :mod:`curate.review.apply`: ``curate apply``, which records a file and refreshes the plan, the
  manifest and the report;
* :mod:`curate.review.coverage`: how many proposals were reviewed, accepted and overruled.
"""
