"""Streamlit pages, one module per role; ``app_streamlit.py`` wires them with ``st.navigation``.

Pages receive a session factory and the company explicitly: no page reads a global engine
or guesses the tenant.
"""
