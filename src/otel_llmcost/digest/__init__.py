"""The daily and weekly digest (``otel-llmcost digest``): one spend summary per closed UTC period, sent once.

``periods`` (which day or ISO week is closed), ``sources`` (the ledger or Prometheus, behind one interface),
``build`` (the numbers: totals, breakdowns, budgets, the anomaly check), ``render`` (plain text, HTML, Slack
Block Kit), ``send`` (SMTP with STARTTLS and login, a Slack incoming webhook) and ``state`` (which periods
went to which destination). Money is Decimal from the source to the text. Nothing here runs on a call path.
"""
