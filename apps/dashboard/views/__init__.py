"""The dashboard's pages, run by ``st.navigation`` from ``apps/dashboard/app.py``."""
