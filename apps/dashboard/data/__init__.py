"""Shaping API answers into what the pages draw: pure functions, no Streamlit, no I/O.

Each module takes the JSON the API publishes for one kind of answer and returns small
dataclasses:

* ``values``: the defensive readers the others build on (lists, numbers, times, details),
  and where a report sits in time (its window's end);
* ``display``: state names, colours and icons, number/age/duration formats, time ranges;
* ``drift``: results over time, per-detector series per feature, the feature × time heatmap
  (reports in the shape of ``driftscope.core.contracts.report.Report.to_dict``);
* ``reports``: one report's summary, the monitor state, a result's reference-against-current
  comparison and sample counts, run labels and the spans of backfilled runs;
* ``performance``: the model's metric over time against its reference and limit, measured or
  estimated (with the estimate's band and the realized value);
* ``multivariate``: drift of the features together over time, and one run's feature ranking;
* ``quality``: the quality detector's decisions and its flags over time;
* ``stats``: a model's traffic (``/v1/models/{model}/stats``);
* ``alerts``: alert states and history (``/v1/alerts``, ``/v1/alerts/events``);
* ``delivery``: the notifiers' outbox and the waiting messages (``/readyz``);
* ``catalog``: the configured monitors and models (``/v1/monitors``, ``/v1/models``).

The functions are defensive: a missing or malformed key gives an empty result, never an
exception, so a page can show an empty state instead of a traceback when the API's answer is
not what it expected.
"""
