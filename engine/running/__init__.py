"""A running assessment: instances and their state, timers, deadlines and the calendar, reminders, messages between
the campaign and its regions, results, sampling, incidents, the scheduler, the script sandbox, campaign guards and
state, and the simulation and dry run of a whole campaign on a virtual clock."""
