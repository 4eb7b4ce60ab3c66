"""SLA monitoring: who owes which message to whom, by when, and who is late.

``chains`` works out what each admitted message opens and meets (stored with it by the ledger),
``store`` reads the obligations, ``monitor`` announces lateness and keeps the Prometheus gauges,
``web`` serves the SLA JSON and the dashboard on the ops port, ``report`` formats ``gateway sla``.
"""
