"""An example driftscope plugin package, installed on its own, importing only ``driftscope``.

* :mod:`driftscope_example_plugin.detectors` registers the ``mean-shift`` detector;
* :mod:`driftscope_example_plugin.notifiers` registers the ``jsonl-file`` notifier.
"""

__version__ = "0.1.0"
