"""Shared predictive maintenance service for an industrial cluster.

The flow: ``connectors`` bring readings in, ``ingest`` writes them to ``storage``,
``models`` learn each asset's normal behaviour and score new data, ``alerts`` come out
of sustained high scores, and ``app_streamlit.py`` shows them to each company.
"""

__version__ = "0.1.0"
