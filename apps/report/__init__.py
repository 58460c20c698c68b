"""A monitor run as one self-contained HTML file, shared by ``driftscope report`` and the
API's ``GET /v1/reports/{id}/html`` (which the dashboard's download button fetches).

* ``reading``: defensive readers of the report's JSON;
* ``summaries``: the per-feature summaries (``features``) a report holds;
* ``table``: one row per monitored column with each detector's finding, and performance;
* ``window_findings``: the window detectors' results (estimates, multivariate, quality);
* ``window_sections``: the estimated-performance and multivariate-drift sections;
* ``cells``: the template's cells, headers and chart cards;
* ``facts``: the monitor's and the model's settings from the config;
* ``figures``: the Plotly figures;
* ``formatting``: numbers, shares, bin edges, times;
* ``page``: the HTML (a Jinja2 template, Plotly's JavaScript embedded).

No web framework and no command-line library here: the API and the CLI each call
:func:`render_report_html` and deliver the text their way.
"""

from driftscope.apps.report.facts import Fact, ReportFacts, report_facts
from driftscope.apps.report.page import render_report_html, report_file_name

__all__ = ["Fact", "ReportFacts", "render_report_html", "report_facts", "report_file_name"]
