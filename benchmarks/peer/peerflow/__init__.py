"""The peer benchmark's Django app: Kaohe's region flow as six viewflow 2.4 steps of 30 decimals each."""
