"""Run reports (``vlkge-graph report``, and the sync's last stage): one self-contained HTML page plus PNG
figures per run directory, for people who would rather look at a run than read its JSON.

``data`` reads the run directory, ``figures`` draws one figure per function, ``gallery`` builds the top-5
prediction galleries, ``baseline`` the zero-shot VLM baseline, ``html`` renders, ``build`` ties them together.
"""

from vlkge_graph.report.build import INDEX, Written, write_report

__all__ = ["INDEX", "Written", "write_report"]
